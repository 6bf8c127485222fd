"""Strength and the two looks of a stylization, applied at composition (no network)."""
from __future__ import annotations

import numpy as np
import pytest

from colorstudio.core.style_blend import LOOK, LOOKS, blend_style, painted_lightness_full
from colorstudio.engines.base import Chroma


def _chroma(seed=0, h=24, w=32, base=True):
    rng = np.random.default_rng(seed)
    L = rng.uniform(5, 95, (h, w)).astype(np.float32)
    return Chroma(ab=rng.uniform(-60, 60, (h, w, 2)).astype(np.float32), lightness=L,
                  base_ab=rng.uniform(-20, 20, (h, w, 2)).astype(np.float32) if base else None,
                  painted_lightness=rng.uniform(0, 100, (h, w)).astype(np.float32))


@pytest.mark.parametrize("look", LOOKS)
def test_strength_zero_is_the_base_and_one_is_the_stylization(look):
    c = _chroma()
    L0, ab0 = blend_style(c.lightness, c, 0.0, look)
    L1, ab1 = blend_style(c.lightness, c, 1.0, look)
    np.testing.assert_array_equal(ab0, c.base_ab)
    np.testing.assert_allclose(ab1, c.ab, atol=1e-5)
    np.testing.assert_array_equal(L0, c.lightness)
    np.testing.assert_allclose(L1, c.painted_lightness if look == "painting" else c.lightness, atol=1e-5)


def test_without_a_base_strength_zero_is_grey():
    c = _chroma(base=False)
    _, ab = blend_style(c.lightness, c, 0.0)
    assert not ab.any()


@pytest.mark.parametrize("look", LOOKS)
def test_every_channel_moves_monotonically_from_base_to_stylization(look):
    c = _chroma(1)
    steps = [blend_style(c.lightness, c, s, look) for s in np.linspace(0, 1, 11)]
    ab_dir = np.sign(c.ab - c.base_ab)
    L_dir = np.sign(c.painted_lightness - c.lightness) if look == "painting" else 0
    for (La, aba), (Lb, abb) in zip(steps, steps[1:]):
        assert np.all((abb - aba) * ab_dir >= -1e-5)
        assert np.all((Lb - La) * L_dir >= -1e-5)
    # and it does move: halfway is halfway
    _, half = blend_style(c.lightness, c, 0.5, look)
    np.testing.assert_allclose(half, (c.ab + c.base_ab) / 2, atol=1e-4)


@pytest.mark.parametrize("s", [0.0, 0.3, 1.0])
def test_keeping_the_tones_keeps_the_photos_L_exactly(s):
    c = _chroma(2)
    L, _ = blend_style(c.lightness, c, s, "tones")
    assert L.dtype == np.float32
    np.testing.assert_array_equal(L, c.lightness)


def test_full_painting_takes_the_painted_L_by_strength():
    c = _chroma(3)
    L, _ = blend_style(c.lightness, c, 0.25, "painting")
    np.testing.assert_allclose(L, c.lightness + 0.25 * (c.painted_lightness - c.lightness), atol=1e-4)


def test_bad_strength_or_look_is_a_sentence():
    c = _chroma()
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="strength must be"):
            blend_style(c.lightness, c, bad)
    with pytest.raises(ValueError, match="look must be"):
        blend_style(c.lightness, c, 0.5, "sepia")
    assert LOOK.validate("painting") == "painting"
    with pytest.raises(ValueError):
        LOOK.validate("sepia")


def test_painted_lightness_at_full_size_keeps_detail_and_follows_the_painting():
    h, w = 20, 30
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    L = 30 + 1.0 * x + 0.5 * y                       # smooth photo at working size
    painted = L + 10 - 0.5 * x                        # a smooth change of tones
    c = Chroma(ab=np.zeros((h, w, 2), np.float32), lightness=L, painted_lightness=painted)
    rng = np.random.default_rng(5)
    detail = rng.normal(0, 3, (4 * h, 4 * w)).astype(np.float32)
    full = np.kron(L, np.ones((4, 4), np.float32)) + detail
    np.testing.assert_array_equal(painted_lightness_full(full, c, 0.0), full)
    for s in (0.5, 1.0):
        out = painted_lightness_full(full, c, s)
        assert out.shape == full.shape
        change = (out - full).reshape(h, 4, w, 4).mean(axis=(1, 3))
        inner = (slice(1, -1), slice(1, -1))
        # the change of tones is the painting's (times strength), away from the edges
        np.testing.assert_allclose(change[inner], s * (painted - L)[inner], atol=0.2)
        # and the photo's own fine detail is still there
        assert np.corrcoef((out - np.kron(out.reshape(h, 4, w, 4).mean(axis=(1, 3)), np.ones((4, 4)))).ravel(),
                           detail.ravel())[0, 1] > 0.9


# -- a strength step, painted: fields fitted once per answer ---------------------------------

@pytest.mark.parametrize("base", [True, False])
@pytest.mark.parametrize("size", [(24, 32), (50, 70)])     # at the working size, and upsampled
def test_style_field_composes_like_fitting_the_blend(base, size):
    from colorstudio.core.compose import chroma_field, compose
    from colorstudio.core.resample import resize_bilinear
    from colorstudio.core.style_blend import style_field
    c = _chroma(3, base=base)
    L = resize_bilinear(c.lightness, *size)
    for s in (0.0, 0.3, 1.0):
        _, ab = blend_style(c.lightness, c, s)
        want = compose(L, chroma_field(ab, c.lightness))
        got = compose(L, style_field(c, s))
        assert np.abs(want.astype(int) - got.astype(int)).max() <= 1


def test_a_strength_step_fits_no_field_once_the_answer_has_one(monkeypatch):
    import colorstudio.core.compose as compose_mod
    from colorstudio.core.style_blend import style_field
    calls = []
    real = compose_mod.chroma_field

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(compose_mod, "chroma_field", spy)
    c = _chroma(4)
    for s in np.linspace(0, 1, 6):
        compose_mod.compose(c.lightness, style_field(c, s))
    assert len(calls) == 2          # the stylization's and the base's, once
    other = _chroma(5, base=False)
    style_field(other, 0.5)
    assert len(calls) == 3          # a new answer is fitted, its grey base needs none


def test_painted_lightness_kept_between_steps_equals_the_banded_one(monkeypatch):
    import colorstudio.core.style_blend as sb
    c = _chroma(6)
    rng = np.random.default_rng(0)
    L_full = rng.uniform(0, 100, (60, 80)).astype(np.float32)
    kept = [painted_lightness_full(L_full, c, s) for s in (0.25, 0.75)]
    monkeypatch.setattr(sb, "DELTA_KEPT_PIXELS", 0)
    banded = [painted_lightness_full(L_full, c, s) for s in (0.25, 0.75)]
    for a, b in zip(kept, banded):
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert np.abs(kept[0] - kept[1]).max() > 1.0      # strength still matters
