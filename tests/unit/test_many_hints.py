"""Rasterising many hints: the same pixels as drawing them one at a time, in work that grows
linearly with their number (counted, never timed), and cancellable."""
from __future__ import annotations

import math

import numpy as np
import pytest

from colorstudio.core.hints import HintRaster, Hints, rasterize
from colorstudio.core.jobs import Cancelled
from colorstudio.core.color import hex_to_ab

# The per-hint drawing this module replaced, kept as the reference for what the pixels must be.
def reference_rasterize(hints: Hints, width: int, height: int, out_width: int, out_height: int) -> HintRaster:
    """Draw ``hints`` (in the coordinates of a ``width`` x ``height`` photo) at ``out`` size.

    Edges are antialiased by coverage. A disk smaller than a working pixel still marks the
    pixel it falls in, so a hint never vanishes at a coarse working size. Strokes are drawn
    first, then points, later entries over earlier ones.
    """
    hints = hints.scaled_to(width, height)
    sx, sy = out_width / width, out_height / height
    s = math.sqrt(sx * sy)
    ab = np.zeros((out_height, out_width, 2), np.float32)
    mask = np.zeros((out_height, out_width), np.float32)
    cache: dict[str, tuple[float, float]] = {}

    def chroma(c: str):
        if c not in cache:
            cache[c] = hex_to_ab(c)
        return cache[c]

    def paint(x0, y0, x1, y1, r, color):
        # Distance from each pixel centre in the box to the segment (x0,y0)-(x1,y1), in working px.
        r_eff = max(r, 0.5)
        bx0 = max(int(math.floor(min(x0, x1) - r_eff - 1)), 0)
        bx1 = min(int(math.ceil(max(x0, x1) + r_eff + 1)), out_width)
        by0 = max(int(math.floor(min(y0, y1) - r_eff - 1)), 0)
        by1 = min(int(math.ceil(max(y0, y1) + r_eff + 1)), out_height)
        if bx0 >= bx1 or by0 >= by1:
            return
        px = np.arange(bx0, bx1, dtype=np.float32)[None, :] + 0.5
        py = np.arange(by0, by1, dtype=np.float32)[:, None] + 0.5
        dx, dy = x1 - x0, y1 - y0
        ll = dx * dx + dy * dy
        if ll > 1e-12:
            t = np.clip(((px - x0) * dx + (py - y0) * dy) / ll, 0.0, 1.0)
        else:
            t = np.zeros((1, 1), np.float32)
        d = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
        if r < 0.5 and ll <= 1e-12:
            # A disk smaller than a working pixel marks the pixel its centre falls in, fully.
            cov = np.zeros_like(d)
            ix = min(max(int(math.floor(x0)), bx0), bx1 - 1) - bx0
            iy = min(max(int(math.floor(y0)), by0), by1 - 1) - by0
            cov[iy, ix] = 1.0
        else:
            cov = np.clip(r_eff + 0.5 - d, 0.0, 1.0)
            if not cov.any():
                cov = np.zeros_like(d)
                iy, ix = np.unravel_index(int(np.argmin(d)), d.shape)
                cov[iy, ix] = 1.0
        a, b = chroma(color)
        sub_m = mask[by0:by1, bx0:bx1]
        sub_ab = ab[by0:by1, bx0:bx1]
        # Later hints paint over earlier ones ("over" compositing of coverage).
        sub_ab[..., 0] = sub_ab[..., 0] * (1 - cov) * sub_m / np.maximum(sub_m * (1 - cov) + cov, 1e-6) + \
            a * cov / np.maximum(sub_m * (1 - cov) + cov, 1e-6)
        sub_ab[..., 1] = sub_ab[..., 1] * (1 - cov) * sub_m / np.maximum(sub_m * (1 - cov) + cov, 1e-6) + \
            b * cov / np.maximum(sub_m * (1 - cov) + cov, 1e-6)
        sub_m[...] = np.maximum(sub_m, cov)

    for st in hints.strokes:
        r = st.width / 2 * s
        pts = [(x * sx, y * sy) for x, y in st.points]
        if len(pts) == 1:
            pts = pts * 2
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
            paint(x0, y0, x1, y1, r, st.color)
    for p in hints.points:
        x, y = p.x * sx, p.y * sy
        paint(x, y, x, y, p.radius * s, p.color)
    return HintRaster(ab, mask)


COLOURS = ["#c86432", "#3366aa", "#22aa44", "#ffee00", "#888888"]


def random_hints(seed, n_points, n_strokes, w, h, tiny=False):
    rng = np.random.default_rng(seed)
    pts = [(float(rng.uniform(-5, w + 5)), float(rng.uniform(-5, h + 5)), COLOURS[int(rng.integers(5))],
            float(rng.uniform(0.05, 1.0) if tiny else rng.uniform(0.3, 12))) for _ in range(n_points)]
    strokes = []
    for _ in range(n_strokes):
        k = int(rng.integers(1, 30))
        poly = np.cumsum(rng.normal(0, 6, (k, 2)), axis=0) + (rng.uniform(0, w), rng.uniform(0, h))
        strokes.append(([tuple(map(float, p)) for p in poly], float(rng.uniform(0.4, 14)),
                        COLOURS[int(rng.integers(5))]))
    return Hints.of(points=pts, strokes=strokes)


