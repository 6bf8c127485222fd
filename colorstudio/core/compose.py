"""Composition: bring an engine's chroma back to the photo's size and join the photo's own L.

Chroma is upsampled edge-aware with a guided filter (He, Sun and Tang) whose guide is the
lightness: on the engine's working grid each window fits ``ab = a * L + b``; the smoothed
coefficients are resized to the target grid and applied to the target's own L, so chroma
edges snap to the photo's edges at full resolution. The result is converted to sRGB with the
photo's L untouched: colours outside the sRGB gamut are desaturated (hue and L kept) instead
of clipped, which would change their lightness.

Huge photos are composed in bands of rows so memory stays a small multiple of the photo.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .cancel import check_stop
from .color import _XYZN_TO_RGB
from .resample import _axis_taps, resize_columns, resize_rows

# XYZ(normalised by the white) -> linear sRGB, rows scaled to sum to exactly 1 (they differ
# from 1 by < 1e-4 in the published matrix), so white and every grey stay neutral.
_M_NEUTRAL = (_XYZN_TO_RGB.astype(np.float64) / _XYZN_TO_RGB.astype(np.float64).sum(axis=1, keepdims=True)).astype(np.float32)

GUIDE_RADIUS = 2       # window radius on the working grid
GUIDE_EPS = 0.02 ** 2  # regularisation, in (L/100)^2 units: smaller follows edges harder


def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window clipped at the borders; x is (..., h, w) float32.

    Sums of shifted views (the windows are small), in float32, summed in a fixed order so the
    result does not depend on where the map came from.
    """
    x = np.asarray(x, np.float32)
    h, w = x.shape[-2:]

    def counts(n: int) -> np.ndarray:
        i = np.arange(n)
        return (np.minimum(i + r, n - 1) - np.maximum(i - r, 0) + 1).astype(np.float32)

    pad = np.zeros(x.shape[:-1] + (w + 2 * r,), np.float32)
    pad[..., r:r + w] = x
    s = pad[..., 0:w].copy()
    for k in range(1, 2 * r + 1):
        s += pad[..., k:k + w]
    s /= counts(w)
    pad = np.zeros(x.shape[:-2] + (h + 2 * r, w), np.float32)
    pad[..., r:r + h, :] = s
    out = pad[..., 0:h, :].copy()
    for k in range(1, 2 * r + 1):
        out += pad[..., k:k + h, :]
    out /= counts(h)[:, None]
    return out


@dataclass
class ChromaField:
    """Chroma ready to be evaluated at any resolution: ab = coef_a * L/100 + coef_b."""

    coef_a: np.ndarray  # (2, h, w)
    coef_b: np.ndarray  # (2, h, w)
    exact: Optional[np.ndarray] = None  # (2, h, w) the engine's ab, used as is at the working size
    _columns: Optional[np.ndarray] = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.coef_a.shape[-2:]

    def prepare(self, width: int) -> None:
        """Resize the coefficients along columns to ``width`` once (small: the working grid's
        rows by the target's width); every band of rows is then two row blends away."""
        if self._columns is None or self._columns.shape[-1] != width:
            stacked = np.concatenate([self.coef_a * np.float32(0.01), self.coef_b])
            self._columns = resize_columns(stacked, width)

    def at(self, lightness: np.ndarray, rows: tuple[int, int] | None = None, full_shape=None) -> np.ndarray:
        """ab (2, h', w') for ``lightness`` (h', w'), which may be a band of rows of a taller target."""
        H, W = full_shape or lightness.shape
        if self.exact is not None and (H, W) == self.shape:
            y0, y1 = rows or (0, H)
            return self.exact[:, y0:y1]
        self.prepare(W)
        coef = resize_rows(self._columns, H, rows)
        ab = coef[:2]
        ab *= lightness
        ab += coef[2:]
        return ab


class FixedChroma:
    """Chroma already evaluated for a target (2, h, w): compose() joins it with that target's
    L as it is (a region of an export, cut from the export's own rows)."""

    def __init__(self, ab: np.ndarray):
        self.ab = np.ascontiguousarray(ab, dtype=np.float32)

    def at(self, lightness: np.ndarray, rows: tuple[int, int] | None = None, full_shape=None) -> np.ndarray:
        y0, y1 = rows or (0, self.ab.shape[1])
        return self.ab[:, y0:y1].copy()


