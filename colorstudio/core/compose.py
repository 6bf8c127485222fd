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

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .jobs import check_stop
from .color import _XYZN_TO_RGB, _f_inv, linear_to_srgb
from .resample import resize_bilinear

GUIDE_RADIUS = 2       # window radius on the working grid
GUIDE_EPS = 0.02 ** 2  # regularisation, in (L/100)^2 units: smaller follows edges harder


def _box_mean(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window clipped at the borders; x is (..., h, w)."""
    def along(a: np.ndarray, axis: int) -> np.ndarray:
        n = a.shape[axis]
        c = np.cumsum(a, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        hi = np.minimum(np.arange(n) + r + 1, n)
        lo = np.maximum(np.arange(n) - r, 0)
        s = np.take(c, hi, axis=axis) - np.take(c, lo, axis=axis)
        shape = [1] * a.ndim
        shape[axis] = n
        return (s / (hi - lo).reshape(shape)).astype(np.float32)
    return along(along(x, -1), -2)


@dataclass
class ChromaField:
    """Chroma ready to be evaluated at any resolution: ab = coef_a * L/100 + coef_b."""

    coef_a: np.ndarray  # (2, h, w)
    coef_b: np.ndarray  # (2, h, w)
    exact: Optional[np.ndarray] = None  # (2, h, w) the engine's ab, used as is at the working size

    @property
    def shape(self) -> tuple[int, int]:
        return self.coef_a.shape[-2:]

    def at(self, lightness: np.ndarray, rows: tuple[int, int] | None = None, full_shape=None) -> np.ndarray:
        """ab (2, h', w') for ``lightness`` (h', w'), which may be a band of rows of a taller target."""
        H, W = full_shape or lightness.shape
        if self.exact is not None and (H, W) == self.shape:
            y0, y1 = rows or (0, H)
            return self.exact[:, y0:y1]
        a = resize_bilinear(self.coef_a, H, W, rows=rows)
        b = resize_bilinear(self.coef_b, H, W, rows=rows)
        return a * (lightness * np.float32(0.01)) + b


def chroma_field(ab: np.ndarray, lightness: np.ndarray, radius: int = GUIDE_RADIUS,
                 eps: float = GUIDE_EPS) -> ChromaField:
    """Fit the guided-filter coefficients of ``ab`` (h, w, 2) against ``lightness`` (h, w)."""
    p = np.ascontiguousarray(np.moveaxis(np.asarray(ab, np.float32), -1, 0))
    I = np.asarray(lightness, np.float32) * np.float32(0.01)
    mean_I = _box_mean(I, radius)
    var_I = _box_mean(I * I, radius) - mean_I * mean_I
    mean_p = _box_mean(p, radius)
    cov = _box_mean(p * I, radius) - mean_I * mean_p
    a = cov / (var_I + np.float32(eps))
    b = mean_p - a * mean_I
    return ChromaField(_box_mean(a, radius), _box_mean(b, radius), exact=p)


def lab_to_srgb_keep_l(L: np.ndarray, ab: np.ndarray, saturation: float = 1.0) -> np.ndarray:
    """sRGB in [0, 1], (h, w, 3) float32, with lightness exactly L where the gamut allows.

    Chroma outside the sRGB gamut at a pixel's lightness is scaled towards neutral until it
    fits, so hue and lightness are kept.
    """
    L = np.asarray(L, np.float32)
    a = ab[0] * np.float32(saturation)
    b = ab[1] * np.float32(saturation)
    lin = _lab_to_linear(L, a, b)
    bad = np.any((lin < 0.0) | (lin > 1.0), axis=-1)
    if bad.any():
        Lb, ab_, bb = L[bad], a[bad], b[bad]
        lo = np.zeros_like(Lb)
        hi = np.ones_like(Lb)
        for _ in range(10):
            mid = (lo + hi) * 0.5
            t = _lab_to_linear(Lb, ab_ * mid, bb * mid)
            ok = np.all((t >= -1e-5) & (t <= 1.0 + 1e-5), axis=-1)
            lo = np.where(ok, mid, lo)
            hi = np.where(ok, hi, mid)
        lin[bad] = _lab_to_linear(Lb, ab_ * lo, bb * lo)
    return linear_to_srgb(np.clip(lin, 0.0, 1.0))


def _lab_to_linear(L, a, b) -> np.ndarray:
    fy = (L + np.float32(16.0)) / np.float32(116.0)
    fx = fy + a / np.float32(500.0)
    fz = np.maximum(fy - b / np.float32(200.0), 0.0)
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1).astype(np.float32)
    return xyz @ _XYZN_TO_RGB.T


def quantize(rgb: np.ndarray, bit_depth: int) -> np.ndarray:
    if bit_depth == 16:
        return np.rint(rgb * 65535.0).astype(np.uint16)
    return np.rint(rgb * 255.0).astype(np.uint8)


def compose(lightness: np.ndarray, field: ChromaField, *, saturation: float = 1.0, bit_depth: int = 8,
            band_rows: int = 512, progress: Optional[Callable[[int, int], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> np.ndarray:
    """Full pixels (H, W, 3) uint8/uint16 from the photo's own L and the chroma field."""
    H, W = lightness.shape
    out = np.empty((H, W, 3), np.uint16 if bit_depth == 16 else np.uint8)
    for y0 in range(0, H, band_rows):
        check_stop(should_stop)
        y1 = min(H, y0 + band_rows)
        Lb = np.asarray(lightness[y0:y1], np.float32)
        ab = field.at(Lb, rows=(y0, y1), full_shape=(H, W))
        out[y0:y1] = quantize(lab_to_srgb_keep_l(Lb, ab, saturation), bit_depth)
        if progress:
            progress(y1, H)
    return out
