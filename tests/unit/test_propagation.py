"""The weight-free propagation engine: no invented colour, colour that stays in its region.

Synthetic photos make the expected answer obvious: flat regions separated by strong edges
(a step of 30+ L*), hints in one region. Results are read back through scikit-image's
rgb2lab, so the checks do not rely on the code under test for colour science.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.color import rgb2lab

from colorstudio.core.color import hex_to_ab
from colorstudio.core.hints import Hints
from colorstudio.core.image import SourceImage
from colorstudio.core.jobs import Cancelled
from colorstudio.core.session import ColorizeSession
from colorstudio.engines.propagation import PropagationEngine, PropagationParams

RED, BLUE, GREEN = "#d02020", "#2050d0", "#20a040"


def lab_of(rgb: np.ndarray) -> np.ndarray:
    top = 65535.0 if rgb.dtype == np.uint16 else 255.0
    return rgb2lab(rgb.astype(np.float64) / top)


def chroma_of(rgb: np.ndarray) -> np.ndarray:
    lab = lab_of(rgb)
    return np.hypot(lab[..., 1], lab[..., 2])


def hue_of(ab) -> float:
    return math.degrees(math.atan2(ab[1], ab[0]))


def hue_gap(h1: float, h2: float) -> float:
    return abs((h1 - h2 + 180.0) % 360.0 - 180.0)


def bands(widths_values, height=64) -> np.ndarray:
    """Flat vertical bands of grey: [(width, value), ...] -> uint8 (height, sum(widths))."""
    cols = np.concatenate([np.full(w, v, np.uint8) for w, v in widths_values])
    return np.repeat(cols[None, :], height, axis=0)


def textured(h=150, w=200, seed=3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    g = 110 + 60 * np.sin(xx / 17.0) * np.cos(yy / 23.0) + rng.normal(0, 6, (h, w))
    return np.clip(g, 0, 255).astype(np.uint8)


def render(pixels: np.ndarray, hints: Hints, **params) -> np.ndarray:
    engine = PropagationEngine(**params) if params else "propagation"
    return ColorizeSession(SourceImage.from_array(pixels), engine).render(hints).rgb


# ---------------------------------------------------------------------------------------------
# No hints: no colour, ever


def test_no_hints_gives_zero_chroma_from_the_engine():
    L = SourceImage.from_array(textured()).lightness
    state = PropagationEngine().start(L)
    for quality in ("preview", "render"):
        c = state.chroma(Hints(), quality=quality)
        assert c.ab.dtype == np.float32 and c.ab.shape == c.lightness.shape + (2,)
        assert not c.ab.any()


@pytest.mark.parametrize("shape", [(16, 16), (300, 410)])
def test_no_hints_gives_back_the_grey_photo_8bit(shape):
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, shape).astype(np.uint8)
    grey.ravel()[:256] = np.arange(256)  # every 8-bit level
    session = ColorizeSession(SourceImage.from_array(grey))
    out = session.render(Hints()).rgb
    assert out.dtype == np.uint8 and out.shape == shape + (3,)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


def test_no_hints_preview_is_grey():
    grey = np.random.default_rng(5).integers(0, 256, (300, 410)).astype(np.uint8)
    prev = ColorizeSession(SourceImage.from_array(grey)).preview(Hints(), max_side=64)
    assert (prev[..., 0] == prev[..., 1]).all() and (prev[..., 1] == prev[..., 2]).all()


def test_no_hints_gives_back_the_grey_photo_16bit():
    grey = (np.arange(0, 65536, 7, dtype=np.uint32)[:9216] % 65536).astype(np.uint16).reshape(96, 96)
    out = ColorizeSession(SourceImage.from_array(grey)).render(Hints()).rgb
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[..., 1], grey)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 2] == out[..., 1]).all()


# ---------------------------------------------------------------------------------------------
# A hint colours its region, and only its region


def test_a_single_hint_colours_its_region_and_not_the_one_across_a_strong_edge():
    photo = bands([(64, 80), (64, 180)], height=96)
    out = render(photo, Hints.of(points=[(20, 48, RED, 4)]))
    lab = lab_of(out)
    C = np.hypot(lab[..., 1], lab[..., 2])
    left, right = C[:, :62], C[:, 66:]
    assert left.min() > 30
    assert hue_gap(hue_of(lab[48, 20, 1:]), hue_of(hex_to_ab(RED))) < 3
    # The whole hinted region takes the colour, including its far corners.
    assert hue_gap(hue_of(lab[0, 0, 1:]), hue_of(hex_to_ab(RED))) < 3
    assert right.max() < 2.0


def test_the_hint_chroma_is_reproduced_at_the_hint():
    photo = np.full((80, 80), 128, np.uint8)  # L* 54: the hint colour fits the gamut here
    for colour in ("#c86432", "#3366aa", "#7a9a40"):
        out = render(photo, Hints.of(points=[(40, 40, colour, 3)]))
        ab = lab_of(out)[40, 40, 1:]
        assert np.abs(ab - np.asarray(hex_to_ab(colour))).max() < 1.5


def test_two_regions_with_their_own_hints_do_not_mix():
    photo = bands([(64, 70), (64, 190)], height=80)
    out = render(photo, Hints.of(points=[(20, 40, RED, 3), (110, 40, BLUE, 3)]))
    lab = lab_of(out)
    for x, colour in ((5, RED), (50, RED), (70, BLUE), (125, BLUE)):
        assert hue_gap(hue_of(lab[40, x, 1:]), hue_of(hex_to_ab(colour))) < 5


@pytest.fixture(scope="module")
def stroke_beside_an_edge() -> np.ndarray:
    """Chroma of two flat halves with a stroke 4 px from the edge, the photo's whole height (computed once)."""
    photo = bands([(64, 80), (64, 180)], height=48)
    return chroma_of(render(photo, Hints.of(strokes=[([(58, 2), (58, 46)], 6, GREEN)])))