def chroma_field(ab: np.ndarray, lightness: np.ndarray, radius: int = GUIDE_RADIUS,
                 eps: float = GUIDE_EPS) -> ChromaField:
    """Fit the guided-filter coefficients of ``ab`` (h, w, 2) against ``lightness`` (h, w)."""
    p = np.ascontiguousarray(np.moveaxis(np.asarray(ab, np.float32), -1, 0))
    I = np.asarray(lightness, np.float32) * np.float32(0.01)
    # One pass of box means over [I, I*I, p, p*I] (6 maps), one over [a, b] (4 maps).
    means = _box_mean(np.concatenate([I[None], (I * I)[None], p, p * I]), radius)
    mean_I, mean_II, mean_p, mean_pI = means[0], means[1], means[2:4], means[4:6]
    var_I = mean_II - mean_I * mean_I
    cov = mean_pI - mean_I * mean_p
    a = cov / (var_I + np.float32(eps))
    b = mean_p - a * mean_I
    smooth = _box_mean(np.concatenate([a, b]), radius)
    return ChromaField(smooth[:2], smooth[2:], exact=p)


def lab_to_srgb_keep_l(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0) -> np.ndarray:
    """sRGB in [0, 1], (h, w, 3) float32, with lightness exactly L where the gamut allows."""
    return _gamma(lab_to_linear_keep_l(L, ab, saturation))


def lab_to_linear_keep_l(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0) -> np.ndarray:
    """Linear sRGB (3, h, w) in [0, 1] for L (h, w) and chroma ab (2, h, w).

    Chroma outside the sRGB gamut at a pixel's lightness is scaled towards neutral until it
    fits (a short bisection on those pixels only), so hue and lightness are kept.
    """
    rgb = _linear_unclipped(L, ab, saturation)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb


def _linear_unclipped(L: np.ndarray, ab: np.ndarray, saturation: float) -> np.ndarray:
    """Linear sRGB (3, ...) with out-of-gamut chroma pulled in (values within 1e-5 of [0, 1])."""
    rgb, outside = _linear_raw(L, ab, saturation)
    if outside is not None:
        flat = rgb.reshape(3, -1)
        flat[:, outside.index] = _pull_in(outside)
    return rgb


@dataclass
class _Outside:
    """The pixels whose chroma leaves the gamut: flat indices and what the pull-in needs."""

    index: np.ndarray  # flat pixel indices (into the band, or the whole target once offset)
    fy: np.ndarray
    Y: np.ndarray
    a500: np.ndarray
    b200: np.ndarray

    def _arrays(self) -> tuple:
        return self.index, self.fy, self.Y, self.a500, self.b200

    def halves(self) -> tuple:
        k = self.index.size // 2
        return _Outside(*(a[:k] for a in self._arrays())), _Outside(*(a[k:] for a in self._arrays()))

    @staticmethod
    def join(parts: list) -> "_Outside":
        return _Outside(*(np.concatenate(arrays) for arrays in zip(*(p._arrays() for p in parts))))


def _linear_raw(L: np.ndarray, ab: np.ndarray, saturation: float) -> tuple[np.ndarray, Optional[_Outside]]:
    """Linear sRGB (3, ...) before any gamut mapping, and the pixels outside the gamut (or None).

    The pull-in is left to the caller, so a composition in many bands can pull all of its
    out-of-gamut pixels in at once: the bisection's cost is mostly per numpy call, and a
    band holds only a few hundred such pixels.
    """
    L = np.asarray(L, np.float32)
    fy = L + np.float32(16.0)
    fy *= np.float32(1.0 / 116.0)
    Y = _cube(fy)
    a = ab[0] * np.float32(saturation / 500.0)
    b = ab[1] * np.float32(saturation / 200.0)
    rgb = _linear_rgb(fy, Y, a, b)
    bad = rgb.min(axis=0) < 0.0
    bad |= rgb.max(axis=0) > 1.0
    if not bad.any():
        return rgb, None
    index = np.flatnonzero(bad)
    return rgb, _Outside(index, fy.reshape(-1)[index], Y.reshape(-1)[index], a.reshape(-1)[index],
                         b.reshape(-1)[index])


def _pull_in(o: _Outside) -> np.ndarray:
    """Linear sRGB (3, n) for out-of-gamut pixels, their chroma scaled towards neutral by the
    largest factor (to 1/128) that fits: 7 steps of bisection, hue and lightness kept."""
    lo = np.zeros_like(o.fy)
    hi = np.ones_like(o.fy)
    for _ in range(7):
        mid = (lo + hi) * np.float32(0.5)
        t = _linear_rgb(o.fy, o.Y, o.a500 * mid, o.b200 * mid)
        ok = (t.min(axis=0) >= -1e-5) & (t.max(axis=0) <= 1.0 + 1e-5)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    return _linear_rgb(o.fy, o.Y, o.a500 * lo, o.b200 * lo)


