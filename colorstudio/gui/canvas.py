"""The canvas: the photo, its colorized preview, the hints, zoom and pan.

The canvas only paints and dispatches: mouse events go to the active tool (see
``tools.py``), geometry is in ``geometry.py``, and edits go through the Editor. It never
computes pixels: the preview arrives as an array from the compute thread.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..core.color import color_to_hex
from .geometry import View, actual_size_view, fit_view, near_divider
from .tools import TOOLS, Tool, ToolEvent

VIEWS = ("result", "original", "split")
DISPLAY_MAX_SIDE = 4096


def array_to_qimage(arr: np.ndarray) -> QImage:
    """A QImage that owns a copy of an (h, w) or (h, w, 3) uint8 array."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {arr.dtype}")
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_Grayscale8)
    else:
        img = QImage(arr.data, w, h, arr.strides[0], QImage.Format.Format_RGB888)
    return img.copy()


def reach_to_qimage(reach: np.ndarray) -> QImage:
    """The reach overlay: where a hint's colour arrives, tinted; where it does not, dimmed."""
    r = np.clip(np.nan_to_num(np.asarray(reach, np.float32)), 0.0, 1.0)
    h, w = r.shape
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., 0] = 0
    rgba[..., 1] = np.round(200 * r).astype(np.uint8)
    rgba[..., 2] = np.round(255 * r).astype(np.uint8)
    rgba[..., 3] = np.round(150 * r + 110 * (1 - r)).astype(np.uint8)
    rgba = np.ascontiguousarray(rgba)
    img = QImage(rgba.data, w, h, rgba.strides[0], QImage.Format.Format_RGBA8888)
    return img.copy()


