"""Swatch sets shown at a hint's lightness."""
from __future__ import annotations

import math

import pytest

from colorstudio.core.color import hex_to_ab
from colorstudio.core.swatches import (SWATCH_SETS, SwatchError, adjusted, at_lightness, fits_at,
                                       lightness_of, swatch_set)


def test_the_sets_a_restorer_needs_are_there():
    names = [s.name for s in SWATCH_SETS]
    for wanted in ("Skin tones", "Sky", "Foliage", "Wood", "Brick", "Fabric dyes"):
        assert wanted in names
    assert all(len(s.swatches) >= 5 for s in SWATCH_SETS)


def test_skin_tones_go_from_light_to_dark():
    ls = [lightness_of(s.color) for s in swatch_set("skin tones").swatches]
    assert ls == sorted(ls, reverse=True)
    assert ls[0] - ls[-1] > 50


@pytest.mark.parametrize("lightness", [25.0, 50.0, 75.0])
def test_adjusted_swatches_keep_their_hue_at_the_hints_lightness(lightness):
    for shown in adjusted(swatch_set("Sky"), lightness):
        assert abs(lightness_of(shown.color) - lightness) < 1.5
        a0, b0 = hex_to_ab(shown.source)
        a1, b1 = hex_to_ab(shown.color)
        if math.hypot(a0, b0) > 8 and math.hypot(a1, b1) > 8:
            hue_diff = abs((math.degrees(math.atan2(b1, a1) - math.atan2(b0, a0)) + 180) % 360 - 180)
            assert hue_diff < 20, shown


def test_colours_that_cannot_exist_at_a_lightness_are_marked_clipped():
    # A saturated blue's chroma does not exist near white.
    assert not fits_at("#3b4f8f", 97.0)
    assert fits_at("#3b4f8f", 45.0)
    # Every swatch is a real colour: it fits at its own lightness.
    for s in SWATCH_SETS:
        for sw in s.swatches:
            assert fits_at(sw.color, lightness_of(sw.color)), sw
    shown = adjusted(swatch_set("Fabric dyes"), 97.0)
    assert any(s.clipped for s in shown)
    # Toned down, not clipped: still at the requested lightness, same hue, less chroma.
    for s in shown:
        assert abs(lightness_of(s.color) - 97.0) < 1.5, s
        if s.clipped:
            assert math.hypot(*hex_to_ab(s.color)) < math.hypot(*hex_to_ab(s.source))
    assert at_lightness("#808080", 60.0) == at_lightness("#404040", 60.0)  # greys have no chroma


def test_an_unknown_set_is_a_clear_error():
    with pytest.raises(SwatchError, match="no swatch set called 'Neon'"):
        swatch_set("Neon")