_F_KNEE = np.float32(6.0 / 29.0)  # where the L* curve turns from cube to line


def _cube(t: np.ndarray) -> np.ndarray:
    """The inverse of the CIE f() (as color._f_inv), with the linear part done only where needed."""
    out = t * t
    out *= t
    low = t < _F_KNEE
    if low.any():
        out[low] = (t[low] - np.float32(16.0 / 116.0)) * np.float32(1.0 / 7.787)
    return out


def _linear_rgb(fy, Y, a500, b200) -> np.ndarray:
    """Linear sRGB (3, ...) from f(Y), Y and the scaled chroma a/500, b/200 (numpy; used on
    the few out-of-gamut pixels).

    Written as Y plus the chroma's contribution (X - Y, Z - Y), with the matrix rows
    normalised to map the white point to (1, 1, 1) exactly: a neutral pixel (a = b = 0)
    then comes out with R = G = B bit for bit.
    """
    dX = _cube(fy + a500)
    dX -= Y
    dZ = _cube(np.maximum(fy - b200, 0.0))
    dZ -= Y
    out = np.empty((3,) + fy.shape, np.float32)
    for i in range(3):
        o = out[i]
        np.multiply(dX, _M_NEUTRAL[i, 0], out=o)
        o += dZ * _M_NEUTRAL[i, 2]
        o += Y
    return out


def _gamma(lin: np.ndarray) -> np.ndarray:
    """Linear (3, h, w) in [0, 1] -> sRGB-encoded (h, w, 3) float32."""
    out = np.where(lin > 0.0031308, np.float32(1.055) * np.power(np.maximum(lin, 0.0031308), np.float32(1 / 2.4))
                   - np.float32(0.055), np.float32(12.92) * lin).astype(np.float32)
    return np.moveaxis(out, 0, -1)


_LUT_SIZE = 1 << 16


def _srgb_curve(x: np.ndarray) -> np.ndarray:
    """The sRGB encoding of linear values in [0, 1], in double precision (for the tables below;
    ``color.linear_to_srgb`` works in single precision)."""
    return np.where(x > 0.0031308, 1.055 * np.power(x, 1 / 2.4) - 0.055, 12.92 * x)
_LUT8: Optional[np.ndarray] = None


def _lut8() -> np.ndarray:
    """8-bit sRGB of linear values at the centres of 65536 equal steps of [0, 1]."""
    global _LUT8
    if _LUT8 is None:
        x = (np.arange(_LUT_SIZE, dtype=np.float64) + 0.5) / _LUT_SIZE
        _LUT8 = np.rint(_srgb_curve(x) * 255.0).astype(np.uint8)
    return _LUT8


def _encode8(lin: np.ndarray) -> np.ndarray:
    """Linear (3, h, w), within 1e-5 of [0, 1] -> 8-bit sRGB (h, w, 3) through a 65536-entry table.

    The table's step (1.5e-5 in linear light) is far below an 8-bit level everywhere on the
    sRGB curve: the result equals rounding the exact encoding except for values within a
    hair of a rounding boundary (about 0.3 %, one level off), at a fraction of the cost.
    """
    lut = _lut8()
    out = np.empty(lin.shape[1:] + (3,), np.uint8)
    idx = np.empty(lin.shape[1:], np.intp)   # take() wants intp; any other type is converted first
    for i in range(3):
        np.multiply(lin[i], np.float32(_LUT_SIZE), out=idx, casting="unsafe")
        # mode="clip" clamps the index (no separate pass) and skips take()'s bounds check.
        out[..., i] = np.take(lut, idx, mode="clip")
    return out


_LUT16: Optional[np.ndarray] = None


def _lut16() -> np.ndarray:
    """The sRGB curve at 65537 points of [0, 1], in 16-bit levels (float32, to interpolate)."""
    global _LUT16
    if _LUT16 is None:
        _LUT16 = (_srgb_curve(np.arange(_LUT_SIZE + 1, dtype=np.float64) / _LUT_SIZE) * 65535.0).astype(np.float32)
    return _LUT16