def test_a_strokes_colour_stays_confined_by_a_strong_edge(stroke_beside_an_edge):
    C = stroke_beside_an_edge
    assert C[:, :62].min() > 20
    assert C[:, 66:].max() < 0.1 * C[:, :62].min()


def test_a_strokes_colour_leaves_the_region_across_a_strong_edge_grey(stroke_beside_an_edge):
    assert stroke_beside_an_edge[:, 66:].max() < 2.0


def test_far_across_edges_colour_fades_to_neutral():
    photo = bands([(64, 60), (64, 140), (64, 220)])
    C = chroma_of(render(photo, Hints.of(points=[(20, 32, BLUE, 3)])))
    assert C[:, :62].min() > 30
    assert C[:, 130:].max() < 0.5  # two strong edges away: grey


def test_a_band_behind_one_strong_edge_stays_neutral():
    photo = bands([(64, 60), (64, 140), (64, 220)])
    C = chroma_of(render(photo, Hints.of(points=[(20, 32, BLUE, 3)])))
    assert C[:, 66:126].max() < 2.0


def test_in_one_flat_region_colour_fades_with_distance():
    photo = np.full((256, 256), 120, np.uint8)
    C = chroma_of(render(photo, Hints.of(points=[(5, 5, RED, 2)])))
    along = C.diagonal()
    assert along[0] > 60
    assert np.all(np.diff(along) <= 1e-6)           # never grows away from the hint
    assert along[-1] < 0.5 * along[0]                # and clearly fades far from it


# ---------------------------------------------------------------------------------------------
# Preview and render; sizes of hints; the session's cache


