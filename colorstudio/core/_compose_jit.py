"""The full-resolution composition compiled into one pass per pixel (numba).

``compose`` in numpy runs about fifty passes over every band of a photo (the chroma
field's rows, the Lab -> linear sRGB conversion, the gamut test, the bisection of the
out-of-gamut pixels, the encoding), and at 12 megapixels that is most of a batch's work
besides the file formats. This module does the same arithmetic pixel by pixel in compiled
code: the same float32 operations in the same order, the same tables, so its pixels are
the numpy path's bit for bit (tests check this on random fields, out-of-gamut chroma and
both bit depths). numpy stays the reference and the path of previews and regions, which
are small; this one is used for large targets when numba can be imported.

Compiled functions are cached on disk by numba (``cache=True``), so a process after the
first loads them in a few tens of milliseconds instead of compiling them again.
"""
from __future__ import annotations

import numpy as np
from numba import njit

# The constants of core.compose, as float32 so no operation is promoted to double.
_KNEE = np.float32(6.0 / 29.0)
_K16 = np.float32(16.0 / 116.0)
_INV_SLOPE = np.float32(1.0 / 7.787)
_SIXTEEN = np.float32(16.0)
_INV116 = np.float32(1.0 / 116.0)
_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_LOW = np.float32(-1e-5)
_HIGH = np.float32(1.0 + 1e-5)
_TABLE = np.float32(1 << 16)
_LAST = (1 << 16) - 1


@njit(inline="always")
def _cube(t):
    c = t * t
    c = c * t
    if t < _KNEE:
        c = (t - _K16) * _INV_SLOPE
    return c


@njit(inline="always")
def _linear(fy, Y, a500, b200, M):
    dX = _cube(fy + a500) - Y
    z = fy - b200
    if z < _ZERO:
        z = _ZERO
    dZ = _cube(z) - Y
    r = dX * M[0, 0]
    r += dZ * M[0, 2]
    r += Y
    g = dX * M[1, 0]
    g += dZ * M[1, 2]
    g += Y
    b = dX * M[2, 0]
    b += dZ * M[2, 2]
    b += Y
    return r, g, b


@njit(inline="always")
def _blend(top, bottom, t):
    """resample.resize_rows for one value: (bottom - top) * t + top, in that order."""
    k = bottom - top
    k *= t
    k += top
    return k


@njit(inline="always")
def _inside(r, g, b, low, high):
    """min(r, g, b) >= low and max(r, g, b) <= high, written with comparisons only: the
    builtins min and max keep the compiler from running a loop on vectors."""
    lo = r if r < g else g
    lo = lo if lo < b else b
    hi = r if r > g else g
    hi = hi if hi > b else b
    return (lo >= low) & (hi <= high)


@njit(inline="always")
def _pull_in_row(at, F, Ys, A, B, R, G, Bl, M, work):
    """core.compose._pull_in for the pixels ``at`` of a row: their chroma scaled towards
    neutral by the largest factor (to 1/128) that fits, by 7 steps of bisection. Their
    values are gathered first, so each step is one loop over contiguous arrays (on vectors)."""
    n = at.size
    f, y, a, b, lo, hi = work[0, :n], work[1, :n], work[2, :n], work[3, :n], work[4, :n], work[5, :n]
    for i in range(n):
        x = at[i]
        f[i] = F[x]
        y[i] = Ys[x]
        a[i] = A[x]
        b[i] = B[x]
        lo[i] = _ZERO
        hi[i] = _ONE
    for _ in range(7):
        for i in range(n):
            mid = (lo[i] + hi[i]) * _HALF
            r, g, bl = _linear(f[i], y[i], a[i] * mid, b[i] * mid, M)
            ok = _inside(r, g, bl, _LOW, _HIGH)
            lo[i] = mid if ok else lo[i]
            hi[i] = hi[i] if ok else mid
    for i in range(n):
        x = at[i]
        R[x], G[x], Bl[x] = _linear(f[i], y[i], a[i] * lo[i], b[i] * lo[i], M)


@njit(inline="always")
def _enc8(v, lut):
    i = int(v * _TABLE)          # truncation, as numpy's unsafe cast
    i = i if i > 0 else 0
    i = i if i < _LAST else _LAST
    return lut[i]


