"""Pure geometry for the canvas: the view transform and hit-testing of hints (no Qt).

Photo coordinates follow the hints format: x right, y down, the origin at the top-left
corner of the top-left pixel. Widget coordinates are the canvas's pixels. Everything here is
plain Python so it can be tested without a display.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Iterable, Optional, Sequence

MIN_SCALE = 1 / 64
MAX_SCALE = 32.0


@dataclass(frozen=True)
class View:
    """Where the photo sits in the widget: ``widget = photo * scale + offset``."""

    scale: float = 1.0
    ox: float = 0.0
    oy: float = 0.0

    def to_widget(self, x: float, y: float) -> tuple[float, float]:
        return x * self.scale + self.ox, y * self.scale + self.oy

    def to_photo(self, wx: float, wy: float) -> tuple[float, float]:
        return (wx - self.ox) / self.scale, (wy - self.oy) / self.scale

    def zoomed_at(self, factor: float, wx: float, wy: float) -> "View":
        """Zoom by ``factor`` keeping the photo point under widget point (wx, wy) in place."""
        scale = min(max(self.scale * factor, MIN_SCALE), MAX_SCALE)
        px, py = self.to_photo(wx, wy)
        return View(scale, wx - px * scale, wy - py * scale)

    def with_scale_at(self, scale: float, wx: float, wy: float) -> "View":
        """Exactly ``scale`` (e.g. 1.0 for 100 %), keeping the photo point under (wx, wy)."""
        scale = min(max(scale, MIN_SCALE), MAX_SCALE)
        px, py = self.to_photo(wx, wy)
        return View(scale, wx - px * scale, wy - py * scale)

    def panned(self, dx: float, dy: float) -> "View":
        return replace(self, ox=self.ox + dx, oy=self.oy + dy)


def fit_view(photo_w: int, photo_h: int, widget_w: int, widget_h: int, margin: int = 8) -> View:
    """The view that shows the whole photo centred in the widget."""
    if photo_w <= 0 or photo_h <= 0:
        return View()
    aw, ah = max(widget_w - 2 * margin, 1), max(widget_h - 2 * margin, 1)
    scale = min(max(min(aw / photo_w, ah / photo_h), MIN_SCALE), MAX_SCALE)
    return View(scale, (widget_w - photo_w * scale) / 2, (widget_h - photo_h * scale) / 2)


def actual_size_view(view: View, photo_w: int, photo_h: int, widget_w: int, widget_h: int) -> View:
    """100 %: one photo pixel per widget pixel, keeping the widget centre's photo point."""
    return view.with_scale_at(1.0, widget_w / 2, widget_h / 2)


# -- hit-testing --------------------------------------------------------------------------

def distance_to_segment(px: float, py: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """Euclidean distance from (px, py) to the segment (x0, y0)-(x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    ll = dx * dx + dy * dy
    t = 0.0 if ll <= 1e-12 else max(0.0, min(1.0, ((px - x0) * dx + (py - y0) * dy) / ll))
    return math.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def distance_to_polyline(px: float, py: float, points: Sequence[tuple[float, float]]) -> float:
    if not points:
        return math.inf
    if len(points) == 1:
        return math.hypot(px - points[0][0], py - points[0][1])
    return min(distance_to_segment(px, py, *a, *b) for a, b in zip(points[:-1], points[1:]))


def hit_point(points: Sequence, x: float, y: float, tolerance: float = 0.0) -> Optional[int]:
    """Index of the point hint under (x, y), or None.

    A point is hit within its radius plus ``tolerance`` (photo pixels; the canvas passes a
    few screen pixels divided by the zoom so small hints stay grabbable). When several
    overlap, the one drawn on top (the last) wins, then the nearest.
    """
    best, best_key = None, None
    for i, p in enumerate(points):
        d = math.hypot(x - p.x, y - p.y)
        if d <= p.radius + tolerance:
            key = (d > p.radius, d, -i)  # inside its own disk first, then nearest, then topmost
            if best_key is None or key < best_key:
                best, best_key = i, key
    return best


def hit_stroke(strokes: Sequence, x: float, y: float, tolerance: float = 0.0) -> Optional[int]:
    """Index of the topmost stroke whose painted band (width / 2 + tolerance) covers (x, y)."""
    for i in range(len(strokes) - 1, -1, -1):
        s = strokes[i]
        if distance_to_polyline(x, y, s.points) <= s.width / 2 + tolerance:
            return i
    return None


def hit_hint(hints, x: float, y: float, tolerance: float = 0.0) -> Optional[tuple[str, int]]:
    """("point", i) or ("stroke", j) under (x, y); points are on top of strokes."""
    i = hit_point(hints.points, x, y, tolerance)
    if i is not None:
        return ("point", i)
    j = hit_stroke(hints.strokes, x, y, tolerance)
    if j is not None:
        return ("stroke", j)
    return None


def hints_under_disk(hints, x: float, y: float, radius: float) -> tuple[list[int], list[int]]:
    """Indices of points and strokes that a disk of ``radius`` at (x, y) touches (the eraser)."""
    pts = [i for i, p in enumerate(hints.points) if math.hypot(x - p.x, y - p.y) <= p.radius + radius]
    sts = [j for j, s in enumerate(hints.strokes)
           if distance_to_polyline(x, y, s.points) <= s.width / 2 + radius]
    return pts, sts


def near_divider(wx: float, divider_x: float, tolerance: float = 6.0) -> bool:
    """Whether a widget x is close enough to the split view's divider to grab it."""
    return abs(wx - divider_x) <= tolerance


def simplify_append(points: Sequence[tuple[float, float]], x: float, y: float,
                    min_step: float) -> Optional[tuple[tuple[float, float], ...]]:
    """``points`` with (x, y) appended, or None when it is closer than ``min_step`` to the last.

    Keeps brush strokes from growing a vertex per mouse event while the pointer barely moves.
    """
    if points and math.hypot(x - points[-1][0], y - points[-1][1]) < min_step:
        return None
    return tuple(points) + ((float(x), float(y)),)


def stroke_lightness_samples(points: Iterable[tuple[float, float]], width: int, height: int,
                             limit: int = 32) -> list[tuple[int, int]]:
    """Up to ``limit`` pixel positions (clamped into the photo) along a stroke's vertices."""
    pts = list(points)
    if not pts:
        return []
    step = max(1, len(pts) // limit)
    out = []
    for x, y in pts[::step]:
        out.append((min(max(int(x), 0), width - 1), min(max(int(y), 0), height - 1)))
    return out


def segment_samples(a: tuple[float, float], b: tuple[float, float], step: float) -> list[tuple[float, float]]:
    """Points from ``a`` (excluded) to ``b`` (included) no more than ``step`` apart."""
    n = max(1, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / max(step, 1e-6)))
    return [(a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n) for k in range(1, n + 1)]
