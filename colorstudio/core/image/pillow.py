"""The Pillow decoder: JPEG, PNG, BMP, WebP, GIF, PPM, TGA (and TIFF that tifffile leaves).

No process-wide lock: Pillow's pixel limit is a module global, so it is only ever raised to at
least the limit asked for (never lowered back while another thread decodes), and our own check
of the header's size, with the friendly message, runs on every open. Truncated files are
refused because ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left at Pillow's default (False).
"""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from .base import (_BAND_PIXELS, DATA_ERRORS, ImageError, _bomb_error, _damaged, _Decoded, _not_an_image,
                   _pil_to_array)
from .icc import cms_to_srgb, _is_srgb
from .metadata import _pil_metadata
from .pil_tiles import decode_wide_colour, tile_rawmode

# Formats Pillow may try. Others (EPS runs Ghostscript, PDF, fonts ...) are never attempted.
# (Camera JPEGs with several pictures open through "JPEG" as MPO.)
_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "DIB", "WEBP", "GIF", "PPM", "TGA", "AVIF")

_limit_lock = threading.Lock()


def allow_pixels(limit: int) -> None:
    """Make sure Pillow's own bomb guard is no stricter than ``limit`` (ours is checked after).

    Pillow refuses images over twice ``Image.MAX_IMAGE_PIXELS`` while opening; a user who raised
    our limit must not meet that. The global is only ever raised, so a decode in another thread
    never sees it lowered under its own limit.
    """
    with _limit_lock:
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and current < limit:
            Image.MAX_IMAGE_PIXELS = int(limit)


def _decode_pillow(fh: BinaryIO, path: Path, name: str, limit: int, head: bytes) -> _Decoded:
    im = _pil_open(fh, path, name, limit, head)
    with im:
        try:
            return _decode_pil_image(im, fh, path, name, head)
        except (ImageError, MemoryError):
            raise
        except DATA_ERRORS:
            raise _damaged(name, path) from None


# Signatures of the formats whose Pillow plugins load with Pillow's own first few
# (``Image.preinit``): a photo that starts with one of them is opened without importing all
# forty plugins (``Image.init``, 30-50 ms of a fresh process's first preview).
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
               (b"BM", "BMP"))


def _plugin_formats(head: bytes, formats) -> list:
    """The formats to try: the one the signature names, when its plugin is among Pillow's
    first few; else every allowed format Pillow has (AVIF only where it was built with it)."""
    for magic, fmt in _SIGNATURES:
        if head.startswith(magic) and fmt in formats:
            Image.preinit()
            if fmt in Image.OPEN:
                return [fmt]
    return _every_format(formats)


def _every_format(formats) -> list:
    """Every allowed format Pillow has, once all its plugins are loaded (AVIF only where Pillow
    was built with it)."""
    Image.init()
    return [f for f in formats if f in Image.OPEN]


def _pil_open(fh: BinaryIO, path: Path, name: str, limit: int, head: bytes,
              formats=_PIL_FORMATS) -> Image.Image:
    allow_pixels(limit)
    tried = _plugin_formats(head, formats)
    try:
        try:
            im = Image.open(fh, formats=tried)
        except UnidentifiedImageError:
            if len(tried) != 1:
                raise
            # Its signature, but not that format after all: let every allowed plugin look.
            fh.seek(0)
            im = Image.open(fh, formats=_every_format(formats))
    except Image.DecompressionBombError as exc:
        m = re.search(r"\((\d+) pixels\)", str(exc))
        raise _bomb_error(name, int(m.group(1)) if m else 2 * limit + 1, limit, path) from None
    except UnidentifiedImageError:
        raise _not_an_image(name, head, path) from None
    except MemoryError:
        raise
    except PermissionError:
        raise ImageError(f"Colorstudio has no permission to read {name}", path) from None
    except DATA_ERRORS:
        raise _damaged(name, path) from None
    w, h = im.size
    if w * h > limit:
        im.close()
        raise _bomb_error(name, w * h, limit, path)
    if w < 1 or h < 1:
        im.close()
        raise _damaged(name, path)
    return im


def _format_name(im: Image.Image) -> str:
    fmt = (im.format or "").upper()
    return {"MPO": "JPEG", "DIB": "BMP"}.get(fmt, fmt)


