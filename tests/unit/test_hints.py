"""Hints: the JSON file format, error messages that name the field, geometry, rasterisation."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from colorstudio.core.color import hex_to_ab
from colorstudio.core.hints import Hints, HintsError, PointHint, Stroke, rasterize

EXAMPLE = {
    "format": "colorstudio.hints",
    "version": 1,
    "image": {"width": 768, "height": 512},
    "points": [{"x": 120.5, "y": 88.0, "radius": 3.0, "color": "#c86432"}],
    "strokes": [{"points": [[10, 10], [40, 12], [80, 30]], "width": 6.0, "color": "#3366aa"}],
}


def with_changes(**top) -> dict:
    d = json.loads(json.dumps(EXAMPLE))
    d.update(top)
    return d


def point(**fields) -> dict:
    return {"x": 1, "y": 2, "color": "#c86432", **fields}


def stroke(**fields) -> dict:
    return {"points": [[1, 2], [3, 4]], "width": 2, "color": "#3366aa", **fields}


# ---------------------------------------------------------------------------------------------
# The file format


def test_the_readme_example_reads_as_written():
    h = Hints.from_dict(EXAMPLE)
    assert h.image_size == (768, 512)
    assert h.points == (PointHint(120.5, 88.0, "#c86432", 3.0),)
    assert h.strokes == (Stroke(((10.0, 10.0), (40.0, 12.0), (80.0, 30.0)), 6.0, "#3366aa"),)
    assert h.to_dict() == EXAMPLE


def test_round_trip_keeps_unknown_keys_everywhere(tmp_path):
    data = with_changes(
        author="A. Restorer", notes={"session": 3, "tags": ["sky", "coat"]},
        points=[{"x": 1.25, "y": 2, "radius": 4, "color": "#abcdef", "label": "coat", "locked": True}],
        strokes=[{"points": [[0, 0], [5, 5]], "width": 3, "color": "#010203", "pressure": [0.2, 0.9]}],
    )
    h = Hints.from_dict(data)
    assert h.extra == {"author": "A. Restorer", "notes": {"session": 3, "tags": ["sky", "coat"]}}
    assert h.points[0].extra == {"label": "coat", "locked": True}
    assert h.strokes[0].extra == {"pressure": [0.2, 0.9]}
    assert h.to_dict() == data

    path = tmp_path / "photo.hints.json"
    h.save(path)
    assert json.loads(path.read_text(encoding="utf-8")) == data
    again = Hints.load(path)
    assert again == h and again.to_dict() == data
    # Edits keep what they do not touch.
    moved = again.replace_point(0, again.points[0].moved(3, 4))
    assert moved.to_dict()["points"][0]["label"] == "coat"
    assert moved.to_dict()["author"] == "A. Restorer"


def test_defaults_and_colour_normalisation():
    h = Hints.from_dict({"points": [{"x": 1, "y": 2, "color": "#ABC"}],
                         "strokes": [{"points": [[1, 2]], "color": [200, 100, 50]}]})
    assert h.image_size is None
    assert h.points[0].radius == 3.0 and h.points[0].color == "#aabbcc"
    assert h.strokes[0].width == 6.0 and h.strokes[0].color == "#c86432"
    # format, version, image, points and strokes may all be left out.
    assert Hints.from_dict({}) == Hints()
    assert Hints.from_dict({"points": None, "strokes": None}).is_empty


def test_save_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "h.json"
    path.write_text("old")
    Hints.from_dict(EXAMPLE).save(path)
    assert json.loads(path.read_text()) == EXAMPLE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.json"]


@pytest.mark.parametrize("data,message", [
    ([1, 2], "the hints file must hold a JSON object"),
    ("text", "the hints file must hold a JSON object"),
    (with_changes(format="something.else"), "format: 'something.else' is not \"colorstudio.hints\""),
    (with_changes(version=2), "version: 2 is not supported"),
    (with_changes(version="1"), "version: '1' is not a whole number"),
    (with_changes(version=True), "version: True is not a whole number"),
    (with_changes(image=[768, 512]), "image: must be an object"),
    (with_changes(image={"width": 768}), "image.height: None is not a positive number"),
    (with_changes(image={"width": -5, "height": 5}), "image.width: -5 is not a positive number"),
    (with_changes(points={"x": 1}), "points: must be a list"),
    (with_changes(strokes="none"), "strokes: must be a list"),
    (with_changes(points=[point(), "p"]), "points[1]: must be an object"),
    (with_changes(points=[point(), point(), point(), point(color="#12345")]),
     'points[3].color: "#12345" is not a colour'),
    (with_changes(points=[{"y": 2, "color": "#fff"}]), "points[0].x: missing"),
    (with_changes(points=[{"x": 2, "color": "#fff"}]), "points[0].y: missing"),
    (with_changes(points=[{"x": 1, "y": 2}]), "points[0].color: missing"),
    (with_changes(points=[point(x="12")]), 'points[0].x: "12" is not a number'),
    (with_changes(points=[point(y=None)]), "points[0].y: null is not a number"),
    (with_changes(points=[point(x=True)]), "points[0].x: true is not a number"),
    (with_changes(points=[point(x=float("nan"))]), "points[0].x: NaN is not a number"),
    (with_changes(points=[point(y=float("inf"))]), "points[0].y: Infinity is not a number"),
    (with_changes(points=[point(radius=-1)]), "points[0].radius: -1 is not a positive number"),
    (with_changes(points=[point(radius=0)]), "points[0].radius: 0 is not a positive number"),
    (with_changes(points=[point(radius="big")]), 'points[0].radius: "big" is not a positive number'),
    (with_changes(points=[point(color=[1, 2])]), "points[0].color: [1, 2] is not a colour"),
    (with_changes(strokes=[stroke(), 5]), "strokes[1]: must be an object"),
    (with_changes(strokes=[stroke(points=[])]), "strokes[0].points: must be a non-empty list"),
    (with_changes(strokes=[stroke(points=None)]), "strokes[0].points: must be a non-empty list"),
    (with_changes(strokes=[stroke(points=[[1, 2], [3]])]), "strokes[0].points[1]: [3] is not an [x, y] pair"),
    (with_changes(strokes=[stroke(points=[[1, 2], [3, 4, 5]])]),
     "strokes[0].points[1]: [3, 4, 5] is not an [x, y] pair"),
    (with_changes(strokes=[stroke(points=[[1, "a"]])]), 'strokes[0].points[0]: [1, "a"] is not an [x, y] pair'),
    (with_changes(strokes=[stroke(points=[{"x": 1, "y": 2}])]), "strokes[0].points[0]:"),
    (with_changes(strokes=[stroke(width=-2)]), "strokes[0].width: -2 is not a positive number"),
    (with_changes(strokes=[stroke(width=0)]), "strokes[0].width: 0 is not a positive number"),
    (with_changes(strokes=[stroke(), stroke(color="blue-ish")]), 'strokes[1].color: "blue-ish" is not a colour'),
])
def test_malformed_hints_name_the_field_and_the_entry(data, message):
    with pytest.raises(HintsError) as info:
        Hints.from_dict(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("field", ["x", "radius"])
def test_a_huge_integer_is_a_hints_error(field):
    data = with_changes(points=[point(**{field: 10 ** 400})])
    with pytest.raises(HintsError, match=rf"points\[0\]\.{field}"):
        Hints.from_dict(data)


def test_an_image_size_under_one_pixel_is_refused():
    data = with_changes(image={"width": 0.5, "height": 512})
    try:
        h = Hints.from_dict(data)
    except HintsError as exc:
        assert "image.width" in str(exc)
        return
    # Accepted: then it must at least work.
    rasterize(h, 768, 512, 96, 64)


# ---------------------------------------------------------------------------------------------
# Loading files: every problem is a HintsError with a sentence


def _load_error(path) -> str:
    with pytest.raises(HintsError) as info:
        Hints.load(path)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_load_errors_are_one_sentence(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"points": [1, 2,]}')
    assert "bad.json is not valid JSON (line 1, column" in _load_error(p)

    p.write_bytes(b'{"points": []}\xff\xfe')
    assert "is not a hints file (it is not UTF-8 text)" in _load_error(p)

    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "is not a hints file" in _load_error(p)

    assert "does not exist" in _load_error(tmp_path / "missing.json")
    assert "is a folder, not a hints file" in _load_error(tmp_path)

    p.write_text(json.dumps(with_changes(version=3)))
    assert _load_error(p).startswith("bad.json: version: 3 is not supported")

    p.write_text(json.dumps(with_changes(format="colorstudio.document")))
    assert _load_error(p).startswith("bad.json: format:")

    p.write_text(json.dumps(with_changes(points=[point(), point(color="#12345")])))
    assert _load_error(p) == 'bad.json: points[1].color: "#12345" is not a colour'

    p.write_text("")
    assert "is not valid JSON" in _load_error(p)


def test_deeply_nested_json_is_a_hints_error(tmp_path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 100_000 + "]" * 100_000)
    _load_error(p)


# ---------------------------------------------------------------------------------------------
# Geometry


def test_scaled_to_scales_coordinates_radii_and_widths():
    h = Hints.from_dict(with_changes(image={"width": 200, "height": 100},
                                     points=[point(x=50, y=25, radius=4)],
                                     strokes=[stroke(points=[[10, 10], [20, 30]], width=6)]))
    s = h.scaled_to(400, 300)
    assert s.image_size == (400, 300)
    p = s.points[0]
    assert (p.x, p.y) == (100, 75)
    assert p.radius == pytest.approx(4 * math.sqrt(2 * 3))
    assert s.strokes[0].points == ((20, 30), (40, 90))
    assert s.strokes[0].width == pytest.approx(6 * math.sqrt(6))
    assert s.points[0].color == h.points[0].color

    # Same size, or no recorded size: coordinates stay as they are.
    assert h.scaled_to(200, 100).points == h.points
    bare = Hints.of(points=[(5, 6, "#fff")])
    assert bare.scaled_to(999, 999).points == bare.points
    assert bare.scaled_to(999, 999).image_size == (999, 999)


def test_problems_outside_names_each_hint_that_misses_the_photo():
    h = Hints.of(points=[(10, 10, "#f00"), (100, 50, "#f00"), (101, 5, "#f00"), (-0.5, 5, "#f00"), (0, 0, "#f00")],
                 strokes=[([(10, 10), (500, 500)], 4, "#0f0"),       # partly inside
                          ([(200, 200), (300, 300)], 4, "#0f0"),     # entirely outside
                          ([(-1.5, 20)], 4, "#0f0")])                # a dab whose disk touches the edge
    problems = h.problems_outside(100, 50)
    assert problems == [
        "points[2] at (101, 5) lies outside the 100\u00d750 photo",
        "points[3] at (-0.5, 5) lies outside the 100\u00d750 photo",
        "strokes[1] lies entirely outside the 100\u00d750 photo",
    ]
    assert Hints.from_dict(EXAMPLE).problems_outside(768, 512) == []


def test_a_stroke_across_the_photo_with_both_ends_outside_is_inside():
    h = Hints.of(strokes=[([(-10, 50), (110, 50)], 6, "#f00")])
    assert h.problems_outside(100, 100) == []


# ---------------------------------------------------------------------------------------------
# Rasterisation


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]] + 0.5
    return float((mask * xx).sum() / mask.sum()), float((mask * yy).sum() / mask.sum())


@pytest.mark.parametrize("radius", [0.8, 1.5, 3.0, 10.0])
def test_a_point_covers_its_disk_at_scale_one(radius):
    x, y = 40.3, 37.8
    r = rasterize(Hints.of(points=[(x, y, "#ff0000", radius)]), 80, 80, 80, 80)
    assert r.mask.dtype == np.float32 and r.mask.shape == (80, 80) and r.ab.shape == (80, 80, 2)
    assert r.mask.min() >= 0.0 and r.mask.max() <= 1.0
    assert r.mask.max() == 1.0 if radius >= 1.0 else r.mask.max() > 0.9
    # Antialiased coverage: the disk's area (the 1-pixel floor makes tiny disks a little bigger).
    assert r.mask.sum() == pytest.approx(math.pi * max(radius, 0.5) ** 2, rel=0.13)
    cx, cy = _centroid(r.mask)
    assert abs(cx - x) < 0.1 and abs(cy - y) < 0.1
    # Nothing far outside the disk.
    yy, xx = np.mgrid[0:80, 0:80] + 0.5
    assert not r.mask[np.hypot(xx - x, yy - y) > radius + 1.5].any()
    # The chroma is the hint colour's wherever the mask is set.
    a, b = hex_to_ab("#ff0000")
    covered = r.mask > 0
    np.testing.assert_allclose(r.ab[covered], np.broadcast_to([a, b], (covered.sum(), 2)), atol=1e-3)
    assert not r.ab[~covered].any()
    assert r.any


@pytest.mark.parametrize("x,y", [(505.0, 505.0), (501.0, 509.0), (999.5, 0.5), (0.0, 0.0), (1000.0, 1000.0)])
def test_a_sub_pixel_point_at_a_coarse_scale_still_marks_its_pixel(x, y):
    r = rasterize(Hints.of(points=[(x, y, "#00ff00", 2.0)]), 1000, 1000, 100, 100)
    col, row = min(int(x / 10), 99), min(int(y / 10), 99)
    assert r.mask[row, col] == 1.0
    assert np.count_nonzero(r.mask) == 1  # only the pixel the centre falls in
    np.testing.assert_allclose(r.ab[row, col], hex_to_ab("#00ff00"), atol=1e-3)


def test_a_sub_pixel_point_marks_only_the_pixel_it_falls_in():
    r = rasterize(Hints.of(points=[(559.0, 555.0, "#00ff00", 2.0)]), 1000, 1000, 100, 100)
    assert np.argwhere(r.mask > 0).tolist() == [[55, 55]]


def test_coarse_rasterisation_keeps_hints_apart_and_in_place():
    pts = [(12.0, 15.0, "#ff0000", 3.0), (600.0, 480.0, "#0000ff", 3.0), (990.0, 20.0, "#00ff00", 1.0)]
    r = rasterize(Hints.of(points=pts), 1000, 500, 128, 64)
    for x, y, c, _ in pts:
        col, row = int(x * 128 / 1000), int(y * 64 / 500)
        assert r.mask[row, col] == 1.0
        np.testing.assert_allclose(r.ab[row, col], hex_to_ab(c), atol=1e-3)


@pytest.mark.parametrize("width", [0.2, 1.0, 6.0, 30.0])
def test_strokes_of_any_width_cover_their_path(width):
    pts = [(20.0, 50.0), (80.0, 50.0)]
    r = rasterize(Hints.of(strokes=[(pts, width, "#3366aa")]), 100, 100, 100, 100)
    # Every column along the path is marked, so a thin stroke is never broken.
    assert (r.mask[:, 20:80] > 0).any(axis=0).all()
    assert r.mask[50, 20:80].min() > 0.45
    area = 60 * max(width, 1.0) + math.pi * max(width, 1.0) ** 2 / 4
    assert r.mask.sum() == pytest.approx(area, rel=0.1)
    # The band is symmetric about the line y = 50.
    cx, cy = _centroid(r.mask)
    assert abs(cy - 50.0) < 0.05 and abs(cx - 50.0) < 0.05


def test_polyline_stroke_follows_every_segment_and_a_single_point_is_a_dab():
    r = rasterize(Hints.of(strokes=[([(10, 10), (90, 10), (90, 90)], 4, "#ff0000")]), 100, 100, 100, 100)
    assert r.mask[10, 10:90].min() == 1.0 and r.mask[10:90, 89].min() == 1.0
    assert r.mask[50, 50] == 0.0
    dab = rasterize(Hints.of(strokes=[([(30, 30)], 8, "#ff0000")]), 100, 100, 100, 100)
    assert dab.mask.sum() == pytest.approx(math.pi * 16, rel=0.05)


def test_a_stroke_at_a_coarse_scale_stays_connected():
    r = rasterize(Hints.of(strokes=[([(0, 0), (999, 999)], 2, "#ff0000")]), 1000, 1000, 50, 50)
    diag = [r.mask[i, i] for i in range(50)]
    assert min(diag) > 0.45


def test_later_hints_paint_over_earlier_ones():
    red, blue = hex_to_ab("#ff0000"), hex_to_ab("#0000ff")
    a = (30.0, 30.0, "#ff0000", 8.0)
    b = (36.0, 30.0, "#0000ff", 8.0)
    r = rasterize(Hints.of(points=[a, b]), 64, 64, 64, 64)
    np.testing.assert_allclose(r.ab[30, 33], blue, atol=1e-3)   # the overlap is the later colour
    np.testing.assert_allclose(r.ab[30, 25], red, atol=1e-3)    # the rest of the first stays
    swapped = rasterize(Hints.of(points=[b, a]), 64, 64, 64, 64)
    np.testing.assert_allclose(swapped.ab[30, 33], red, atol=1e-3)
    np.testing.assert_array_equal(r.mask, swapped.mask)
    # Where a later disk only partly covers a pixel, the colour is a mix of the two.
    yy, xx = np.mgrid[0:64, 0:64] + 0.5
    d = np.hypot(xx - 36, yy - 30)
    edge = (d > 7.6) & (d < 8.4) & (np.hypot(xx - 30, yy - 30) < 7)
    assert edge.any()
    for iy, ix in np.argwhere(edge):
        t = (r.ab[iy, ix] - red) / (np.asarray(blue) - red)
        assert 0.0 < t[0] < 1.0 and abs(t[0] - t[1]) < 1e-3


def test_points_are_drawn_over_strokes():
    r = rasterize(Hints.of(points=[(50, 50, "#00ff00", 4)], strokes=[([(0, 50), (100, 50)], 10, "#ff0000")]),
                  100, 100, 100, 100)
    np.testing.assert_allclose(r.ab[50, 50], hex_to_ab("#00ff00"), atol=1e-3)
    np.testing.assert_allclose(r.ab[50, 20], hex_to_ab("#ff0000"), atol=1e-3)


def test_rasterize_uses_the_hints_own_image_size():
    h = Hints.from_dict({"image": {"width": 100, "height": 50},
                         "points": [{"x": 25, "y": 10, "radius": 2, "color": "#ff0000"}]})
    r = rasterize(h, 400, 200, 400, 200)
    cx, cy = _centroid(r.mask)
    assert abs(cx - 100) < 0.1 and abs(cy - 40) < 0.1
    assert r.mask.sum() == pytest.approx(math.pi * 8 ** 2, rel=0.05)


def test_no_hints_and_hints_off_the_raster_mark_nothing():
    assert not rasterize(Hints(), 10, 10, 10, 10).any
    off = rasterize(Hints.of(points=[(500, 500, "#f00", 2)]), 100, 100, 100, 100)
    assert not off.mask.any() and not off.ab.any()


def test_unknown_keys_inside_image_survive_a_resave(tmp_path):
    data = {"format": "colorstudio.hints", "version": 1,
            "image": {"width": 10, "height": 20, "source": "scan-0042.tif"}, "points": [], "strokes": []}
    path = tmp_path / "h.json"
    Hints.from_dict(data).save(path)
    assert Hints.load(path).to_dict()["image"] == {"source": "scan-0042.tif", "width": 10, "height": 20}
