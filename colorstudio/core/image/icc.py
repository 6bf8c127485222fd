"""ICC profiles: a small reader for grey (kTRC) and matrix/TRC RGB profiles, applied exactly in
float at full bit depth; LittleCMS (through Pillow) for everything else, on 8 bits.
"""
from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageCms

from colorstudio.core.color import srgb_to_linear

from .base import _Decoded, _pil_to_array
from .lightness import Curve, _Tone

def _icc_space(icc: bytes) -> bytes | None:
    return icc[16:20] if icc and len(icc) >= 20 else None


def _icc_tags(icc: bytes) -> dict[bytes, bytes]:
    if len(icc) < 132 or icc[36:40] != b"acsp":
        raise ValueError("not an ICC profile")
    (count,) = struct.unpack(">I", icc[128:132])
    tags = {}
    for i in range(min(count, 1000)):
        sig, off, size = struct.unpack(">4sII", icc[132 + 12 * i:144 + 12 * i])
        tags[sig] = icc[off:off + size]
    return tags


def _s15(b: bytes, n: int) -> list[float]:
    return [v / 65536.0 for v in struct.unpack(f">{n}i", b[:4 * n])]


def _parse_curve(tag: bytes) -> Curve:
    kind = tag[:4]
    if kind == b"curv":
        (n,) = struct.unpack(">I", tag[8:12])
        if n == 0:
            return lambda x: np.asarray(x, np.float32)
        if n == 1:
            gamma = struct.unpack(">H", tag[12:14])[0] / 256.0
            return lambda x: np.power(np.clip(x, 0, 1, dtype=np.float32), np.float32(gamma))
        table = np.frombuffer(tag[12:12 + 2 * n], dtype=">u2").astype(np.float32) / 65535.0
        if table.size != n:
            raise ValueError("short curve")
        grid = np.linspace(0.0, 1.0, n, dtype=np.float32)
        return lambda x: np.interp(x, grid, table).astype(np.float32)
    if kind == b"para":
        (ftype,) = struct.unpack(">H", tag[8:10])
        counts = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}
        if ftype not in counts:
            raise ValueError("unknown parametric curve")
        p = _s15(tag[12:], counts[ftype]) + [0.0] * 7
        g, a, b, c, d, e, f = p[:7]
        if ftype == 0:
            a, b, c, d, e, f = 1.0, 0.0, 0.0, -1.0, 0.0, 0.0
        elif ftype == 1:
            d, c, e, f = (-b / a if a else 0.0), 0.0, 0.0, 0.0
        elif ftype == 2:
            d, f, e = (-b / a if a else 0.0), c, c
            c = 0.0
        elif ftype == 3:
            e, f = 0.0, 0.0

        def para(x, g=g, a=a, b=b, c=c, d=d, e=e, f=f):
            x = np.clip(np.asarray(x, np.float32), 0, 1)
            hi = np.power(np.maximum(a * x + b, 0.0), g) + e
            lo = c * x + f
            return np.clip(np.where(x >= d, hi, lo), 0, 1).astype(np.float32)

        return para
    raise ValueError("unknown curve type")


def _parse_xyz(tag: bytes) -> list[float]:
    if tag[:4] != b"XYZ ":
        raise ValueError("not an XYZ tag")
    return _s15(tag[8:20], 3)


def _profile_tone(icc: bytes) -> _Tone | None:
    """Curves (and matrix) of a grey or matrix/TRC RGB profile; None for other profiles."""
    try:
        tags = _icc_tags(icc)
        space = _icc_space(icc)
        if space == b"GRAY" and b"kTRC" in tags:
            return _Tone([_parse_curve(tags[b"kTRC"])], None, name="icc")
        if space == b"RGB " and all(t in tags for t in (b"rTRC", b"gTRC", b"bTRC", b"rXYZ", b"gXYZ", b"bXYZ")):
            curves = [_parse_curve(tags[t]) for t in (b"rTRC", b"gTRC", b"bTRC")]
            m = np.array([_parse_xyz(tags[t]) for t in (b"rXYZ", b"gXYZ", b"bXYZ")], dtype=np.float64).T
            srgb_m = _srgb_d50_matrix()
            to_srgb = np.linalg.solve(srgb_m, m)
            return _Tone(curves, to_srgb.astype(np.float32), name="icc")
    except (ValueError, struct.error, IndexError, np.linalg.LinAlgError):
        return None
    return None