@njit(inline="always")
def _enc16(v, lut):
    t = v if v > _ZERO else _ZERO
    t = t if t < _ONE else _ONE
    t = t * _TABLE
    i = int(t)
    i = i if i < _LAST else _LAST
    frac = t - np.float32(i)
    lo = lut[i]
    out = lut[i + 1] - lo
    out *= frac
    out += lo
    return np.uint16(np.rint(out))


@njit(nogil=True, cache=True)
def _rows(L, cols, r0, r1, ty, a_scale, b_scale, M, out, lut8, lut16, sixteen):
    """Compose a band: L (h, W) float32, the field's column-resized coefficients ``cols``
    (4, h_grid, W), each band row's two grid rows r0, r1 and blend ty, into out (h, W, 3)
    (uint8 through lut8, or uint16 through lut16).

    Each row in two loops: the first, without branches that depend on the data (so the
    compiler can run it on vectors), converts every pixel and notes those outside the
    gamut; the second pulls those in and encodes."""
    h, W = L.shape
    R = np.empty(W, np.float32)
    G = np.empty(W, np.float32)
    Bl = np.empty(W, np.float32)
    F = np.empty(W, np.float32)
    Ys = np.empty(W, np.float32)
    A = np.empty(W, np.float32)
    B = np.empty(W, np.float32)
    bad = np.empty(W, np.uint8)
    at = np.empty(W, np.intp)
    work = np.empty((6, W), np.float32)
    for j in range(h):
        t = ty[j]
        Lr = L[j]
        a0, a1 = cols[0, r0[j]], cols[0, r1[j]]
        b0, b1 = cols[1, r0[j]], cols[1, r1[j]]
        c0, c1 = cols[2, r0[j]], cols[2, r1[j]]
        d0, d1 = cols[3, r0[j]], cols[3, r1[j]]
        for x in range(W):
            lv = Lr[x]
            a = _blend(a0[x], a1[x], t) * lv
            a += _blend(c0[x], c1[x], t)
            b = _blend(b0[x], b1[x], t) * lv
            b += _blend(d0[x], d1[x], t)
            A[x] = a * a_scale
            B[x] = b * b_scale
            fy = lv + _SIXTEEN
            fy *= _INV116
            F[x] = fy
        for x in range(W):
            fy = F[x]
            Y = _cube(fy)
            Ys[x] = Y
            r, g, b = _linear(fy, Y, A[x], B[x], M)
            R[x] = r
            G[x] = g
            Bl[x] = b
            bad[x] = 0 if _inside(r, g, b, _ZERO, _ONE) else 1
        n = 0
        for x in range(W):
            if bad[x]:
                at[n] = x
                n += 1
        if n:
            _pull_in_row(at[:n], F, Ys, A, B, R, G, Bl, M, work)
        o = out[j]
        if sixteen:
            for x in range(W):
                o[x, 0] = _enc16(R[x], lut16)
                o[x, 1] = _enc16(G[x], lut16)
                o[x, 2] = _enc16(Bl[x], lut16)
        else:
            for x in range(W):
                o[x, 0] = _enc8(R[x], lut8)
                o[x, 1] = _enc8(G[x], lut8)
                o[x, 2] = _enc8(Bl[x], lut8)


def compose_rows(L, cols, r0, r1, ty, a_scale, b_scale, M, out, lut8, lut16) -> None:
    """Compose the band ``out`` (h, W, 3), uint8 or uint16 (see ``_rows``)."""
    _rows(L, cols, r0, r1, ty, a_scale, b_scale, M, out, lut8, lut16, out.dtype == np.uint16)


def warm_up() -> None:
    """Compile (or load from numba's cache) the composer for both bit depths, on a tiny band."""
    L = np.zeros((1, 2), np.float32)
    cols = np.zeros((4, 1, 2), np.float32)
    row = np.zeros(1, np.intp)
    M = np.eye(3, dtype=np.float32)
    lut8, lut16 = np.zeros(1 << 16, np.uint8), np.zeros((1 << 16) + 1, np.float32)
    for dtype in (np.uint8, np.uint16):
        compose_rows(L, cols, row, row, np.zeros(1, np.float32), np.float32(1), np.float32(1), M,
                     np.empty((1, 2, 3), dtype), lut8, lut16)