def _decode_pil_image(im: Image.Image, fh: BinaryIO, path: Path, name: str, head: bytes) -> _Decoded:
    fmt = _format_name(im)
    rawmode = tile_rawmode(im)
    wide_colour = (im.mode in ("RGB", "RGBA") and rawmode is not None and ";16" in rawmode) or (
        fmt == "PNG" and rawmode == "LA;16B")
    if wide_colour:
        dec = _Decoded(np.empty((0, 0), np.uint8), None, 16, fmt)
        dec.samples, dec.alpha = decode_wide_colour(fh, im, rawmode, metadata_into=dec)
        if im.info.get("transparency") is not None and dec.alpha is None:
            dec.transparent_value = im.info["transparency"]
        return dec

    im.load()
    if getattr(im, "n_frames", 1) > 1:
        im.info.setdefault("frames", im.n_frames)
    dec = _Decoded(np.empty((0, 0), np.uint8), None, 8, fmt)
    _pil_metadata(im, dec)
    icc = dec.icc

    mode = im.mode
    transparency = im.info.get("transparency")
    if mode == "1":
        im = im.convert("L")
    elif mode in ("P", "PA"):
        has_alpha = mode == "PA" or transparency is not None
        im = im.convert("RGBA" if has_alpha else ("L" if _palette_is_grey(im) else "RGB"))
        transparency = None
    elif mode == "La":
        im = im.convert("LA")
    elif mode == "RGBa":
        im = im.convert("RGBA")
    elif mode in ("RGBX", "YCbCr", "HSV"):
        im = im.convert("RGB")
    elif mode == "LAB":
        raise ImageError(f"{name} is stored as CIELAB, which Colorstudio does not read; "
                         "save it as RGB or grey first", path)

    alpha = None
    if im.mode in ("LA", "RGBA"):
        alpha = _pil_to_array(im.getchannel("A"))
        im = im.convert("L" if im.mode == "LA" else "RGB")

    # 8-bit colour with a non-sRGB profile: convert with LittleCMS before leaving Pillow.
    if icc and im.mode in ("RGB", "CMYK") and not _is_srgb(icc):
        converted = cms_to_srgb(im, icc)
        if converted is not None:
            im, dec.icc_applied = converted, True
    if im.mode == "CMYK":
        im = im.convert("RGB")

    if im.mode in ("L", "RGB"):
        samples = _pil_to_array(im)
        depth = 8
    elif im.mode.startswith("I;16"):
        samples = _pil_to_array(im).astype(np.uint16, copy=False)
        depth = 16
    elif im.mode == "I":
        samples = _pil_to_array(im)
        lo, hi = (int(samples.min()), int(samples.max())) if samples.size else (0, 0)
        if lo < 0 or hi > 65535:
            raise ImageError(f"{name} uses 32-bit integer samples, which Colorstudio does not read", path)
        samples = samples.astype(np.uint16)
        depth = 16
    elif im.mode == "F":
        samples = np.clip(np.nan_to_num(_pil_to_array(im)), 0.0, 1.0).astype(np.float32, copy=False)
        depth = 16
    else:
        raise ImageError(f"{name} uses the {im.mode} colour mode, which Colorstudio does not read", path)
    dec.samples, dec.alpha, dec.bit_depth = samples, alpha, depth
    if transparency is not None and alpha is None and not isinstance(transparency, bytes):
        dec.transparent_value = transparency
    return dec



def _palette_is_grey(im: Image.Image) -> bool:
    pal = im.getpalette("RGB")
    if not pal:
        return False
    p = np.asarray(pal, dtype=np.uint8).reshape(-1, 3)
    if im.width * im.height <= _BAND_PIXELS:
        # Only the entries in use matter (palettes are often padded with colours).
        counts = np.bincount(np.asarray(im).ravel(), minlength=len(p))[:len(p)]
        p = p[np.flatnonzero(counts)]
    return bool(np.all(p[:, 0] == p[:, 1]) and np.all(p[:, 1] == p[:, 2]))



def _alpha_from_transparent_value(samples: np.ndarray, value, depth: int) -> np.ndarray | None:
    full = 255 if depth == 8 else 65535
    dtype = np.uint8 if depth == 8 else np.uint16
    if np.issubdtype(samples.dtype, np.floating):
        return None
    if samples.ndim == 2 and isinstance(value, (int, np.integer)):
        return np.where(samples == value, 0, full).astype(dtype)
    if samples.ndim == 3 and isinstance(value, tuple) and len(value) == 3:
        hit = (samples[..., 0] == value[0]) & (samples[..., 1] == value[1]) & (samples[..., 2] == value[2])
        return np.where(hit, 0, full).astype(dtype)
    return None