@pytest.mark.parametrize("seed, size, out", [(0, (200, 150), (200, 150)), (1, (1000, 700), (128, 90)),
                                             (2, (300, 300), (64, 64)), (3, (80, 60), (160, 120))])
def test_the_pixels_are_those_of_drawing_one_hint_at_a_time(seed, size, out):
    hints = random_hints(seed, 300, 25, *size, tiny=seed == 2)
    new = rasterize(hints, *size, *out)
    old = reference_rasterize(hints, *size, *out)
    np.testing.assert_allclose(new.mask, old.mask, atol=1e-6)
    np.testing.assert_allclose(new.ab, old.ab, atol=2e-3)


def test_a_hint_off_the_grid_still_marks_the_nearest_pixel():
    hints = Hints.of(points=[(0.2, 0.2, "#ff0000", 0.01), (99.9, 0.1, "#00ff00", 0.1)],
                     strokes=[([(0.0, 0.0), (0.1, 0.05)], 0.2, "#0000ff")])
    new, old = rasterize(hints, 100, 100, 10, 10), reference_rasterize(hints, 100, 100, 10, 10)
    np.testing.assert_allclose(new.mask, old.mask)
    np.testing.assert_allclose(new.ab, old.ab, atol=1e-4)


def _work(hints, w=220, h=296):
    stats = {}
    rasterize(hints, w, h, 190, 256, stats=stats)
    return stats["pairs"] + stats["layers"] + stats["passes"]


def _points(n, spread=True):
    rng = np.random.default_rng(n)
    if spread:
        xy = rng.uniform(0, 1, (n, 2)) * (220, 296)
    else:
        xy = np.full((n, 2), 100.0)          # every point on the same spot: n layers deep
    return Hints.of(points=[(x, y, COLOURS[i % 5], 2.0) for i, (x, y) in enumerate(xy)])


def _stroke(n):
    # A spiral whose points crowd together towards the centre, as a slow hand draws.
    i = np.arange(n)
    rad = 100 * i / n
    poly = [(110 + r * math.cos(k / 500), 148 + r * math.sin(k / 500)) for k, r in zip(i, rad)]
    return Hints.of(strokes=[(poly, 4.0, "#c86432")])


@pytest.mark.parametrize("make", [_points, lambda n: _points(n, spread=False), _stroke],
                         ids=["spread points", "points on one spot", "one long stroke"])
def test_the_work_grows_linearly_with_the_number_of_hints(make):
    small, large = _work(make(2_000)), _work(make(20_000))
    assert large <= 11 * small, (small, large)


def test_drawing_can_be_cancelled_between_passes(monkeypatch):
    import colorstudio.core.hints as hints_module
    monkeypatch.setattr(hints_module, "PASS_PAIRS", 5_000)
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(Cancelled):
        rasterize(_points(5_000), 220, 296, 190, 256, should_stop=should_stop)
    assert len(asked) == 4
    stats = {}
    rasterize(_points(5_000), 220, 296, 190, 256, should_stop=lambda: False, stats=stats)
    assert stats["passes"] > 4          # the cancel came part way through, not at the end


def test_the_propagation_engine_stops_when_asked(monkeypatch):
    import colorstudio.core.hints as hints_module
    from colorstudio.engines._propagation import PropagationEngine
    monkeypatch.setattr(hints_module, "PASS_PAIRS", 5_000)
    session = PropagationEngine().start(np.linspace(0, 100, 296 * 220, dtype=np.float32).reshape(296, 220))
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(Cancelled):
        session.chroma(_points(20_000), quality="render", should_stop=should_stop)
    assert len(calls) == 3


def test_photo_sized_hints_cost_only_the_last_one():
    # A hostile file of thousands of disks that each cover the whole photo: only the last
    # paints what is seen, and only it is drawn.
    many = Hints.of(points=[(50, 50, COLOURS[i % 5], 1e6) for i in range(5_000)] + [(10, 10, "#ff0000", 3)])
    stats = {}
    new = rasterize(many, 100, 100, 100, 100, stats=stats)
    assert stats["pairs"] <= 2 * 100 * 100
    last_two = Hints.of(points=[(50, 50, COLOURS[4999 % 5], 1e6), (10, 10, "#ff0000", 3)])
    old = reference_rasterize(last_two, 100, 100, 100, 100)
    np.testing.assert_allclose(new.mask, old.mask)
    np.testing.assert_allclose(new.ab, old.ab, atol=1e-4)
    np.testing.assert_allclose(new.ab[90, 90], hex_to_ab(COLOURS[4999 % 5]), atol=1e-3)
