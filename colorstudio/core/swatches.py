"""Named swatch sets a restorer reaches for, shown at the lightness of the pixel being coloured.

Only a hint's chroma is used (its lightness comes from the photo), so a swatch is shown as
its chroma at the hint's lightness: a light skin tone placed on a shadow shows as the
colour it will actually produce there. Colours that cannot exist at that lightness are
toned down towards grey (same lightness and hue) and marked as adjusted.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .color import color_to_hex, hex_to_ab, in_gamut, parse_color, rgb_to_lab


@dataclass(frozen=True)
class Swatch:
    name: str
    color: str  # "#rrggbb" as collected (at its own lightness)


@dataclass(frozen=True)
class SwatchSet:
    name: str
    swatches: tuple


def _set(name: str, *pairs) -> SwatchSet:
    return SwatchSet(name, tuple(Swatch(n, c) for n, c in pairs))


SWATCH_SETS: tuple[SwatchSet, ...] = (
    # Light to dark, spanning the Fitzpatrick range as photographed in daylight.
    _set("Skin tones",
         ("porcelain", "#f3d9c6"), ("fair", "#eac0a4"), ("light", "#dba683"), ("medium", "#c48a62"),
         ("olive", "#a8774f"), ("tan", "#8d5a3b"), ("brown", "#6a3f27"), ("deep", "#45281a")),
    _set("Sky",
         ("pale haze", "#c9dbe9"), ("clear noon", "#87b5e0"), ("deep blue", "#4a7fc1"),
         ("evening", "#6d86b8"), ("overcast", "#a9b4bd"), ("dusk warm", "#e0a77f")),
    _set("Foliage",
         ("spring leaf", "#8fbf4d"), ("summer leaf", "#4f7d2f"), ("pine", "#2f5233"),
         ("olive leaf", "#7b8045"), ("dry grass", "#b9a35c"), ("autumn", "#b5652a")),
    _set("Wood",
         ("pine board", "#d8b27c"), ("oak", "#b08350"), ("teak", "#94643a"),
         ("walnut", "#674528"), ("mahogany", "#6e2f1f"), ("weathered", "#8f8577")),
    _set("Brick",
         ("red brick", "#9c3f2c"), ("old brick", "#8a4b3a"), ("sand brick", "#c49a6c"),
         ("clay tile", "#b45a36"), ("sandstone", "#cdb48a"), ("slate", "#5f6a72")),
    _set("Fabric dyes",
         ("navy", "#23345e"), ("indigo", "#3b4f8f"), ("madder red", "#a3272d"),
         ("khaki", "#a99a6b"), ("mustard", "#c9a227"), ("bottle green", "#2c5e3f"),
         ("burgundy", "#6b1f2f"), ("ivory", "#efe8d2")),
)


class SwatchError(KeyError):
    """A swatch set was asked for by a name that does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def swatch_set(name: str) -> SwatchSet:
    for s in SWATCH_SETS:
        if s.name.lower() == name.lower():
            return s
    raise SwatchError(f"there is no swatch set called {name!r}; choose one of: "
                      f"{', '.join(s.name for s in SWATCH_SETS)}")


def lightness_of(color) -> float:
    """The L* of a colour."""
    rgb = np.array(parse_color(color), np.float32)[None, :] / 255.0
    return float(rgb_to_lab(rgb)[0, 0])


def fits_at(color, lightness: float) -> bool:
    """Whether ``color``'s chroma exists, unclipped, at ``lightness``."""
    a, b = hex_to_ab(color)
    return bool(in_gamut(np.array([[lightness, a, b]], np.float32))[0])


def at_lightness(color, lightness: float) -> str:
    """``color``'s chroma at ``lightness`` as "#rrggbb".

    Where that chroma cannot exist at ``lightness`` it is reduced towards grey, keeping
    lightness and hue, exactly as the composition does with a hint's colour on the photo.
    """
    from .compose import lab_to_srgb_keep_l
    a, b = hex_to_ab(color)
    rgb = lab_to_srgb_keep_l(np.full((1, 1), lightness, np.float32), np.array([[[a]], [[b]]], np.float32))
    return color_to_hex(rgb[0, 0] * 255.0)


@dataclass(frozen=True)
class ShownSwatch:
    name: str
    color: str       # as shown and as it will be picked: the chroma at the hint's lightness
    source: str      # the swatch as collected
    clipped: bool    # True when the chroma does not exist at this lightness and was reduced


def adjusted(swatches: SwatchSet, lightness: float) -> list[ShownSwatch]:
    """The swatches of a set as they look at ``lightness`` (one vectorised pass per set)."""
    from .compose import lab_to_srgb_keep_l
    if not swatches.swatches:
        return []
    ab = np.array([_ab(s.color) for s in swatches.swatches], np.float32)          # (n, 2)
    n = len(ab)
    L = np.full((1, n), lightness, np.float32)
    rgb = lab_to_srgb_keep_l(L, np.ascontiguousarray(ab.T.reshape(2, 1, n)))[0]   # (n, 3)
    ok = in_gamut(np.stack([L[0], ab[:, 0], ab[:, 1]], axis=-1))
    return [ShownSwatch(s.name, color_to_hex(c * 255.0), s.color, not bool(fit))
            for s, c, fit in zip(swatches.swatches, rgb, ok)]


@lru_cache(maxsize=512)
def _ab(color: str) -> tuple[float, float]:
    return hex_to_ab(color)
