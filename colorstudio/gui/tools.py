"""Canvas tools: small classes the canvas dispatches mouse events to.

A tool reads the pointer in photo coordinates, asks the pure hit-testing functions what is
under it, and edits through the :class:`~colorstudio.gui.editor.Editor`. Adding a tool is
adding a class here and an entry in :data:`TOOLS`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPen

from .geometry import hit_hint, hit_point, segment_samples, simplify_append


@dataclass(frozen=True)
class ToolEvent:
    """A pointer event as a tool sees it."""

    x: float             # photo coordinates
    y: float
    wx: float            # widget coordinates
    wy: float
    button: str = ""     # "left", "right" or "" (a move)
    shift: bool = False


class Tool:
    """Base class: every handler is optional."""

    name = ""
    label = ""
    icon = ""
    shortcut = ""
    tip = ""
    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas, editor):
        self.canvas = canvas
        self.editor = editor
        self.hover_at: Optional[tuple[float, float]] = None

    def press(self, ev: ToolEvent) -> None: ...

    def move(self, ev: ToolEvent) -> None:
        self.hover_at = (ev.x, ev.y)

    def release(self, ev: ToolEvent) -> None: ...

    def cancel(self) -> None:
        """The tool is being switched away from or the photo closed mid-gesture."""

    def paint(self, painter: QPainter) -> None:
        """Draw the tool's own overlay (in widget coordinates)."""

    def leave(self) -> None:
        self.hover_at = None


class _Drag:
    """One drag gesture: a merge key for the undo stack and the interaction bracket."""

    def __init__(self, editor, key=None):
        self.editor = editor
        self.key = editor.new_gesture() if key is None else key
        editor.begin_interaction()

    def end(self) -> None:
        self.editor.end_interaction()


class PointTool(Tool):
    name = "point"
    label = "Colour point"
    icon = "mdi6.eyedropper-plus"
    shortcut = "P"
    tip = ("Click to add a colour point; click a point to select it, then pick a colour to recolour it; "
           "drag a point to move it; right-click or Delete removes it; [ and ] change its size; Esc deselects")

    def __init__(self, canvas, editor):
        super().__init__(canvas, editor)
        self._drag: Optional[_Drag] = None
        self._index: Optional[int] = None
        self._offset = (0.0, 0.0)
        self._moved = False
        self._created = False

    def press(self, ev: ToolEvent) -> None:
        hints = self.editor.hints
        if ev.button == "right":
            hit = hit_hint(hints, ev.x, ev.y, self.canvas.tolerance())
            if hit is not None:
                self.editor.remove(hit)
            return
        if ev.button != "left":
            return
        i = hit_point(hints.points, ev.x, ev.y, self.canvas.tolerance())
        if i is None:
            # A click on empty canvas deselects; on the photo it places a point, unselected.
            self.editor.select(None)
            if not self.editor.inside(ev.x, ev.y):
                return
            # The drag that may follow moves the new point in the same undo step. The point is
            # placed before the drag begins, so a plain click asks for one settled preview.
            key = self.editor.new_gesture()
            i = self.editor.add_point(ev.x, ev.y, merge_key=key)
            self._drag = _Drag(self.editor, key)
            self._offset = (0.0, 0.0)
            self._created = True
        else:
            self.editor.select(("point", i))
            p = hints.points[i]
            self._offset = (p.x - ev.x, p.y - ev.y)
            self._drag = _Drag(self.editor)
            self._created = False
        self._index = i
        self._moved = False

    def move(self, ev: ToolEvent) -> None:
        super().move(ev)
        if self._drag is None or self._index is None:
            return
        if self._index >= len(self.editor.hints.points):
            return
        self._moved = True
        self.editor.move_point(self._index, ev.x + self._offset[0], ev.y + self._offset[1], self._drag.key,
                               select=not self._created)

    def release(self, ev: ToolEvent) -> None:
        self.cancel()

    def cancel(self) -> None:
        if self._drag is not None:
            self._drag.end()
        self._drag = None
        self._index = None


