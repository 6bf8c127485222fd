"""Hit-testing and the view transform: pure functions, no Qt."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from colorstudio.core.hints import Hints, PointHint, Stroke
from colorstudio.gui.geometry import (View, actual_size_view, distance_to_polyline, distance_to_segment,
                                      fit_view, hints_under_disk, hit_hint, hit_point, hit_stroke,
                                      near_divider, segment_samples, simplify_append,
                                      stroke_lightness_samples)


def _hints():
    return Hints(points=(PointHint(10, 10, "#ff0000", 3), PointHint(12, 10, "#00ff00", 3),
                         PointHint(100, 100, "#0000ff", 2)),
                 strokes=(Stroke(((0.0, 50.0), (100.0, 50.0)), 10.0, "#ffff00"),
                          Stroke(((50.0, 0.0), (50.0, 100.0)), 4.0, "#00ffff")))


def test_geometry_module_does_not_import_qt():
    code = ("import sys, colorstudio.gui.geometry; "
            "sys.exit(any(m.startswith(('PySide6', 'qtawesome')) for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_point_under_the_cursor_is_hit():
    h = _hints()
    assert hit_point(h.points, 100.5, 101, 0) == 2
    assert hit_point(h.points, 100, 103.5, 0) is None
    assert hit_point(h.points, 100, 103.5, 2) == 2, "tolerance widens the target"
    assert hit_point(h.points, 300, 300, 5) is None


def test_overlapping_points_prefer_the_one_whose_disk_holds_the_cursor_then_the_nearest():
    h = _hints()
    assert hit_point(h.points, 9, 10, 0) == 0
    assert hit_point(h.points, 13, 10, 0) == 1
    assert hit_point(h.points, 11, 10, 0) in (0, 1)
    # Equidistant: the one drawn on top (the later one) wins.
    assert hit_point(h.points, 11, 10, 0) == 1


def test_strokes_are_hit_within_half_their_width():
    h = _hints()
    assert hit_stroke(h.strokes, 20, 54.9, 0) == 0
    assert hit_stroke(h.strokes, 20, 55.5, 0) is None
    assert hit_stroke(h.strokes, 20, 55.5, 1) == 0
    assert hit_stroke(h.strokes, 50, 50, 0) == 1, "the topmost (later) stroke wins where they cross"


def test_points_sit_on_top_of_strokes():
    h = Hints(points=(PointHint(20, 50, "#ff0000", 3),), strokes=_hints().strokes)
    assert hit_hint(h, 20, 50) == ("point", 0)
    assert hit_hint(h, 30, 50) == ("stroke", 0)
    assert hit_hint(h, 80, 80) is None


def test_the_eraser_finds_everything_its_disk_touches():
    h = _hints()
    pts, sts = hints_under_disk(h, 11, 12, 2)
    assert pts == [0, 1] and sts == []
    pts, sts = hints_under_disk(h, 50, 50, 1)
    assert pts == [] and sts == [0, 1]
    assert hints_under_disk(h, 200, 200, 5) == ([], [])


def test_distances():
    assert distance_to_segment(5, 5, 0, 0, 10, 0) == 5
    assert distance_to_segment(-3, 4, 0, 0, 10, 0) == 5, "beyond the end the nearest end counts"
    assert distance_to_segment(3, 4, 0, 0, 0, 0) == 5, "a zero-length segment is a point"
    assert distance_to_polyline(0, 0, []) == math.inf
    assert distance_to_polyline(3, 4, [(0, 0)]) == 5


@settings(max_examples=200, deadline=None)
@given(scale=st.floats(0.05, 20), ox=st.floats(-1e4, 1e4), oy=st.floats(-1e4, 1e4),
       x=st.floats(-1e4, 1e4), y=st.floats(-1e4, 1e4))
def test_widget_and_photo_coordinates_round_trip(scale, ox, oy, x, y):
    v = View(scale, ox, oy)
    bx, by = v.to_photo(*v.to_widget(x, y))
    assert bx == pytest.approx(x, abs=1e-6 * max(1, abs(x))) and by == pytest.approx(y, abs=1e-6 * max(1, abs(y)))


@settings(max_examples=200, deadline=None)
@given(factor=st.floats(0.2, 5), wx=st.floats(0, 2000), wy=st.floats(0, 2000))
def test_zoom_keeps_the_point_under_the_cursor_still(factor, wx, wy):
    v = View(0.7, 13, -40)
    before = v.to_photo(wx, wy)
    after = v.zoomed_at(factor, wx, wy).to_photo(wx, wy)
    assert after == pytest.approx(before, rel=1e-6, abs=1e-6)


def test_zoom_is_clamped():
    v = View(1.0, 0, 0)
    assert v.zoomed_at(1e9, 0, 0).scale == 32
    assert v.zoomed_at(1e-9, 0, 0).scale == 1 / 64


def test_fit_centres_the_whole_photo():
    v = fit_view(2000, 1000, 808, 608, margin=4)
    assert v.scale == pytest.approx(0.4)
    x0, y0 = v.to_widget(0, 0)
    x1, y1 = v.to_widget(2000, 1000)
    assert x0 == pytest.approx(4) and x1 == pytest.approx(804)
    assert (y0 + y1) / 2 == pytest.approx(304)
    assert fit_view(0, 0, 100, 100) == View()


def test_actual_size_keeps_the_centre():
    v = View(0.25, 10, 20)
    centre = v.to_photo(400, 300)
    a = actual_size_view(v, 4000, 3000, 800, 600)
    assert a.scale == 1.0
    assert a.to_photo(400, 300) == pytest.approx(centre)


def test_pan_and_divider():
    assert View(2, 1, 1).panned(5, -3) == View(2, 6, -2)
    assert near_divider(103, 100) and not near_divider(110, 100)


def test_stroke_building_skips_tiny_moves():
    pts = ((0.0, 0.0),)
    assert simplify_append(pts, 0.5, 0.5, 2.0) is None
    assert simplify_append(pts, 3, 0, 2.0) == ((0.0, 0.0), (3.0, 0.0))
    assert simplify_append((), 1, 1, 2.0) == ((1.0, 1.0),)


def test_stroke_lightness_samples_stay_inside_the_photo():
    samples = stroke_lightness_samples([(-5, -5), (50, 20), (500, 500)], 100, 80)
    assert samples == [(0, 0), (50, 20), (99, 79)]
    assert len(stroke_lightness_samples([(i, i) for i in range(1000)], 2000, 2000, limit=10)) <= 20


def test_segment_samples_cover_the_path_without_gaps():
    pts = segment_samples((0, 0), (10, 0), 3)
    assert pts[-1] == (10, 0) and (0, 0) not in pts
    gaps = [b[0] - a[0] for a, b in zip([(0, 0)] + pts[:-1], pts)]
    assert max(gaps) <= 3
    assert segment_samples((1, 1), (1, 1), 2) == [(1.0, 1.0)]
