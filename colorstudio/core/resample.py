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


def resize_columns(a: np.ndarray, width: int) -> np.ndarray:
    """Bilinear resize of ``a`` (..., h, w) along its last axis only: (..., h, width)."""
    a = np.asarray(a, dtype=np.float32)
    c0, c1, tx = _axis_taps(a.shape[-1], width)
    left = np.take(a, c0, axis=-1)
    out = np.take(a, c1, axis=-1)
    out -= left
    out *= tx
    out += left
    return out


def resize_rows(a: np.ndarray, height: int, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Bilinear resize of ``a`` (..., h, w) along its rows only: (..., height, w), or just the
    output rows ``rows=(y0, y1)``. Each output row blends two whole input rows."""
    y0, y1 = rows if rows is not None else (0, height)
    r0, r1, ty = _axis_taps(a.shape[-2], height, y0, y1)
    top = a[..., r0, :]
    out = a[..., r1, :]
    out -= top
    out *= ty[:, None]
    out += top
    return out


def resize_bilinear(a: np.ndarray, height: int, width: int, rows: tuple[int, int] | None = None) -> np.ndarray:
    """Bilinear resize of ``a`` (..., h, w) to (..., height, width).

    ``rows=(y0, y1)`` computes only those output rows, for processing huge photos in bands.
    A band equals the same rows of the whole to within float rounding.
    Faster than torch's bilinear kernel, which the weight-free path must not import.
    """
    a = np.asarray(a, dtype=np.float32)
    h, w = a.shape[-2:]
    y0, y1 = rows if rows is not None else (0, height)
    if (h, w) == (height, width):
        return a[..., y0:y1, :].copy()
    if rows is not None and (y1 - y0) * width > h * w:
        # A band taller than the small map: columns of the whole small map, then the band's rows.
        return resize_rows(resize_columns(a, width), height, rows)
    # Rows first on the small map (cheap for a thin band), then columns.
    return resize_columns(resize_rows(a, height, rows), width)


def downsample_area(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-average ``a`` (..., h, w) down to (..., height, width) (each output <= input).

    Exact box averaging over the footprint of each output pixel, done separably with
    cumulative sums so any ratio works.
    """
    a = np.asarray(a, dtype=np.float32)
    h, w = a.shape[-2:]
    if (h, w) == (height, width):
        return a.copy()
    # Along the rows first (each row's samples are contiguous: numpy's fastest reduction, and
    # it shrinks the data), then down the columns of the narrow result. Row-major at the end,
    # whatever order the passes left it in: every later pass over it (a grid's edge weights,
    # compose's bands of rows) is several times slower on a transposed array.
    out = _area_axis(a, w, width, axis=-1)
    return np.ascontiguousarray(_area_axis(out, h, height, axis=-2))


def _area_axis(a: np.ndarray, n_in: int, n_out: int, axis: int) -> np.ndarray:
    if n_in == n_out:
        return a
    axis = axis % a.ndim
    if n_in % n_out == 0:
        # Whole blocks of k samples: split the axis in place and average each block.
        k = n_in // n_out
        return a.reshape(a.shape[:axis] + (n_out, k) + a.shape[axis + 1:]).mean(axis=axis + 1, dtype=np.float32)
    # Output j covers [e_j, e_j+1) of the input, e_j = j * n_in / n_out: the whole input
    # samples from floor(e_j) on, less the part of the first before e_j, plus the part of
    # the one where it ends. One pass (reduceat, on the axis in place: along a row, or whole
    # rows at a time down the columns) instead of a cumulative sum of the whole input. Short
    # footprints (the usual: a photo's L to a working grid, 5-50 samples each) are summed in
    # single precision, well within float32's rounding of the average and 2-3x less CPU than
    # converting every sample to double; long ones in double.
    ratio = n_in / n_out
    edges = np.arange(n_out + 1, dtype=np.float64) * ratio
    lo = np.floor(edges).astype(np.intp)
    lo[-1] = n_in
    dtype = np.float32 if ratio <= 64 else np.float64
    along = (slice(None),) * axis
    frac = (edges - lo).astype(dtype).reshape((-1,) + (1,) * (a.ndim - 1 - axis))
    sums = np.add.reduceat(a, lo[:-1], axis=axis, dtype=dtype)
    sums -= np.take(a, lo[:-1], axis=axis) * frac[:-1]
    m = int(np.count_nonzero(lo[1:] < n_in))   # the footprints that end inside a sample: a prefix
    sums[along + (slice(0, m),)] += np.take(a, lo[1:m + 1], axis=axis) * frac[1:m + 1]
    sums /= dtype(ratio)
    return sums.astype(np.float32, copy=False)


def downsample_lightness_bands(lightness: np.ndarray, height: int, width: int, band: int = 1024) -> np.ndarray:
    """``downsample_area`` for a huge (H, W) array without a full-size float64 temporary."""
    H, W = lightness.shape
    if H <= band * 2:
        return downsample_area(lightness, height, width)
    # Columns first band by band (that shrinks the data), then rows on the narrow result.
    narrow = np.empty((H, width), np.float32)
    for y in range(0, H, band):
        narrow[y:y + band] = _area_axis(np.asarray(lightness[y:y + band], np.float32), W, width, axis=-1)
    return np.ascontiguousarray(_area_axis(narrow, H, height, axis=-2))


def fit_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) scaled so the long side is at most ``max_side`` (never enlarged)."""
    if not max_side or max(width, height) <= max_side:
        return width, height
    s = max_side / max(width, height)
    return max(1, int(round(width * s))), max(1, int(round(height * s)))