class BrushTool(Tool):
    name = "brush"
    label = "Brush"
    icon = "mdi6.brush"
    shortcut = "B"
    tip = "Paint a colour stroke with the current colour; [ and ] change the width; right-click removes a stroke"

    protect = False

    def __init__(self, canvas, editor):
        super().__init__(canvas, editor)
        self._drag: Optional[_Drag] = None
        self._index: Optional[int] = None
        self._points: tuple = ()

    def press(self, ev: ToolEvent) -> None:
        if ev.button == "right":
            hit = hit_hint(self.editor.hints, ev.x, ev.y, self.canvas.tolerance())
            if hit is not None and hit[0] == "stroke":
                self.editor.remove(hit)
            return
        if ev.button != "left":
            return
        self.editor.select(None)
        if not self.editor.inside(ev.x, ev.y):
            return
        self._drag = _Drag(self.editor)
        self._index = self.editor.begin_stroke(ev.x, ev.y, self._drag.key, protect=self.protect)
        self._points = self.editor.hints.strokes[self._index].points

    def move(self, ev: ToolEvent) -> None:
        super().move(ev)
        if self._drag is None:
            self.canvas.update()  # the brush outline follows the pointer
            return
        step = max(self.editor.brush_width / 4, 0.5)
        pts = simplify_append(self._points, ev.x, ev.y, step)
        if pts is not None and self._index is not None and self._index < len(self.editor.hints.strokes):
            self._points = pts
            self.editor.set_stroke_points(self._index, pts, self._drag.key)

    def release(self, ev: ToolEvent) -> None:
        self.cancel()

    def cancel(self) -> None:
        if self._drag is not None:
            self._drag.end()
        self._drag = None
        self._index = None
        self._points = ()

    def paint(self, painter: QPainter) -> None:
        _outline(painter, self.canvas, self.hover_at, self.editor.brush_width / 2)


class ProtectTool(BrushTool):
    """Paints "no colour here": the result stays neutral under the stroke and colour does not
    flow through it (Krita's transparent key in its Colorize Mask)."""

    name = "protect"
    label = "Protect brush"
    icon = "mdi6.shield-outline"
    shortcut = "N"
    tip = ("Paint where there must be no colour: it stays neutral and colour does not flow through; "
           "[ and ] change the width; right-click removes a stroke")
    protect = True


class EraserTool(Tool):
    name = "eraser"
    label = "Eraser"
    icon = "mdi6.eraser"
    shortcut = "E"
    tip = "Drag over colour points and strokes to remove them; [ and ] change the eraser's size"

    def __init__(self, canvas, editor):
        super().__init__(canvas, editor)
        self._drag: Optional[_Drag] = None

    def radius(self) -> float:
        return max(self.editor.brush_width / 2, self.canvas.tolerance())

    def press(self, ev: ToolEvent) -> None:
        if ev.button != "left":
            return
        self._drag = _Drag(self.editor)
        self._last = (ev.x, ev.y)
        self.editor.erase(ev.x, ev.y, self.radius(), self._drag.key)

    def move(self, ev: ToolEvent) -> None:
        super().move(ev)
        if self._drag is None:
            self.canvas.update()
            return
        # Erase along the path, not only where mouse events happened to land.
        r = self.radius()
        for x, y in segment_samples(self._last, (ev.x, ev.y), max(r / 2, 0.5)):
            self.editor.erase(x, y, r, self._drag.key)
        self._last = (ev.x, ev.y)

    def release(self, ev: ToolEvent) -> None:
        self.cancel()

    def cancel(self) -> None:
        if self._drag is not None:
            self._drag.end()
        self._drag = None

    def paint(self, painter: QPainter) -> None:
        _outline(painter, self.canvas, self.hover_at, self.radius())


class EyedropperTool(Tool):
    name = "eyedropper"
    label = "Eyedropper"
    icon = "mdi6.eyedropper"
    shortcut = "I"
    tip = ("Click to take the colour under the pointer from the result, then return to the previous tool "
           "(hold Alt for a moment's eyedropper; or click the reference photo in the side panel)")

    def press(self, ev: ToolEvent) -> None:
        if ev.button != "left":
            return
        color = self.canvas.sample_color(ev.x, ev.y)
        if color is not None:
            self.editor.set_color(color)
            # One pick, then back to the tool it was taken up from (unless Alt holds it).
            self.canvas.eyedropper_done()


def _outline(painter: QPainter, canvas, at, radius_photo: float) -> None:
    if at is None:
        return
    c = canvas.photo_to_widget(*at)
    r = max(radius_photo * canvas.view.scale, 2.0)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(0, 0, 0, 180), 3))
    painter.drawEllipse(QPointF(c), r, r)
    painter.setPen(QPen(QColor(255, 255, 255, 230), 1))
    painter.drawEllipse(QPointF(c), r, r)


TOOLS = (PointTool, BrushTool, ProtectTool, EraserTool, EyedropperTool)
