"""Colour science: sRGB (D65) <-> CIELAB, and colour names the user types.

The conversions follow the same definitions as scikit-image's ``rgb2lab`` / ``lab2rgb``
(sRGB companding, D65 white, the CIE 1976 L*a*b* piecewise cube root), written for
float32 speed on whole photos. ``lightness_from_luminance`` gives L* from linear
luminance alone, which is what a grey photo carries.
"""
from __future__ import annotations

import re

import numpy as np

# sRGB -> XYZ (D65), the matrix scikit-image uses.
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423],
     [0.212671, 0.715160, 0.072169],
     [0.019334, 0.119193, 0.950227]], dtype=np.float64)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)

# Fold the white point into the matrices so each pixel needs one 3x3 product.
_RGB_TO_XYZN = (_RGB_TO_XYZ / _WHITE_D65[:, None]).astype(np.float32)
_XYZN_TO_RGB = (_XYZ_TO_RGB * _WHITE_D65[None, :]).astype(np.float32)

_EPS = 0.008856
_KAPPA = 7.787


class ColorError(ValueError):
    """A colour given by the user could not be understood."""


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float32)
    return np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=np.float32)
    out = np.where(c > 0.0031308, 1.055 * np.power(np.maximum(c, 0.0031308), 1 / 2.4) - 0.055, 12.92 * c)
    return out.astype(np.float32)


def _f(t: np.ndarray) -> np.ndarray:
    return np.where(t > _EPS, np.cbrt(t), _KAPPA * t + 16.0 / 116.0)


def _f_inv(t: np.ndarray) -> np.ndarray:
    t3 = t * t * t
    return np.where(t3 > _EPS, t3, (t - 16.0 / 116.0) / _KAPPA)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1], shape (..., 3) -> CIELAB (L in [0, 100]), float32."""
    lin = srgb_to_linear(rgb)
    xyz = lin @ _RGB_TO_XYZN.T
    f = _f(xyz)
    L = 116.0 * f[..., 1] - 16.0
    a = 500.0 * (f[..., 0] - f[..., 1])
    b = 200.0 * (f[..., 1] - f[..., 2])
    # The piecewise definition gives L = 903.3 Y below the threshold, as scikit-image does.
    return np.stack([L, a, b], axis=-1).astype(np.float32)


def lab_to_rgb(lab: np.ndarray, clip: bool = True) -> np.ndarray:
    """CIELAB, shape (..., 3) -> sRGB in [0, 1] (clipped unless ``clip=False``), float32."""
    lab = np.asarray(lab, dtype=np.float32)
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = fy + lab[..., 1] / 500.0
    fz = fy - lab[..., 2] / 200.0
    fz = np.maximum(fz, 0.0)  # scikit-image clips negative z the same way
    xyz = np.stack([_f_inv(fx), _f_inv(fy), _f_inv(fz)], axis=-1).astype(np.float32)
    lin = xyz @ _XYZN_TO_RGB.T
    rgb = linear_to_srgb(lin)
    return np.clip(rgb, 0.0, 1.0) if clip else rgb


def lightness_from_luminance(y: np.ndarray) -> np.ndarray:
    """Relative luminance Y in [0, 1] (linear) -> L* in [0, 100], float32."""
    y = np.asarray(y, dtype=np.float32)
    return (116.0 * _f(y) - 16.0).astype(np.float32)


def lightness_from_gray(gray: np.ndarray) -> np.ndarray:
    """sRGB-encoded grey values in [0, 1] -> L* in [0, 100], float32.

    A grey pixel has R = G = B, whose luminance is the linearised value itself.
    """
    return lightness_from_luminance(srgb_to_linear(gray))


def in_gamut(lab: np.ndarray) -> np.ndarray:
    """True where a Lab colour lies inside the sRGB gamut (to a small tolerance)."""
    rgb = lab_to_rgb(lab, clip=False)
    return np.all((rgb >= -1e-3) & (rgb <= 1 + 1e-3), axis=-1)




_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


def parse_color(value) -> tuple[int, int, int]:
    """'#c86432', 'c86432', '#c63', (200, 100, 50) or [200, 100, 50] -> (r, g, b) in 0..255.

    Raises ColorError with a sentence naming the value when it is not a colour.
    """
    if isinstance(value, str):
        m = _HEX.match(value.strip())
        if not m:
            raise ColorError(f"{value!r} is not a colour (expected #rrggbb)")
        h = m.group(1)
        if len(h) == 3:
            h = "".join(ch * 2 for ch in h)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if all(0 <= v <= 255 for v in value):
            return tuple(int(round(v)) for v in value)  # type: ignore[return-value]
    raise ColorError(f"{value!r} is not a colour (expected #rrggbb)")


def color_to_hex(rgb) -> str:
    r, g, b = (int(round(float(v))) for v in rgb)
    return f"#{max(0, min(255, r)):02x}{max(0, min(255, g)):02x}{max(0, min(255, b)):02x}"


def hex_to_ab(value) -> tuple[float, float]:
    """The chroma (a*, b*) of a colour: the only part of a hint that is used."""
    rgb = np.array(parse_color(value), dtype=np.float32) / 255.0
    lab = rgb_to_lab(rgb[None, :])[0]
    return float(lab[1]), float(lab[2])


def ab_at_lightness(L: float, ab) -> tuple[int, int, int]:
    """The sRGB colour (0..255) with lightness L and chroma ab, clipped into the gamut.

    This is how a hint colour looks on the photo: its chroma at the photo's lightness.
    """
    lab = np.array([[L, ab[0], ab[1]]], dtype=np.float32)
    rgb = lab_to_rgb(lab)[0]
    return tuple(int(round(v * 255)) for v in rgb)  # type: ignore[return-value]
