"""Resampling of small maps (chroma, coefficients, lightness) with pixel-centre alignment.

Pixel (i, j) has its centre at (i + 0.5, j + 0.5) in every grid, so a map resized to any
size stays registered with the photo. All functions work on float32 arrays whose last two
axes are (height, width).
"""
from __future__ import annotations

import numpy as np


def _axis_taps(n_in: int, n_out: int, start: int = 0, stop: int | None = None):
    stop = n_out if stop is None else stop
    pos = (np.arange(start, stop, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = np.clip(pos, 0.0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    t = (pos - i0).astype(np.float32)
    return i0, i1, t


def _resize_whole(a: np.ndarray, r0, r1, ty, c0, c1, tx) -> np.ndarray:
    # Columns first, on the small map transposed so that every gather copies whole rows
    # (contiguous memory): about twice as fast as gathering columns, and faster than
    # torch's bilinear kernel, which the weight-free path must not import.
    aT = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    left = aT[..., c0, :]
    cols = np.ascontiguousarray(np.swapaxes(left + (aT[..., c1, :] - left) * tx[:, None], -1, -2))
    top = cols[..., r0, :]
    return top + (cols[..., r1, :] - top) * ty[:, None]


def resize_bilinear(a: np.ndarray, height: int, width: int, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Bilinear resize of ``a`` (..., h, w) to (..., height, width).

    ``rows=(y0, y1)`` computes only those output rows, for processing huge photos in bands.
    """
    a = np.asarray(a, dtype=np.float32)
    h, w = a.shape[-2:]
    y0, y1 = rows if rows is not None else (0, height)
    r0, r1, ty = _axis_taps(h, height, y0, y1)
    if (h, w) == (height, width):
        return a[..., y0:y1, :].copy()
    if rows is None:
        return _resize_whole(a, r0, r1, ty, *_axis_taps(w, width))
    # Rows first on the small map (cheap), then columns on the result.
    top = a[..., r0, :]
    tmp = top + (a[..., r1, :] - top) * ty[:, None]
    c0, c1, tx = _axis_taps(w, width)
    left = tmp[..., c0]
    return left + (tmp[..., c1] - left) * tx


def downsample_area(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average ``a`` (..., h, w) down to (..., height, width) (each output <= input).

    Exact box averaging over the footprint of each output pixel, done separably with
    cumulative sums so any ratio works.
    """
    a = np.asarray(a, dtype=np.float32)
    h, w = a.shape[-2:]
    if (h, w) == (height, width):
        return a.copy()
    out = _area_axis(a, h, height, axis=-2)
    return _area_axis(out, w, width, axis=-1)


def _area_axis(a: np.ndarray, n_in: int, n_out: int, axis: int) -> np.ndarray:
    if n_in == n_out:
        return a
    a = np.moveaxis(a, axis, -1)
    if n_in % n_out == 0:
        k = n_in // n_out
        out = a.reshape(*a.shape[:-1], n_out, k).mean(axis=-1, dtype=np.float32)
    else:
        c = np.concatenate([np.zeros((*a.shape[:-1], 1), np.float64), np.cumsum(a, axis=-1, dtype=np.float64)], axis=-1)
        edges = np.arange(n_out + 1, dtype=np.float64) * (n_in / n_out)
        lo = np.floor(edges).astype(np.intp)
        frac = edges - lo
        lo_c = np.minimum(lo, n_in)
        hi_c = np.minimum(lo + 1, n_in)
        # value of the cumulative sum at a fractional position
        cum = c[..., lo_c] + (c[..., hi_c] - c[..., lo_c]) * frac
        out = ((cum[..., 1:] - cum[..., :-1]) / (n_in / n_out)).astype(np.float32)
    return np.moveaxis(out, -1, axis)


def downsample_lightness_bands(lightness: np.ndarray, height: int, width: int, band: int = 1024) -> np.ndarray:
    """``downsample_area`` for a huge (H, W) array without a full-size float64 temporary."""
    H, W = lightness.shape
    if H <= band * 2:
        return downsample_area(lightness, height, width)
    # Columns first band by band (that shrinks the data), then rows on the narrow result.
    narrow = np.empty((H, width), np.float32)
    for y in range(0, H, band):
        narrow[y:y + band] = _area_axis(np.asarray(lightness[y:y + band], np.float32), W, width, axis=-1)
    return _area_axis(narrow, H, height, axis=-2)


def fit_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) scaled so the long side is at most ``max_side`` (never enlarged)."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))
