"""The editor: the current Document, the selection, the current colour and the undo stack.

Every change to the document goes through :meth:`Editor.push`, which puts an undoable
command on the stack; the editor then emits ``document_changed`` and the window asks for a
preview. Tools and panels call the editing methods; they never change a document directly.
"""
from __future__ import annotations

import itertools
import math
from typing import Optional

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from ..core.document import Document
from ..core.hints import PROTECT_COLOR, PointHint, Stroke, normalise_color
from .commands import EditDocument
from .geometry import hints_under_disk, stroke_lightness_samples

Selection = Optional[tuple]  # ("point", i) | ("stroke", j) | None
DEFAULT_COLOR = "#c86432"
_KEEP = object()


class Editor(QObject):
    document_changed = Signal(object)     # Document
    selection_changed = Signal(object)    # Selection
    color_changed = Signal(str)           # the current colour, "#rrggbb"
    interaction_changed = Signal(bool)    # True while a drag is under way

    def __init__(self, parent=None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(500)
        self._doc = Document()
        self._selection: Selection = None
        self._color = DEFAULT_COLOR
        self._interacting = 0
        self._lightness: Optional[np.ndarray] = None
        self._gestures = itertools.count(1)
        self.point_radius = 3.0
        self.brush_width = 8.0
        self._last_click: Optional[tuple[float, float]] = None

    # -- state -----------------------------------------------------------------------------
    @property
    def document(self) -> Document:
        return self._doc

    @property
    def hints(self):
        return self._doc.hints

    @property
    def selection(self) -> Selection:
        return self._selection

    @property
    def color(self) -> str:
        return self._color

    @property
    def interacting(self) -> bool:
        return self._interacting > 0

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def size(self) -> tuple[int, int]:
        if self._lightness is None:
            return (0, 0)
        h, w = self._lightness.shape[:2]
        return (w, h)

    def mark_saved(self) -> None:
        self.undo_stack.setClean()

    def reset(self, document: Document, lightness: Optional[np.ndarray]) -> None:
        """Start over with ``document`` for a photo whose L* is ``lightness`` (no undo history)."""
        self.undo_stack.clear()
        self._lightness = lightness
        if lightness is not None:
            long_side = max(lightness.shape[:2])
            # Defaults that look the same on a postcard scan and a 40-megapixel one.
            self.point_radius = float(max(3, round(long_side / 250)))
            self.brush_width = float(max(6, round(long_side / 80)))
        self._selection = None
        self._last_click = None
        self._apply(document, None)
        self.undo_stack.setClean()

    def new_gesture(self) -> int:
        """A fresh merge key: edits sharing it (one drag) become one undo step."""
        return next(self._gestures)

    def begin_interaction(self) -> None:
        self._interacting += 1
        if self._interacting == 1:
            self.interaction_changed.emit(True)

    def end_interaction(self) -> None:
        if self._interacting == 0:
            return
        self._interacting -= 1
        if self._interacting == 0:
            self.interaction_changed.emit(False)

    # -- the one way a document changes ------------------------------------------------------
    def push(self, after: Document, text: str, merge_key=None, selection=_KEEP) -> None:
        if after == self._doc and after.extra == self._doc.extra:
            if selection is not _KEEP:
                self.select(selection)
            return
        sel_after = self._selection if selection is _KEEP else selection
        self.undo_stack.push(EditDocument(self, self._doc, after, text, merge_key,
                                          self._selection, sel_after))

    def _apply(self, document: Document, selection: Selection) -> None:
        """Called by commands: set the document and selection, tell everyone."""
        self._doc = document
        stale = self._selection
        self._selection = self._valid(stale)  # listeners must never see a selection past the end
        if stale is not None and self._selection is None and selection is None:
            self.selection_changed.emit(None)
        self.document_changed.emit(document)
        self.select(selection)

    # -- selection and colour --------------------------------------------------------------
    def select(self, selection: Selection) -> None:
        selection = self._valid(selection)
        changed = selection != self._selection
        self._selection = selection
        if selection is not None and not getattr(self._hint(selection), "protect", False):
            color = self._hint(selection).color
            if color != self._color:
                self._color = color
                self.color_changed.emit(color)
        if changed:
            self.selection_changed.emit(selection)

    def _valid(self, selection: Selection) -> Selection:
        if selection is None:
            return None
        kind, i = selection
        items = self._doc.hints.points if kind == "point" else self._doc.hints.strokes
        return selection if 0 <= i < len(items) else None

    def _hint(self, selection):
        kind, i = selection
        return (self._doc.hints.points if kind == "point" else self._doc.hints.strokes)[i]

    def selected_hint(self):
        return None if self._selection is None else self._hint(self._selection)

    def set_color(self, color: str, merge_key=None) -> None:
        """Make ``color`` current; a selected hint takes it too (one undo step per merge key)."""
        color = normalise_color(color)
        if color != self._color:
            self._color = color
            self.color_changed.emit(color)
        if self._selection is not None and self._hint(self._selection).color != color:
            kind, i = self._selection
            h = self._doc.hints
            if kind == "point":
                hints = h.replace_point(i, h.points[i].recoloured(color))
            else:
                hints = h.replace_stroke(i, h.strokes[i].recoloured(color))
            self.push(self._doc.with_hints(hints), "Change hint colour",
                      merge_key=("colour", kind, i, merge_key) if merge_key is not None else None)

    # -- lightness under hints (for the palette) --------------------------------------------
    def lightness_at(self, x: float, y: float) -> Optional[float]:
        if self._lightness is None:
            return None
        h, w = self._lightness.shape[:2]
        xi, yi = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
        return float(self._lightness[yi, xi])

    def selection_lightness(self) -> Optional[float]:
        """L* where the colour will land: the selected hint's pixel, else the last click."""
        hint = self.selected_hint()
        if isinstance(hint, PointHint):
            return self.lightness_at(hint.x, hint.y)
        if isinstance(hint, Stroke) and self._lightness is not None:
            w, h = self.size
            vals = [float(self._lightness[y, x]) for x, y in stroke_lightness_samples(hint.points, w, h)]
            return float(np.median(vals)) if vals else None
        if self._last_click is not None:
            return self.lightness_at(*self._last_click)
        return None

    # -- hint edits ----------------------------------------------------------------------------
    def inside(self, x: float, y: float) -> bool:
        w, h = self.size
        return 0 <= x <= w and 0 <= y <= h

    def _clamp(self, x: float, y: float) -> tuple[float, float]:
        w, h = self.size
        return min(max(float(x), 0.0), float(w)), min(max(float(y), 0.0), float(h))

    def _size_hints(self, hints):
        w, h = self.size
        return hints.scaled_to(w, h) if w and h and hints.image_size is None else hints

    def add_point(self, x: float, y: float, merge_key=None) -> int:
        """Place a point in the current colour. It is not selected: a colour picked next
        changes the current colour, not this point (select it on purpose to recolour it).
        With ``merge_key``, the drag that follows (``move_point``) is the same undo step."""
        x, y = self._clamp(x, y)
        self._last_click = (x, y)
        hints = self._size_hints(self.hints).with_point(PointHint(round(x, 2), round(y, 2), self._color,
                                                                  self.point_radius))
        index = len(hints.points) - 1
        self.push(self._doc.with_hints(hints), "Add colour point",
                  merge_key=("move", merge_key) if merge_key is not None else None, selection=None)
        return index

    def move_point(self, index: int, x: float, y: float, merge_key=None, select: bool = True) -> None:
        x, y = self._clamp(x, y)
        self._last_click = (x, y)
        h = self.hints
        self.push(self._doc.with_hints(h.replace_point(index, h.points[index].moved(round(x, 2), round(y, 2)))),
                  "Move colour point", merge_key=("move", merge_key) if merge_key is not None else None,
                  selection=("point", index) if select else _KEEP)

    def remove(self, selection: Selection) -> None:
        selection = self._valid(selection)
        if selection is None:
            return
        kind, i = selection
        h = self.hints
        hints = h.without_point(i) if kind == "point" else h.without_stroke(i)
        self.push(self._doc.with_hints(hints), "Remove colour point" if kind == "point" else "Remove stroke",
                  selection=None)

    def resize_selected(self, factor: float, merge_key=None) -> None:
        """Grow or shrink the selected point (or stroke); also the size new ones get."""
        sel = self._selection
        if sel is None:
            self.point_radius = _clamp_size(self.point_radius * factor)
            self.brush_width = _clamp_size(self.brush_width * factor)
            return
        kind, i = sel
        h = self.hints
        if kind == "point":
            r = _clamp_size(h.points[i].radius * factor)
            self.point_radius = r
            hints = h.replace_point(i, h.points[i].resized(r))
        else:
            from dataclasses import replace
            wdt = _clamp_size(h.strokes[i].width * factor)
            self.brush_width = wdt
            hints = h.replace_stroke(i, replace(h.strokes[i], width=wdt))
        self.push(self._doc.with_hints(hints), "Resize hint",
                  merge_key=("resize", kind, i, merge_key) if merge_key is not None else None)

    def begin_stroke(self, x: float, y: float, merge_key, protect: bool = False) -> int:
        """Start a stroke in the current colour (or a protect stroke: no colour here). Like a
        new point, it is not selected."""
        x, y = self._clamp(x, y)
        self._last_click = (x, y)
        hints = self._size_hints(self.hints).with_stroke(
            Stroke(((round(x, 2), round(y, 2)),), self.brush_width, PROTECT_COLOR if protect else self._color,
                   protect=protect))
        index = len(hints.strokes) - 1
        self.push(self._doc.with_hints(hints), "Protect from colour" if protect else "Paint stroke",
                  merge_key=("stroke", merge_key), selection=None)
        return index

    def set_stroke_points(self, index: int, points: tuple, merge_key) -> None:
        from dataclasses import replace
        h = self.hints
        pts = tuple((round(x, 2), round(y, 2)) for x, y in (self._clamp(*p) for p in points))
        self.push(self._doc.with_hints(h.replace_stroke(index, replace(h.strokes[index], points=pts))),
                  "Protect from colour" if h.strokes[index].protect else "Paint stroke",
                  merge_key=("stroke", merge_key))

    def erase(self, x: float, y: float, radius: float, merge_key=None) -> bool:
        """Remove every hint the eraser's disk touches; True when something went."""
        pts, sts = hints_under_disk(self.hints, x, y, radius)
        if not pts and not sts:
            return False
        h = self.hints
        for i in reversed(pts):
            h = h.without_point(i)
        for j in reversed(sts):
            h = h.without_stroke(j)
        self.push(self._doc.with_hints(h), "Erase hints",
                  merge_key=("erase", merge_key) if merge_key is not None else None, selection=None)
        return True

    # -- document settings -------------------------------------------------------------------
    def set_saturation(self, value: float, merge_key=None) -> None:
        value = round(min(max(float(value), 0.0), 2.0), 3)
        if math.isclose(value, self._doc.saturation):
            return
        self.push(self._doc.with_saturation(value), "Change colour strength",
                  merge_key=("saturation", merge_key) if merge_key is not None else None)

    def set_option(self, name: str, value, merge_key=None) -> None:
        """Set one of the engine's own settings (e.g. ``edge_strength``), checked against the
        engine's declaration; a slider's drag (one ``merge_key``) is one undo step."""
        from ..engines.registry import ENGINES
        spec = ENGINES.get(self._doc.engine)
        try:
            option = spec.option(name) if spec is not None else None
        except KeyError:
            option = None
        if option is not None:
            value = option.validate(min(max(float(value), option.minimum), option.maximum)
                                    if option.minimum is not None and not option.choices else value)
        if isinstance(value, float):
            value = round(value, 3)
        if dict(self._doc.options).get(name) == value:
            return
        label = option.label if option is not None else name
        self.push(self._doc.with_option(name, value), f"Change {label.lower()}",
                  merge_key=("option", name, merge_key) if merge_key is not None else None)

    def option(self, name: str, default=None):
        """The document's value of engine setting ``name``, else its declared default."""
        opts = dict(self._doc.options)
        if name in opts:
            return opts[name]
        from ..engines.registry import ENGINES
        spec = ENGINES.get(self._doc.engine)
        try:
            return spec.option(name).default if spec is not None else default
        except KeyError:
            return default

    def set_mode(self, mode: str, engine: str) -> None:
        if mode != self._doc.mode or engine != self._doc.engine:
            self.push(self._doc.with_mode(mode, engine), "Switch mode")

    def set_engine(self, engine: str) -> None:
        if engine != self._doc.engine:
            self.push(self._doc.with_engine(engine), "Switch engine")

    def set_reference(self, path: Optional[str]) -> None:
        if (path or None) != self._doc.reference or (path and self._doc.references[0].rect is not None):
            self.push(self._doc.with_reference(path), "Set reference picture" if path else "Remove reference picture")

    def set_reference_region(self, rect: Optional[tuple]) -> None:
        """Limit the (first) reference to ``rect`` = (x0, y0, x1, y1) in its decoded pixels, or
        use all of it (None)."""
        refs = self._doc.references
        if not refs or refs[0].rect == rect:
            return
        from dataclasses import replace
        first = replace(refs[0], rect=tuple(int(v) for v in rect) if rect else None)
        self.push(self._doc.with_references((first, *refs[1:])),
                  "Choose a region of the reference" if rect else "Use the whole reference")

    def set_strength(self, value: float, merge_key=None) -> None:
        value = round(min(max(float(value), 0.0), 1.0), 3)
        if math.isclose(value, self._doc.strength):
            return
        self.push(self._doc.with_strength(value), "Change strength",
                  merge_key=("strength", merge_key) if merge_key is not None else None)

    def set_look(self, look: str) -> None:
        if look != self._doc.look:
            self.push(self._doc.with_look(look), "Full painting" if look == "painting" else "Keep the photo's tones")

    def replace_document(self, document: Document, text: str = "Open document") -> None:
        self.push(document, text, selection=None)


def _clamp_size(v: float) -> float:
    return float(min(max(round(v, 2), 0.5), 2000.0))