class Canvas(QWidget):
    view_changed = Signal()
    result_painted = Signal()         # a newly arrived preview has reached the screen
    tool_changed = Signal(str)
    view_mode_changed = Signal(str)

    def __init__(self, editor, parent=None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self.editor = editor
        self._photo_size = (0, 0)
        self._gray: Optional[QPixmap] = None
        self._result: Optional[QPixmap] = None
        self._result_rgb: Optional[np.ndarray] = None
        self._detail: Optional[tuple] = None     # (rect, QPixmap): the export's pixels, zoomed in
        self._gray_arr: Optional[np.ndarray] = None
        self.view = View()
        self._fitted = True
        self._mode = "result"
        self._split = 0.5
        self._show_hints = True
        self._tools: dict[str, Tool] = {cls.name: cls(self, editor) for cls in TOOLS}
        self._tool = self._tools["point"]
        self._space = False
        self._pan_from: Optional[QPointF] = None
        self._dragging_divider = False
        self._tool_busy = False
        self._new_result = False
        self._overlay: Optional[QPixmap] = None
        self._overlay_arr: Optional[np.ndarray] = None
        self._before_eyedropper: Optional[str] = None
        self._alt_from: Optional[str] = None
        self.paint_count = 0
        editor.document_changed.connect(self._repaint)
        editor.selection_changed.connect(self._repaint)

    def _repaint(self, *_args) -> None:
        self.update()

    # -- content ---------------------------------------------------------------------------
    @property
    def has_photo(self) -> bool:
        return self._gray is not None

    @property
    def photo_size(self) -> tuple[int, int]:
        return self._photo_size

    def set_photo(self, gray: np.ndarray, width: int, height: int) -> None:
        """Show a new photo (its display grey, any size with the photo's aspect) and fit it."""
        self._tool.cancel()
        self._gray_arr = gray
        self._gray = QPixmap.fromImage(array_to_qimage(gray))
        self._photo_size = (int(width), int(height))
        self._result = None
        self._result_rgb = None
        self._detail = None
        self.set_overlay(None)
        self.fit()

    def visible_photo_rect(self) -> Optional[tuple]:
        """(x0, y0, x1, y1): the part of the photo the widget shows, in whole photo pixels."""
        if self._gray is None:
            return None
        w, h = self._photo_size
        x0, y0 = self.view.to_photo(0, 0)
        x1, y1 = self.view.to_photo(self.width(), self.height())
        r = (max(0, int(np.floor(x0))), max(0, int(np.floor(y0))), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1))))
        return r if r[2] > r[0] and r[3] > r[1] else None

    def set_detail(self, rect: Optional[tuple], rgb: Optional[np.ndarray] = None) -> None:
        """Full-resolution pixels of the export for ``rect`` (photo pixels), drawn over the
        preview while zoomed in; None clears them."""
        if rect is None or rgb is None:
            self._detail = None
        else:
            self._detail = (tuple(rect), QPixmap.fromImage(array_to_qimage(np.ascontiguousarray(rgb))))
        self.update()

    @property
    def detail_rect(self) -> Optional[tuple]:
        return self._detail[0] if self._detail is not None else None

    def set_result(self, rgb: Optional[np.ndarray]) -> None:
        """Show a preview (an (h, w, 3) uint8 array of the whole photo), or None for the photo itself."""
        self._result_rgb = rgb
        self._result = None if rgb is None else QPixmap.fromImage(array_to_qimage(rgb))
        self._new_result = True
        self.update()

    def set_overlay(self, reach: Optional[np.ndarray]) -> None:
        """Show a reach overlay ((h, w) values in [0, 1] over the whole photo), or none."""
        self._overlay_arr = reach
        self._overlay = None if reach is None else QPixmap.fromImage(reach_to_qimage(reach))
        self.update()

    @property
    def overlay_array(self) -> Optional[np.ndarray]:
        return self._overlay_arr

    @property
    def result_array(self) -> Optional[np.ndarray]:
        return self._result_rgb

    def displayed_color(self, x: float, y: float) -> Optional[tuple[int, int, int]]:
        """The colour the result view shows at photo point (x, y) (from the preview array)."""
        if not self.has_photo:
            return None
        w, h = self._photo_size
        arr = self._result_rgb if self._result_rgb is not None else self._gray_arr
        if arr is None:
            return None
        ah, aw = arr.shape[:2]
        xi = min(max(int(x * aw / w), 0), aw - 1)
        yi = min(max(int(y * ah / h), 0), ah - 1)
        v = arr[yi, xi]
        if np.ndim(v) == 0:
            return (int(v),) * 3
        return tuple(int(c) for c in v[:3])  # type: ignore[return-value]

    def sample_color(self, x: float, y: float) -> Optional[str]:
        if not self.editor.inside(x, y):
            return None
        rgb = self.displayed_color(x, y)
        return None if rgb is None else color_to_hex(rgb)

    # -- view ------------------------------------------------------------------------------
    @property
    def view_mode(self) -> str:
        return self._mode

    def set_view_mode(self, mode: str) -> None:
        if mode not in VIEWS:
            raise ValueError(f"unknown view {mode!r}")
        if mode != self._mode:
            self._mode = mode
            self.view_mode_changed.emit(mode)
            self.update()

    @property
    def show_hints(self) -> bool:
        return self._show_hints

    def set_show_hints(self, show: bool) -> None:
        self._show_hints = bool(show)
        self.update()

    @property
    def split(self) -> float:
        return self._split

    def set_split(self, fraction: float) -> None:
        self._split = min(max(float(fraction), 0.0), 1.0)
        self.update()

    def divider_x(self) -> float:
        """The divider's widget x in the split view."""
        return self.view.to_widget(self._split * self._photo_size[0], 0)[0]

    def _set_view(self, view: View, fitted: bool = False) -> None:
        self.view = view
        self._fitted = fitted
        self.view_changed.emit()
        self.update()

    def fit(self) -> None:
        self._set_view(fit_view(*self._photo_size, self.width(), self.height()), fitted=True)

    def actual_size(self) -> None:
        self._set_view(actual_size_view(self.view, *self._photo_size, self.width(), self.height()))

    def zoom_by(self, factor: float, at: Optional[QPointF] = None) -> None:
        at = at if at is not None else QPointF(self.width() / 2, self.height() / 2)
        self._set_view(self.view.zoomed_at(factor, at.x(), at.y()))

    def photo_to_widget(self, x: float, y: float) -> QPointF:
        return QPointF(*self.view.to_widget(x, y))

    def widget_to_photo(self, p: QPointF) -> tuple[float, float]:
        return self.view.to_photo(p.x(), p.y())

    def tolerance(self) -> float:
        """Six screen pixels in photo pixels: how close the pointer must be to grab a hint."""
        return 6.0 / max(self.view.scale, 1e-6)

    # -- tools -----------------------------------------------------------------------------
    @property
    def tool(self) -> Tool:
        return self._tool

    def tools(self) -> dict[str, Tool]:
        return dict(self._tools)

    def set_tool(self, name: str) -> None:
        if name not in self._tools:
            raise ValueError(f"unknown tool {name!r}")
        if self._tools[name] is self._tool:
            return
        if name == "eyedropper":
            self._before_eyedropper = self._tool.name
        self._tool.cancel()
        self._tool.leave()
        self._tool = self._tools[name]
        self.setCursor(self._tool.cursor)
        self.tool_changed.emit(name)
        self.update()

    def eyedropper_done(self) -> None:
        """The eyedropper took a colour: back to the tool it was taken up from, unless Alt
        still holds it (it goes back when Alt is released)."""
        if self._alt_from is None and self._tool.name == "eyedropper" and self._before_eyedropper:
            self.set_tool(self._before_eyedropper)

    # -- painting --------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window().color().darker(115))
        if self._gray is None:
            p.end()
            return
        w, h = self._photo_size
        target = QRectF(*self.view.to_widget(0, 0), w * self.view.scale, h * self.view.scale)
        # Smooth scaling looks better; skip it during a drag so frames stay cheap.
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not self.editor.interacting)
        result = self._result if self._result is not None else self._gray
        if self._mode == "original":
            p.drawPixmap(target, self._gray, QRectF(self._gray.rect()))
        elif self._mode == "result":
            p.drawPixmap(target, result, QRectF(result.rect()))
            self._paint_detail(p)
        else:
            dx = self.divider_x()
            p.drawPixmap(target, result, QRectF(result.rect()))
            self._paint_detail(p)
            p.save()
            p.setClipRect(QRectF(0, 0, max(dx, 0), self.height()))
            p.drawPixmap(target, self._gray, QRectF(self._gray.rect()))
            p.restore()
            self._paint_divider(p, dx, target)
        if self._overlay is not None and self._mode != "original":
            p.drawPixmap(target, self._overlay, QRectF(self._overlay.rect()))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        if self._show_hints:
            self._paint_hints(p)
        self._tool.paint(p)
        p.end()
        self.paint_count += 1
        if self._new_result and self._mode != "original":
            self._new_result = False
            self.result_painted.emit()

    def _paint_detail(self, p: QPainter) -> None:
        if self._detail is None or self._result is None or self.view.scale < 1.0:
            return
        (x0, y0, x1, y1), pm = self._detail
        wx, wy = self.view.to_widget(x0, y0)
        s = self.view.scale
        p.save()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)   # pixels, as written
        p.drawPixmap(QRectF(wx, wy, (x1 - x0) * s, (y1 - y0) * s), pm, QRectF(pm.rect()))
        p.restore()

    def _paint_divider(self, p: QPainter, dx: float, target: QRectF) -> None:
        top, bottom = max(target.top(), 0), min(target.bottom(), self.height())
        p.setPen(QPen(QColor(0, 0, 0, 150), 3))
        p.drawLine(QPointF(dx, top), QPointF(dx, bottom))
        p.setPen(QPen(QColor(255, 255, 255, 230), 1))
        p.drawLine(QPointF(dx, top), QPointF(dx, bottom))
        mid = (top + bottom) / 2
        p.setBrush(QColor(255, 255, 255, 220))
        p.setPen(QPen(QColor(0, 0, 0, 160), 1))
        p.drawRoundedRect(QRectF(dx - 6, mid - 18, 12, 36), 4, 4)
        p.setPen(QColor(255, 255, 255))
        for text, x, align in (("Before", dx - 8, Qt.AlignmentFlag.AlignRight),
                               ("After", dx + 8, Qt.AlignmentFlag.AlignLeft)):
            rect = QRectF(x - 80 if align == Qt.AlignmentFlag.AlignRight else x, top + 6, 80, 20)
            p.fillRect(p.boundingRect(rect, align, text).adjusted(-4, -1, 4, 1), QColor(0, 0, 0, 120))
            p.drawText(rect, align, text)

    def _paint_hints(self, p: QPainter) -> None:
        hints = self.editor.hints
        sel = self.editor.selection
        s = self.view.scale
        for j, st in enumerate(hints.strokes):
            path = QPainterPath()
            pts = [self.photo_to_widget(x, y) for x, y in st.points]
            path.moveTo(pts[0])
            for q in pts[1:]:
                path.lineTo(q)
            width = max(st.width * s, 2.0)
            selected = sel == ("stroke", j)
            if len(pts) == 1:
                path.lineTo(pts[0] + QPointF(0.01, 0))
            if st.protect:
                self._paint_protect(p, path, width, selected)
                continue
            outline = QPen(QColor(255, 255, 255, 230) if selected else QColor(0, 0, 0, 150), width + (4 if selected else 2),
                           Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
            p.strokePath(path, outline)
            c = QColor(st.color)
            c.setAlpha(200)
            p.strokePath(path, QPen(c, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        for i, pt in enumerate(hints.points):
            c = self.photo_to_widget(pt.x, pt.y)
            r = max(pt.radius * s, 5.0)
            p.setPen(QPen(QColor(0, 0, 0, 200), 1.5))
            p.setBrush(QColor(pt.color))
            p.drawEllipse(c, r, r)
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(255, 255, 255, 230), 1.5))
            p.drawEllipse(c, r + 1.5, r + 1.5)
            if sel == ("point", i):
                p.setPen(QPen(self.palette().highlight().color(), 2, Qt.PenStyle.DashLine))
                p.drawEllipse(c, r + 5, r + 5)

    def _paint_protect(self, p: QPainter, path: QPainterPath, width: float, selected: bool) -> None:
        """A protect stroke: pale, hatched in red, so it never reads as a colour."""
        cap, join = Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin
        edge = QColor(255, 255, 255, 230) if selected else QColor(120, 0, 0, 170)
        p.strokePath(path, QPen(edge, width + (4 if selected else 2), Qt.PenStyle.SolidLine, cap, join))
        p.strokePath(path, QPen(QColor(235, 235, 235, 150), width, Qt.PenStyle.SolidLine, cap, join))
        p.strokePath(path, QPen(QBrush(QColor(200, 30, 30, 200), Qt.BrushStyle.BDiagPattern), width,
                                Qt.PenStyle.SolidLine, cap, join))

    # -- events ----------------------------------------------------------------------------
    def _tool_event(self, e, button: str = "") -> ToolEvent:
        pos = e.position()
        x, y = self.widget_to_photo(pos)
        return ToolEvent(x, y, pos.x(), pos.y(), button,
                         bool(e.modifiers() & Qt.KeyboardModifier.ShiftModifier))

    def mousePressEvent(self, e) -> None:
        self.setFocus(Qt.FocusReason.MouseFocusReason)
        if not self.has_photo:
            return
        btn = e.button()
        if btn == Qt.MouseButton.MiddleButton or (btn == Qt.MouseButton.LeftButton and self._space):
            self._pan_from = e.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        if (btn == Qt.MouseButton.LeftButton and self._mode == "split"
                and near_divider(e.position().x(), self.divider_x())):
            self._dragging_divider = True
            return
        name = {Qt.MouseButton.LeftButton: "left", Qt.MouseButton.RightButton: "right"}.get(btn)
        if name:
            self._tool_busy = name == "left"
            self._tool.press(self._tool_event(e, name))
            self.update()

    def mouseMoveEvent(self, e) -> None:
        if self._pan_from is not None:
            d = e.position() - self._pan_from
            self._pan_from = e.position()
            self._set_view(self.view.panned(d.x(), d.y()))
            return
        if self._dragging_divider:
            w = self._photo_size[0]
            if w:
                self.set_split(self.view.to_photo(e.position().x(), 0)[0] / w)
            return
        if not self.has_photo:
            return
        if self._mode == "split" and not self._tool_busy and near_divider(e.position().x(), self.divider_x()):
            self.setCursor(Qt.CursorShape.SplitHCursor)
        elif not self._space:
            self.setCursor(self._tool.cursor)
        self._tool.move(self._tool_event(e))

    def mouseReleaseEvent(self, e) -> None:
        if self._pan_from is not None and e.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self._space else self._tool.cursor)
            return
        if self._dragging_divider:
            self._dragging_divider = False
            return
        if self.has_photo and e.button() == Qt.MouseButton.LeftButton:
            self._tool_busy = False
            self._tool.release(self._tool_event(e, "left"))
            self.update()

    def wheelEvent(self, e) -> None:
        if not self.has_photo:
            return
        delta = e.angleDelta().y() or e.pixelDelta().y()
        if delta:
            self.zoom_by(1.0015 ** delta, e.position())
        e.accept()

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = True
            self.setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if e.key() == Qt.Key.Key_Escape and self.editor.selection is not None:
            self.editor.select(None)
            return
        if (e.key() == Qt.Key.Key_Alt and not e.isAutoRepeat() and self.has_photo
                and self._tool.name != "eyedropper" and not self._tool_busy):
            # Hold Alt: a moment's eyedropper, as in Photoshop and Krita.
            self._alt_from = self._tool.name
            self.set_tool("eyedropper")
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Space and not e.isAutoRepeat():
            self._space = False
            self._pan_from = None
            self.setCursor(self._tool.cursor)
            return
        if e.key() == Qt.Key.Key_Alt and not e.isAutoRepeat() and self._alt_from is not None:
            self._end_alt()
            return
        super().keyReleaseEvent(e)

    def _end_alt(self) -> None:
        back, self._alt_from = self._alt_from, None
        if back and self._tool.name == "eyedropper":
            self.set_tool(back)

    def leaveEvent(self, e) -> None:
        self._tool.leave()
        self.update()
        super().leaveEvent(e)

    def focusOutEvent(self, e) -> None:
        self._space = False
        if self._alt_from is not None:
            self._end_alt()
        super().focusOutEvent(e)

    def resizeEvent(self, e) -> None:
        if self._fitted and self.has_photo:
            self.view = fit_view(*self._photo_size, self.width(), self.height())
            self.view_changed.emit()
        super().resizeEvent(e)
