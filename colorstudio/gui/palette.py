"""The colour palette: ab gamut picker, hex field, colour dialog, recent, suggested and swatch colours.

Only a hint's chroma is used; its lightness comes from the photo. So every colour here is
shown at the lightness of the selected hint's pixel: the gamut picker draws the a*b* plane
at that L* (colours that cannot exist there are hatched and cannot be picked), and the
swatch sets are shown as they will actually look on that pixel.
"""
from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Optional

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QRegularExpressionValidator
from PySide6.QtCore import QRegularExpression
from PySide6.QtWidgets import (QAbstractButton, QColorDialog, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from ..core.color import color_to_hex, hex_to_ab, in_gamut, lab_to_rgb, parse_color
from ..core.swatches import SWATCH_SETS, adjusted
from .icons import icon

AB_RANGE = 110.0
MAX_RECENT = 10
DEFAULT_LIGHTNESS = 50.0


@lru_cache(maxsize=32)
def gamut_plane(lightness: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The a*b* plane at ``lightness`` as (size, size, 3) uint8 RGB and an in-gamut mask.

    a* grows to the right and b* upwards, both over [-AB_RANGE, AB_RANGE]. Impossible
    colours are drawn as a grey hatch so they read as "not available here".
    """
    t = (np.arange(size, dtype=np.float32) + 0.5) / size * 2 * AB_RANGE - AB_RANGE
    a, b = np.meshgrid(t, -t)
    lab = np.stack([np.full_like(a, lightness), a, b], axis=-1)
    ok = in_gamut(lab)
    rgb = (lab_to_rgb(lab) * 255 + 0.5).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size]
    hatch = np.where(((xx + yy) // 4) % 2 == 0, 92, 112).astype(np.uint8)
    rgb[~ok] = hatch[~ok][:, None]
    return rgb, ok


@lru_cache(maxsize=128)
def _adjusted_sets(lightness: int) -> tuple:
    """Every swatch set at an integer lightness (cached: a dragged hint revisits the same few)."""
    return tuple(tuple(adjusted(s, float(lightness))) for s in SWATCH_SETS)


def ab_of(color: str) -> tuple[float, float]:
    return hex_to_ab(color)


def lab_hex(lightness: float, a: float, b: float) -> str:
    rgb = lab_to_rgb(np.array([[lightness, a, b]], np.float32))[0]
    return color_to_hex(rgb * 255)


class GamutPicker(QWidget):
    """Pick a colour's chroma on the a*b* plane at a given lightness."""

    color_picked = Signal(str, object)    # "#rrggbb", a merge token shared by one drag
    picking_finished = Signal(str)        # the colour when the mouse is released
    impossible = Signal(str)              # a sentence: that colour cannot exist here

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("gamutPicker")
        self.setFixedSize(220, 220)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Chroma at the selected hint's lightness: a* runs green to red (left to right), "
                        "b* blue to yellow (bottom to top). Hatched colours cannot exist at this lightness.")
        self._lightness = DEFAULT_LIGHTNESS
        self._ab = (0.0, 0.0)
        self._tokens = itertools.count(1)
        self._token: Optional[int] = None
        self._last: Optional[str] = None

    def sizeHint(self) -> QSize:
        return QSize(220, 220)

    @property
    def lightness(self) -> float:
        return self._lightness

    def set_lightness(self, lightness: float) -> None:
        self._lightness = float(min(max(lightness, 0.0), 100.0))
        self.update()

    def set_color(self, color: str) -> None:
        self._ab = ab_of(color)
        self.update()

    def _side(self) -> int:
        return max(min(self.width(), self.height()), 1)

    def _square(self) -> QRectF:
        s = self._side()
        return QRectF((self.width() - s) / 2, (self.height() - s) / 2, s, s)

    def ab_at(self, pos: QPointF) -> tuple[float, float]:
        r = self._square()
        a = ((pos.x() - r.left()) / r.width()) * 2 * AB_RANGE - AB_RANGE
        b = AB_RANGE - ((pos.y() - r.top()) / r.height()) * 2 * AB_RANGE
        return a, b

    def pos_of(self, a: float, b: float) -> QPointF:
        r = self._square()
        return QPointF(r.left() + (a + AB_RANGE) / (2 * AB_RANGE) * r.width(),
                       r.top() + (AB_RANGE - b) / (2 * AB_RANGE) * r.height())

    def possible(self, a: float, b: float) -> bool:
        return bool(in_gamut(np.array([[self._lightness, a, b]], np.float32))[0])

    def paintEvent(self, event) -> None:
        side = self._side()
        # Render at a modest resolution and let Qt scale: this is a small swatch, not a photo.
        res = min(side, 160)
        rgb, _ = gamut_plane(float(round(self._lightness)), res)
        img = QImage(rgb.data, res, res, rgb.strides[0], QImage.Format.Format_RGB888)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        r = self._square()
        p.drawImage(r, img)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(255, 255, 255, 90), 1))
        c = self.pos_of(0, 0)
        p.drawLine(QPointF(r.left(), c.y()), QPointF(r.right(), c.y()))
        p.drawLine(QPointF(c.x(), r.top()), QPointF(c.x(), r.bottom()))
        m = self.pos_of(*self._ab)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.setPen(QPen(QColor(0, 0, 0), 3))
        p.drawEllipse(m, 6, 6)
        p.setPen(QPen(QColor(255, 255, 255), 1.5))
        p.drawEllipse(m, 6, 6)
        p.setPen(QColor(255, 255, 255))
        p.drawText(r.adjusted(4, 2, -4, -2), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                   f"L* {self._lightness:.0f}")
        p.end()

    def _pick(self, pos: QPointF) -> None:
        a, b = self.ab_at(pos)
        if not self.possible(a, b):
            self.impossible.emit(f"that colour cannot exist at lightness L* {self._lightness:.0f}; "
                                 "pick inside the coloured area")
            return
        self._ab = (a, b)
        color = lab_hex(self._lightness, a, b)
        self._last = color
        self.update()
        self.color_picked.emit(color, self._token)

    def mousePressEvent(self, e) -> None:
        if e.button() == Qt.MouseButton.LeftButton:
            self._token = next(self._tokens)
            self._last = None
            self._pick(e.position())

    def mouseMoveEvent(self, e) -> None:
        if self._token is not None and e.buttons() & Qt.MouseButton.LeftButton:
            self._pick(e.position())

    def mouseReleaseEvent(self, e) -> None:
        if self._token is not None and self._last is not None:
            self.picking_finished.emit(self._last)
        self._token = None


