"""Samples -> CIELAB L* in row bands, and L* back to display grey.

A tone (:class:`_Tone`) says how encoded samples become linear sRGB light: per-channel curves,
then a 3x3 matrix for non-sRGB colorants. The only full-size allocation is the output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from colorstudio.core.color import _RGB_TO_XYZ, lightness_from_luminance, linear_to_srgb, srgb_to_linear

from .base import _BAND_PIXELS

# The luminance row of the sRGB -> XYZ matrix (the one scikit-image uses for L*).
_Y_ROW = _RGB_TO_XYZ[1].astype(np.float32)

Curve = Callable[[np.ndarray], np.ndarray]


@dataclass
class _Tone:
    """How encoded samples become linear sRGB light: per-channel curves, then a 3x3 matrix.

    ``matrix`` (source linear RGB -> linear sRGB, clipped to the sRGB gamut) is None when the
    source is sRGB already or grey.
    """

    curves: list[Curve]
    matrix: np.ndarray | None = None
    name: str = "sRGB"

    @staticmethod
    def srgb(colour: bool) -> "_Tone":
        return _Tone([srgb_to_linear] * (3 if colour else 1))

    def is_srgb(self) -> bool:
        return self.name == "sRGB"



def _bands(h: int, w: int, channels: int = 1):
    rows = max(1, _BAND_PIXELS // max(1, w * channels))
    for r0 in range(0, h, rows):
        yield r0, min(h, r0 + rows)


_LUT_CACHE: dict = {}


def _luts(tone: _Tone, dtype: np.dtype) -> list[np.ndarray] | None:
    """Per-channel lookup tables (encoded integer -> linear light), None for float samples."""
    if dtype == np.uint8:
        n = 256
    elif dtype == np.uint16:
        n = 65536
    else:
        return None
    key = (n, tuple(id(c) for c in tone.curves)) if tone.is_srgb() else None
    if key is not None and key in _LUT_CACHE:
        return _LUT_CACHE[key]
    grid = np.arange(n, dtype=np.float64) / (n - 1)
    luts = [np.asarray(c(grid.astype(np.float32)), dtype=np.float32) for c in tone.curves]
    if key is not None:
        _LUT_CACHE[key] = luts
    return luts


def _lightness_lut(tone: _Tone, dtype: np.dtype, luts: list[np.ndarray]) -> np.ndarray | None:
    """Encoded grey sample -> L* (float32) for an sRGB tone, kept per sample type; None for
    other tones (their curves are the photo's own, not worth a table per photo)."""
    if not tone.is_srgb():
        return None
    key = ("L", np.dtype(dtype).str, tuple(id(c) for c in tone.curves))
    table = _LUT_CACHE.get(key)
    if table is None:
        table = _LUT_CACHE[key] = np.asarray(lightness_from_luminance(luts[0]), np.float32)
    return table


def _lightness(samples: np.ndarray, tone: _Tone, premultiplied_alpha: np.ndarray | None = None
               ) -> tuple[np.ndarray, bool]:
    """L* (float32, H x W) of grey or RGB samples, and whether the samples hold colour.

    Works in row bands: the only full-size allocation is the output.
    """
    h, w = samples.shape[:2]
    colour = samples.ndim == 3
    out = np.empty((h, w), dtype=np.float32)
    luts = None if premultiplied_alpha is not None else _luts(tone, samples.dtype)
    full = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(samples.dtype, 1.0)
    colour_pixels = 0
    # Channels further apart than 2/255 of full scale count as colour (JPEG noise on grey does not).
    spread_tol = (2.0 / 255.0) * full
    # Grey samples in sRGB: one table from the sample straight to L* (the same float32
    # arithmetic as below, done once per possible value instead of once per pixel).
    direct = _lightness_lut(tone, samples.dtype, luts) if (luts is not None and not colour) else None
    for r0, r1 in _bands(h, w, 3 if colour else 1):
        band = samples[r0:r1]
        if direct is not None:
            np.take(direct, band, out=out[r0:r1])
            continue
        if luts is not None:
            if colour:
                lin = [np.take(luts[c], band[..., c]) for c in range(3)]
            else:
                lin = [np.take(luts[0], band)]
        else:
            x = band.astype(np.float32) / np.float32(full)
            if premultiplied_alpha is not None:
                a = premultiplied_alpha[r0:r1].astype(np.float32)
                a /= np.float32(255.0 if premultiplied_alpha.dtype == np.uint8 else 65535.0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    x = np.where(a[..., None] if colour else a, x / (a[..., None] if colour else a), 0.0)
                x = np.clip(x, 0.0, 1.0).astype(np.float32)
            if colour:
                lin = [tone.curves[c](x[..., c]) for c in range(3)]
            else:
                lin = [tone.curves[0](x)]
        if colour:
            if tone.matrix is not None:
                m = tone.matrix
                rgb = [np.clip(m[i, 0] * lin[0] + m[i, 1] * lin[1] + m[i, 2] * lin[2], 0.0, 1.0)
                       for i in range(3)]
            else:
                rgb = lin
            y = _Y_ROW[0] * rgb[0] + _Y_ROW[1] * rgb[1] + _Y_ROW[2] * rgb[2]
            # Elementwise over the three planes: reductions over a length-3 axis are slow.
            r, g, b = band[..., 0], band[..., 1], band[..., 2]
            spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
            colour_pixels += int(np.count_nonzero(spread > spread_tol))
        else:
            y = lin[0]
        out[r0:r1] = lightness_from_luminance(y)
    was_color = colour and colour_pixels > 0.001 * h * w
    return out, bool(was_color)



# ---------------------------------------------------------------------------------------------
# Display


def _lightness_to_gray_u8(L: np.ndarray) -> np.ndarray:
    fy = (np.asarray(L, np.float32) + 16.0) / 116.0
    y = np.where(fy ** 3 > 0.008856, fy ** 3, (fy - 16.0 / 116.0) / 7.787)
    g = linear_to_srgb(np.clip(y, 0.0, 1.0))
    return np.clip(np.round(g * 255.0), 0, 255).astype(np.uint8)


def _shrink_area(L: np.ndarray, max_side: int) -> np.ndarray:
    """Area-average L (H x W) so its long side is <= max_side (integer blocks, then a box resize)."""
    h, w = L.shape
    long_side = max(h, w)
    if long_side <= max_side:
        return L
    scale = max_side / long_side
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    k = long_side // max_side
    if k >= 2:
        hk, wk = h // k, w // k
        small = np.empty((hk, wk), dtype=np.float32)
        rows = max(1, _BAND_PIXELS // max(1, w * k))
        for b0 in range(0, hk, rows):
            b1 = min(hk, b0 + rows)
            block = L[b0 * k:b1 * k, :wk * k].reshape(b1 - b0, k, wk, k)
            small[b0:b1] = block.mean(axis=(1, 3), dtype=np.float32)
        L = small
    if L.shape != (th, tw):
        L = np.asarray(Image.fromarray(np.ascontiguousarray(L), "F").resize((tw, th), Image.Resampling.BOX))
    return L