def _encode16(lin: np.ndarray) -> np.ndarray:
    """Linear (3, h, w), within 1e-5 of [0, 1] -> 16-bit sRGB (h, w, 3), through a table of the
    sRGB curve at 65537 points, interpolated linearly between them.

    Between two points the curve differs from its chord by under 1e-7 (under 0.005 of a
    16-bit level, worst just above the curve's linear toe), so a level can differ from the
    exact encoding's only for values within that of a rounding boundary; ``np.power`` on
    every sample cost a third of a 16-bit composition.
    """
    lut = _lut16()
    out = np.empty(lin.shape[1:] + (3,), np.uint16)
    idx = np.empty(lin.shape[1:], np.intp)
    for i in range(3):
        t = np.clip(lin[i], 0.0, 1.0)
        t *= np.float32(_LUT_SIZE)
        np.copyto(idx, t, casting="unsafe")          # truncation: floor, as t >= 0
        np.minimum(idx, _LUT_SIZE - 1, out=idx)      # 1.0 interpolates to the last point
        t -= idx                                     # the fraction between the two points
        v = np.take(lut, idx + 1)
        lo = np.take(lut, idx)
        v -= lo
        v *= t
        v += lo
        np.rint(v, out=v)
        out[..., i] = v
    return out


def quantize(rgb: np.ndarray, bit_depth: int) -> np.ndarray:
    if bit_depth == 16:
        return np.rint(rgb * 65535.0).astype(np.uint16)
    return np.rint(rgb * 255.0).astype(np.uint8)