class SwatchButton(QAbstractButton):
    """A small coloured square; a corner mark says the colour was adjusted to fit."""

    def __init__(self, color: str, tip: str = "", clipped: bool = False, parent=None):
        super().__init__(parent)
        self.color = color
        self.clipped = clipped
        self.setToolTip(tip or color)
        self.setFixedSize(22, 22)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAccessibleName(tip or color)

    def sizeHint(self) -> QSize:
        return QSize(22, 22)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        r = QRectF(self.rect()).adjusted(1.5, 1.5, -1.5, -1.5)
        p.setBrush(QColor(self.color))
        hovered = self.underMouse()
        p.setPen(QPen(self.palette().highlight().color() if hovered or self.isChecked()
                      else self.palette().mid().color(), 2 if hovered or self.isChecked() else 1))
        p.drawRoundedRect(r, 3, 3)
        if self.clipped:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(255, 255, 255, 200))
            p.drawPolygon([QPointF(r.right() - 7, r.top()), QPointF(r.right(), r.top()),
                           QPointF(r.right(), r.top() + 7)])
        p.end()


def _clear(layout) -> None:
    while layout.count():
        item = layout.takeAt(0)
        w = item.widget()
        if w is not None:
            w.deleteLater()


class Palette(QWidget):
    """Everything about the current colour. Emits ``color_chosen``; never edits a document itself."""

    color_chosen = Signal(str, object)   # "#rrggbb", merge token (None for a one-off choice)
    recent_changed = Signal(list)
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("palette")
        self._color = "#c86432"
        self._lightness: Optional[float] = None
        self._recent: list[str] = []
        self._swatch_buttons: list[SwatchButton] = []
        self._swatch_lightness: Optional[int] = None

        self.current = QToolButton(self)
        self.current.setObjectName("currentColor")
        self.current.setFixedSize(40, 28)
        self.current.setToolTip("The current colour; click for the standard colour dialog")
        self.current.clicked.connect(self._open_dialog)

        self.hex_field = QLineEdit(self)
        self.hex_field.setObjectName("hexField")
        self.hex_field.setMaxLength(7)
        self.hex_field.setPlaceholderText("#rrggbb")
        self.hex_field.setToolTip("Type a colour as #rrggbb and press Enter")
        self.hex_field.setValidator(QRegularExpressionValidator(QRegularExpression(r"#?[0-9a-fA-F]{0,6}"), self))
        self.hex_field.editingFinished.connect(self._hex_entered)

        self.dialog_button = QToolButton(self)
        self.dialog_button.setIcon(icon("mdi6.palette"))
        self.dialog_button.setToolTip("Choose a colour in the standard colour dialog")
        self.dialog_button.clicked.connect(self._open_dialog)

        self.lightness_label = QLabel(self)
        self.lightness_label.setObjectName("lightnessLabel")
        self.lightness_label.setWordWrap(True)
        # Two lines whatever it says, so the palette below never jumps after a click.
        self.lightness_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.lightness_label.setFixedHeight(2 * self.lightness_label.fontMetrics().lineSpacing() + 4)

        self.picker = GamutPicker(self)
        self.picker.color_picked.connect(self._picked)
        self.picker.picking_finished.connect(self._add_recent)
        self.picker.impossible.connect(self.message)

        top = QHBoxLayout()
        top.addWidget(self.current)
        top.addWidget(self.hex_field, 1)
        top.addWidget(self.dialog_button)

        # The Recent row keeps its height from the start, empty or not, so nothing below it
        # moves under the pointer when the first colour is chosen.
        self.recent_box = QWidget(self)
        self.recent_box.setObjectName("recentColors")
        self.recent_row = QHBoxLayout(self.recent_box)
        self.recent_row.setContentsMargins(0, 0, 0, 0)
        self.recent_row.setSpacing(2)
        self.recent_box.setFixedHeight(SwatchButton("#000000").sizeHint().height())
        self.suggest_label = _small_title("Suggested by the engine", self)
        self.suggest_row = QHBoxLayout()
        self.suggest_row.setSpacing(2)
        self.swatch_grid = QGridLayout()
        self.swatch_grid.setHorizontalSpacing(2)
        self.swatch_grid.setVerticalSpacing(2)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(section_title("Colour", self))
        lay.addLayout(top)
        lay.addWidget(self.lightness_label)
        lay.addWidget(self.picker, 0, Qt.AlignmentFlag.AlignHCenter)
        self.recent_label = _small_title("Recent", self)
        lay.addWidget(self.recent_label)
        lay.addWidget(self.recent_box)
        lay.addWidget(_small_title("Swatches at this lightness", self))
        lay.addLayout(self.swatch_grid)
        # Below the swatches: suggestions come and go with the selection, and must not move them.
        lay.addWidget(self.suggest_label)
        lay.addLayout(self.suggest_row)
        self.set_suggestions([])
        self.set_recent_colors([])
        self.set_lightness(None)
        self.set_color(self._color)

    # -- state from outside ----------------------------------------------------------------
    @property
    def color(self) -> str:
        return self._color

    def set_color(self, color: str) -> None:
        """Show ``color`` as current (the selected hint's colour or the next hint's)."""
        self._color = color
        self.current.setStyleSheet(f"QToolButton {{ background: {color}; border: 1px solid palette(mid);"
                                   f" border-radius: 3px; }}")
        if self.hex_field.text().lower() != color.lower() and not self.hex_field.hasFocus():
            self.hex_field.setText(color)
        self.picker.set_color(color)

    def set_lightness(self, lightness: Optional[float]) -> None:
        """The L* of the pixel the colour will land on (None: nothing selected yet)."""
        self._lightness = lightness
        L = DEFAULT_LIGHTNESS if lightness is None else lightness
        self.picker.set_lightness(L)
        self.lightness_label.setText(f"Colours as they look at L* {L:.0f}, the lightness under the point"
                                     if lightness is not None else
                                     f"Colours shown at L* {L:.0f}; click the photo to see them where they land")
        self._fill_swatches(L)

    def set_suggestions(self, colors) -> None:
        """Engine suggestions: ((r, g, b), weight) pairs; the row hides when there are none."""
        _clear(self.suggest_row)
        for rgb, weight in colors:
            hexc = color_to_hex(rgb)
            b = SwatchButton(hexc, f"{hexc} (suggested, weight {float(weight):.2f})", parent=self)
            b.clicked.connect(lambda _=False, c=hexc: self._choose(c))
            self.suggest_row.addWidget(b)
        self.suggest_row.addStretch(1)
        self.suggest_label.setVisible(bool(colors))

    def recent_colors(self) -> list[str]:
        return list(self._recent)

    def set_recent_colors(self, colors) -> None:
        out = []
        for c in colors or []:
            try:
                c = color_to_hex(parse_color(c))
            except Exception:  # noqa: BLE001 - a bad stored setting is simply skipped
                continue
            if c not in out:
                out.append(c)
        self._recent = out[:MAX_RECENT]
        _clear(self.recent_row)
        for c in self._recent:
            b = SwatchButton(c, f"{c} (recent)", parent=self.recent_box)
            b.clicked.connect(lambda _=False, c=c: self._choose(c, from_recent=True))
            self.recent_row.addWidget(b)
        self.recent_row.addStretch(1)

    # -- choosing --------------------------------------------------------------------------
    def _picked(self, color: str, token) -> None:
        self._color = color
        self.set_color(color)
        self.color_chosen.emit(color, ("picker", token))

    def _choose(self, color: str, from_recent: bool = False) -> None:
        self.set_color(color)
        if not from_recent:
            # A Recent swatch stays where it is: the row never reorders under the pointer.
            self._add_recent(color)
        self.color_chosen.emit(color, None)

    def choose(self, color: str) -> None:
        """Choose ``color`` as if the user had clicked it."""
        self._choose(color_to_hex(parse_color(color)))

    def _add_recent(self, color: str) -> None:
        recent = [color] + [c for c in self._recent if c != color]
        self.set_recent_colors(recent)
        self.recent_changed.emit(self.recent_colors())

    def _hex_entered(self) -> None:
        text = self.hex_field.text().strip()
        if not text:
            return
        try:
            color = color_to_hex(parse_color(text if text.startswith("#") else "#" + text))
        except Exception:  # noqa: BLE001
            self.message.emit(f"{text!r} is not a colour; type six hex digits like #c86432")
            self.hex_field.setText(self._color)
            return
        if color != self._color:
            self._choose(color)

    def _open_dialog(self) -> None:
        c = QColorDialog.getColor(QColor(self._color), self, "Choose a hint colour")
        if c.isValid():
            self._choose(c.name())

    def _fill_swatches(self, lightness: float) -> None:
        L = round(lightness)
        if L == self._swatch_lightness:
            return
        self._swatch_lightness = L
        if not self._swatch_buttons:
            for row, sset in enumerate(SWATCH_SETS):
                label = QLabel(sset.name, self)
                label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
                self.swatch_grid.addWidget(label, row, 0)
                for col, sw in enumerate(sset.swatches, start=1):
                    b = SwatchButton(sw.color, sw.name, parent=self)
                    b.clicked.connect(lambda _=False, b=b: self._choose(b.color))
                    self.swatch_grid.addWidget(b, row, col)
                    self._swatch_buttons.append(b)
            self.swatch_grid.setColumnStretch(9, 1)
        # Re-tint in place: this runs while a selected point is dragged across the photo.
        buttons = iter(self._swatch_buttons)
        for sset, shown_set in zip(SWATCH_SETS, _adjusted_sets(L)):
            for shown in shown_set:
                b = next(buttons)
                tip = f"{sset.name}: {shown.name} ({shown.color})"
                if shown.clipped:
                    tip += ", toned down: its full colour cannot exist at this lightness"
                b.color, b.clipped = shown.color, shown.clipped
                b.setToolTip(tip)
                b.update()


def section_title(text: str, parent) -> QLabel:
    """A side-panel section heading."""
    label = QLabel(text, parent)
    f = label.font()
    f.setBold(True)
    f.setPointSizeF(f.pointSizeF() * 1.15)
    label.setFont(f)
    label.setContentsMargins(0, 6, 0, 2)
    return label


def _small_title(text: str, parent) -> QLabel:
    label = QLabel(text, parent)
    f = label.font()
    f.setBold(True)
    label.setFont(f)
    return label