_SRGB_CACHE: dict = {}


def _srgb_profile_bytes() -> bytes:
    if "bytes" not in _SRGB_CACHE:
        _SRGB_CACHE["bytes"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB_CACHE["bytes"]


def _srgb_d50_matrix() -> np.ndarray:
    """LittleCMS's own sRGB colorants (D50-adapted), so our maths matches its conversions."""
    if "matrix" not in _SRGB_CACHE:
        tags = _icc_tags(_srgb_profile_bytes())
        _SRGB_CACHE["matrix"] = np.array([_parse_xyz(tags[t]) for t in (b"rXYZ", b"gXYZ", b"bXYZ")],
                                         dtype=np.float64).T
    return _SRGB_CACHE["matrix"]


def _is_srgb(icc: bytes) -> bool:
    """True for the many flavours of sRGB profile: by name, or by matching colorants and curve."""
    try:
        tags = _icc_tags(icc)
    except (ValueError, struct.error):
        return False
    desc = tags.get(b"desc", b"")
    if b"sRGB" in desc or b"s\x00R\x00G\x00B" in desc:
        return True
    tone = _profile_tone(icc)
    if tone is None or tone.matrix is None:
        return False
    ramp = np.linspace(0, 1, 256, dtype=np.float32)
    return bool(np.allclose(tone.matrix, np.eye(3), atol=2e-3)
                and all(np.max(np.abs(c(ramp) - srgb_to_linear(ramp))) < 2e-3 for c in tone.curves))


def cms_to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """An 8-bit RGB / CMYK / L Pillow image converted to sRGB RGB by LittleCMS, or None."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.ImageCmsProfile(io.BytesIO(_srgb_profile_bytes()))
        intent = ImageCms.Intent.PERCEPTUAL if im.mode == "CMYK" else ImageCms.Intent.RELATIVE_COLORIMETRIC
        return ImageCms.profileToProfile(im, src, dst, renderingIntent=intent, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a profile LittleCMS cannot use (or that does not fit the mode) is ignored


def _apply_icc(dec: _Decoded, samples: np.ndarray, name: str) -> tuple[_Tone, np.ndarray]:
    """How to read ``samples`` as light, honouring the embedded profile.

    * No profile, an sRGB profile, or one already applied by LittleCMS: sRGB.
    * A grey profile (kTRC) or a matrix/TRC RGB profile: its curves and colorants are applied
      exactly in float at full bit depth (the same maths LittleCMS does for such profiles with
      relative colorimetric intent, converting to its own sRGB).
    * Any other profile on 16-bit samples (LUT-based, rare): LittleCMS converts an 8-bit
      reduction, so L* of such files has 8-bit precision; the output stays 16-bit.
    * A profile that does not fit the samples (an RGB profile on a grey image) is ignored.
    """
    colour = samples.ndim == 3
    icc = dec.icc
    if not icc or dec.icc_applied or _is_srgb(icc):
        return _Tone.srgb(colour), samples
    space = _icc_space(icc)
    if space != (b"RGB " if colour else b"GRAY"):
        dec.info["icc_ignored"] = "the embedded profile does not match the image's colours"
        return _Tone.srgb(colour), samples
    tone = _profile_tone(icc)
    if tone is not None:
        return tone, samples
    # LUT-based profile: LittleCMS on 8 bits.
    if samples.dtype == np.uint8:
        u8 = samples
    elif samples.dtype == np.uint16:
        u8 = ((samples.astype(np.uint32) + 128) // 257).astype(np.uint8)
    else:
        u8 = np.round(samples * 255).astype(np.uint8)
    converted = cms_to_srgb(Image.fromarray(np.ascontiguousarray(u8), "RGB" if colour else "L"), icc)
    if converted is None:
        dec.info["icc_ignored"] = "the embedded profile could not be used"
        return _Tone.srgb(colour), samples
    rgb = _pil_to_array(converted)
    return _Tone.srgb(True), rgb