_BAND_PIXELS = 1 << 16   # a band's pixels: its dozen float32 temporaries stay in the cache
# Out-of-gamut pixels are pulled in many bands at a time (the bisection's cost is mostly per
# numpy call, and a band holds only a few hundred of them), at most this many at once.
_PULL_PIXELS = 1 << 17
_AHEAD = 6               # bands queued ahead on the shared pool
_POOL: Optional[ThreadPoolExecutor] = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """Two threads shared by every composition (numpy releases the GIL in its loops)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="compose")
        return _POOL


# The compiled composer (core/_compose_jit, numba) gives numpy's pixels bit for bit at about
# a seventh of the CPU, once loaded. Loading it (importing numba, the compiled code from its
# cache) costs about a second in a fresh process: `colorstudio colorize` of a 17.6 MP photo
# took 4.0-4.3 s with it against 3.3-3.5 s without. So a single composition loads it only
# from this many pixels, where it pays for itself; a batch loads it at its first photo
# (load_compiled_composer_soon); once loaded it is used at any size. Previews never wait.
JIT_PIXELS = 1 << 26
_JIT = None
_JIT_LOCK = threading.Lock()


def compiled_composer():
    """The compiled band composer, or None where it cannot be had (numba missing or unable to
    run here, or COLORSTUDIO_NO_JIT set): then numpy composes, with the same pixels. The first
    call imports numba and loads the compiled code (from numba's cache after the first run);
    :func:`load_compiled_composer_soon` starts that on a side thread."""
    global _JIT
    with _JIT_LOCK:
        if _JIT is None:
            import os
            fn = False
            if not os.environ.get("COLORSTUDIO_NO_JIT"):
                try:
                    from . import _compose_jit
                    _compose_jit.warm_up()
                    fn = _compose_jit.compose_rows
                except Exception:  # noqa: BLE001 - no numba, or one that cannot run here: numpy does it
                    fn = False
            _JIT = fn      # set only now: a composition meanwhile sees None, and a large one waits
    return _JIT or None


_loading = False
_loading_lock = threading.Lock()     # not _JIT_LOCK: that one is held for the whole loading


def load_compiled_composer_soon() -> None:
    """Start loading the compiled composer on a side thread (once per process), for a caller
    that knows compositions are coming and has a moment now (a batch, while it decodes its
    first photo); :func:`compiled_composer` then waits for it rather than loading again."""
    global _loading
    with _loading_lock:
        if _loading or _JIT is not None:
            return
        _loading = True
    threading.Thread(target=compiled_composer, name="compose-warm-up", daemon=True).start()


def _fused_composer(lightness: np.ndarray, field, compiled: Optional[bool]):
    """The compiled composer for this composition, or None for the numpy path: not asked
    for (``compiled`` False; None: not loaded yet and a target under JIT_PIXELS), chroma
    that is not a field to evaluate (a region's fixed chroma, the working grid's own
    answer), or none to be had."""
    if compiled is False or not isinstance(field, ChromaField) or lightness.dtype != np.float32 \
            or lightness.shape == field.shape:
        return None
    fused = _JIT or None       # loaded already: used at any size, without waiting
    if fused is None and (compiled or lightness.size >= JIT_PIXELS):
        fused = compiled_composer()
    if fused:
        field.prepare(lightness.shape[1])
        if field._columns.dtype != np.float32:      # the kernel is numpy's float32 arithmetic only
            return None
    return fused or None


def compose(lightness: np.ndarray, field: ChromaField, *, saturation: float = 1.0, bit_depth: int = 8,
            band_rows: Optional[int] = None, progress: Optional[Callable[[int, int], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None, compiled: Optional[bool] = None) -> np.ndarray:
    """Full pixels (H, W, 3) uint8/uint16 from the photo's own L and the chroma field.

    Works in bands of rows small enough to stay in the CPU's cache, two at a time (numpy
    and the compiled composer release the GIL), so memory stays a small multiple of one band
    and both cores are used. ``compiled``: True to use the compiled composer where it can be
    had, False for numpy alone, None to decide (see ``JIT_PIXELS``); the pixels are the same
    either way.
    """
    H, W = lightness.shape
    out = np.empty((H, W, 3), np.uint16 if bit_depth == 16 else np.uint8)
    field.at(lightness[:1], rows=(0, 1), full_shape=(H, W))  # build shared state before threads start
    if band_rows is None:
        band_rows = max(8, _BAND_PIXELS // max(1, W))
    bands = [(y0, min(H, y0 + band_rows)) for y0 in range(0, H, band_rows)]

    def encode(lin: np.ndarray) -> np.ndarray:
        if bit_depth == 16:
            return _encode16(lin)  # both clamp to [0, 1] themselves
        return _encode8(lin)

    fused = _fused_composer(lightness, field, compiled)
    if fused is not None:
        a_scale, b_scale = np.float32(saturation / 500.0), np.float32(saturation / 200.0)
        lut8, lut16 = _lut8(), _lut16()

    def one(band):
        y0, y1 = band
        check_stop(should_stop)
        if fused is not None:
            r0, r1, ty = _axis_taps(field.shape[0], H, y0, y1)
            fused(lightness[y0:y1], field._columns, r0, r1, ty, a_scale, b_scale, _M_NEUTRAL, out[y0:y1],
                  lut8, lut16)
            return None
        Lb = np.ascontiguousarray(lightness[y0:y1], np.float32)   # a transposed L is 2x slower
        lin, outside = _linear_raw(Lb, field.at(Lb, rows=(y0, y1), full_shape=(H, W)), saturation)
        out[y0:y1] = encode(lin)   # out-of-gamut pixels clipped for now, replaced below
        if outside is not None:
            outside.index += y0 * W
        return outside

    outside: list = []
    pulls: list = []          # pull-ins under way on the pool

    def pull(o: _Outside) -> None:
        out.reshape(-1, 3)[o.index] = encode(_pull_in(o))

    def collect(o: Optional[_Outside], last: bool = False) -> None:
        """Pull the out-of-gamut pixels in once enough have gathered, so their memory stays
        bounded: on the pool, in two halves, so the end of a composition (when most of them
        are pulled in) keeps both threads busy rather than the calling thread alone."""
        if o is not None:
            outside.append(o)
        if outside and (last or sum(p.index.size for p in outside) >= _PULL_PIXELS):
            check_stop(should_stop)
            joined = _Outside.join(outside)
            outside.clear()
            if len(bands) == 1 or joined.index.size < 4096:
                pull(joined)
            else:
                pulls.extend(_pool().submit(pull, part) for part in joined.halves())

    if len(bands) == 1:
        collect(one(bands[0]))
        if progress:
            progress(1, 1)
    else:
        # A few bands queued ahead of the two threads, so neither waits for the calling
        # thread to hand it work (it pulls gamut pixels in meanwhile), while a composition
        # started meanwhile (a preview during a batch) gets its turn after a few bands, and
        # a stop request is seen at the next band.
        pool = _pool()
        queued = iter(bands)
        pending: deque = deque(pool.submit(one, band) for band in itertools.islice(queued, _AHEAD))
        done = 0
        try:
            while pending:
                result = pending.popleft().result()
                nxt = next(queued, None)
                if nxt is not None:
                    pending.append(pool.submit(one, nxt))
                collect(result)
                done += 1
                if progress:
                    progress(done, len(bands))
        finally:
            for f in pending:
                f.cancel()
            for f in pending:
                if not f.cancelled():
                    try:
                        f.result()
                    except Exception:
                        pass
    try:
        collect(None, last=True)
    finally:
        for f in pulls:
            f.result()
    return out