def test_preview_and_render_agree_in_hue_near_the_hint():
    photo = textured(240, 320)
    hints = Hints.of(points=[(80, 60, RED, 4), (250, 180, BLUE, 4)], strokes=[([(20, 200), (140, 220)], 8, GREEN)])
    # Smaller working grids than the defaults keep the test fast; the paths are the same.
    session = ColorizeSession(SourceImage.from_array(photo), PropagationEngine(render_side=96, preview_side=48))
    full = lab_of(session.render(hints).rgb)
    prev = lab_of(session.preview(hints, max_side=160))  # half size
    for x, y, colour in ((80, 60, RED), (250, 180, BLUE), (80, 210, GREEN)):
        h_full = hue_of(full[y, x, 1:])
        h_prev = hue_of(prev[y // 2, x // 2, 1:])
        assert hue_gap(h_full, h_prev) < 5
        assert hue_gap(h_full, hue_of(hex_to_ab(colour))) < 10


@pytest.mark.parametrize("kind,size", [("point", 0.3), ("point", 1.0), ("point", 3.0), ("point", 25.0),
                                       ("stroke", 0.5), ("stroke", 2.0), ("stroke", 10.0), ("stroke", 40.0)])
def test_points_and_strokes_of_any_size_colour_the_photo(kind, size):
    # The working grids (64 and 32 px) are much smaller than the photo, so the smallest hints
    # are sub-pixel there, as on a big photo with the default grids.
    photo = textured(150, 300)
    if kind == "point":
        hints = Hints.of(points=[(150.0, 75.0, BLUE, size)])
    else:
        hints = Hints.of(strokes=[([(100.0, 75.0), (200.0, 75.0)], size, BLUE)])
    session = ColorizeSession(SourceImage.from_array(photo), PropagationEngine(render_side=64, preview_side=32))
    for out in (session.render(hints).rgb, session.preview(hints, max_side=300)):
        assert out.shape == (150, 300, 3)
        lab = lab_of(out)
        assert np.isfinite(lab).all()
        ab = lab[75, 150, 1:]
        assert math.hypot(*ab) > 15
        assert hue_gap(hue_of(ab), hue_of(hex_to_ab(BLUE))) < 10


def test_the_session_cache_gives_the_same_answer_as_a_fresh_session():
    photo = SourceImage.from_array(textured())
    engine = PropagationEngine(render_side=100, preview_side=50)
    base = Hints.of(points=[(30, 30, RED, 3), (150, 100, BLUE, 3)])
    more = base.with_point(base.points[0].moved(100, 40).recoloured(GREEN))
    session = ColorizeSession(photo, engine)
    first = session.render(base).rgb
    session.preview(more, max_side=128)
    with_more = session.render(more).rgb
    back = session.render(more.without_point(2)).rgb
    assert np.abs(back.astype(int) - first).max() <= 1
    assert np.abs(with_more.astype(int) - ColorizeSession(photo, engine).render(more).rgb).max() <= 1
    assert np.abs(with_more.astype(int) - first).max() > 20


def test_working_grids_respect_preview_render_and_max_side():
    L = SourceImage.from_array(textured(300, 600)).lightness
    p = PropagationParams()
    state = PropagationEngine().start(L)
    hints = Hints.of(points=[(10, 10, RED)])
    assert max(state.chroma(hints, quality="preview").ab.shape[:2]) == p.preview_side
    assert max(state.chroma(hints, quality="preview", max_side=64).ab.shape[:2]) == 64
    render_ = state.chroma(hints, quality="render")
    assert max(render_.ab.shape[:2]) == p.render_side
    assert render_.ab.dtype == np.float32 and np.isfinite(render_.ab).all()
    assert render_.lightness.shape == render_.ab.shape[:2]
    # A photo smaller than the grid is worked on at its own size, never enlarged.
    small = PropagationEngine().start(L[:40, :50]).chroma(hints, quality="render")
    assert small.ab.shape == (40, 50, 2)


def test_should_stop_cancels_a_request():
    state = PropagationEngine().start(SourceImage.from_array(textured()).lightness)
    with pytest.raises(Cancelled):
        state.chroma(Hints.of(points=[(10, 10, RED)]), should_stop=lambda: True)
    session = ColorizeSession(SourceImage.from_array(textured()))
    with pytest.raises(Cancelled):
        session.render(Hints.of(points=[(10, 10, RED)]), should_stop=lambda: True)


# ---------------------------------------------------------------------------------------------
# Soft targets (the reference engine's data term)


def test_soft_chroma_without_soft_weight_is_exactly_the_hint_solve():
    L = SourceImage.from_array(bands([(60, 40), (60, 200)])).lightness
    state = PropagationEngine().start(L)
    hints = Hints.of(points=[(20, 30, RED, 3)], image_size=(120, 64))
    grid = state.grid(256)
    soft = state.soft_chroma(hints, np.zeros((grid.h, grid.w, 2), np.float32),
                             np.zeros((grid.h, grid.w), np.float32), side=256)
    assert np.array_equal(soft.ab, state.chroma(hints).ab)


def test_soft_targets_colour_their_region_and_hints_win_where_placed():
    L = SourceImage.from_array(bands([(60, 40), (60, 200)])).lightness
    state = PropagationEngine().start(L)
    grid = state.grid(256)
    target = np.zeros((grid.h, grid.w, 2), np.float32)
    target[...] = hex_to_ab(BLUE)
    weight = np.zeros((grid.h, grid.w), np.float32)
    weight[:, :60] = 0.5                       # the dark band only
    c = state.soft_chroma(Hints(), target, weight, side=256)
    assert hue_gap(hue_of(c.ab[30, 30]), hue_of(hex_to_ab(BLUE))) < 5
    assert np.hypot(*c.ab[30, 100]) < 2        # the bright band, behind a strong edge, stays neutral
    hints = Hints.of(points=[(30, 30, RED, 3)], image_size=(120, 64))
    c = state.soft_chroma(hints, target, weight, side=256)
    assert hue_gap(hue_of(c.ab[30, 30]), hue_of(hex_to_ab(RED))) < 5
