"""Photos in: any common file -> the photo's full-resolution lightness L*, alpha and metadata.

A photo's tones are sacred: colorization only adds chroma, so what an engine and the export
need from a source file is its CIELAB lightness at full resolution and full bit depth, its
alpha, and the metadata worth carrying to the output. ``open_image`` decodes once, applies the
EXIF orientation, honours an embedded ICC profile and turns the samples into float32 L* in row
bands so that a 50-megapixel scan needs only a few copies in memory.

Decoders:

* Pillow for JPEG, PNG, BMP, WebP, GIF, TIFF (8-bit, 1-bit, palette, CMYK, 16-bit grey ...).
* 16-bit colour PNG: Pillow only keeps the high byte of each sample, so the same (C) zlib
  decoder is run twice, once unpacking the high bytes and once the low bytes, which are joined.
* 16-bit colour and float TIFF: tifffile, falling back to the two-pass Pillow decoder when
  tifffile lacks the file's codec (LZW, JPEG and PackBits need the optional imagecodecs).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import struct
import sys
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageCms, ImageFile, UnidentifiedImageError

from colorstudio.core.color import (
    _RGB_TO_XYZ,
    lightness_from_luminance,
    linear_to_srgb,
    srgb_to_linear,
)

__all__ = ["ImageError", "SourceImage", "open_image", "max_pixels_default"]

MAX_PIXELS_ENV = "COLORSTUDIO_MAX_PIXELS"

# Formats Pillow may try. Others (EPS runs Ghostscript, PDF, fonts ...) are never attempted.
# (Camera JPEGs with several pictures open through "JPEG" as MPO.)
_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "BMP", "DIB", "WEBP", "GIF", "PPM", "TGA", "AVIF")

# The luminance row of the sRGB -> XYZ matrix (the one scikit-image uses for L*).
_Y_ROW = _RGB_TO_XYZ[1].astype(np.float32)

# Roughly this many pixels per band when converting to L* (bounded temporaries).
_BAND_PIXELS = 1 << 21

_EXIF_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
# IFD0 tags of a TIFF that describe the photo rather than its storage: safe to carry.
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298, _EXIF_ORIENTATION)

_pillow_lock = threading.RLock()


class ImageError(ValueError):
    """A photo could not be opened; the message is one sentence for the user naming the file."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


@dataclass(eq=False)
class SourceImage:
    """A photo as Colorstudio sees it: full-resolution lightness, alpha and metadata.

    ``lightness`` is CIELAB L* (float32, 0..100) at full resolution and full bit depth after
    the EXIF orientation; ``alpha`` has the same depth as ``bit_depth`` (uint8 or uint16).
    ``exif`` is the source's EXIF block (``b"Exif\\0\\0"`` + TIFF data, as Pillow writes it)
    with the orientation reset to 1, because the pixels are already upright.
    ``info`` holds other metadata worth keeping: ``dpi``, ``text`` (PNG text chunks),
    ``xmp`` (bytes, orientation reset), ``description``, ``orientation`` (the original value).
    """

    path: Path | None
    lightness: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    format: str
    was_color: bool
    icc_profile: bytes | None
    exif: bytes | None
    info: dict = field(default_factory=dict)
    content_hash: str = ""

    @property
    def width(self) -> int:
        return int(self.lightness.shape[1])

    @property
    def height(self) -> int:
        return int(self.lightness.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def __repr__(self) -> str:
        name = self.path.name if self.path else "array"
        return (f"SourceImage({name!r}, {self.width}x{self.height}, {self.bit_depth}-bit "
                f"{self.format}, alpha={self.alpha is not None}, was_color={self.was_color})")

    def gray_u8(self, max_side: int | None = None) -> np.ndarray:
        """The photo as sRGB-encoded grey (uint8, H x W) for display.

        With ``max_side`` the photo is shrunk by area averaging (of L*) so that its long side
        is at most ``max_side``; it is never enlarged. For an 8-bit grey source at full size
        this gives back the source's own pixel values.
        """
        L = self.lightness
        if max_side is not None:
            if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1:
                raise ValueError(f"max_side must be a positive whole number, not {max_side!r}")
            L = _shrink_area(L, int(max_side))
        out = np.empty(L.shape, dtype=np.uint8)
        for r0, r1 in _bands(L.shape[0], L.shape[1]):
            out[r0:r1] = _lightness_to_gray_u8(L[r0:r1])
        return out

    @classmethod
    def from_array(cls, array, *, bit_depth: int | None = None) -> "SourceImage":
        """A SourceImage from pixels in memory (tests, the Python API).

        ``array``: grey (H, W), grey+alpha (H, W, 2), RGB (H, W, 3) or RGBA (H, W, 4), as
        uint8, uint16, bool or float in [0, 1]; colour values are sRGB. ``bit_depth`` defaults
        to the dtype's (8 for uint8/bool, 16 for uint16 and float). ``content_hash`` is the
        SHA-256 of the shape, dtype and pixel bytes.
        """
        a = np.asarray(array)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or a.size == 0:
            raise ImageError(f"an image array must be (H, W), (H, W, 2), (H, W, 3) or (H, W, 4), "
                             f"not {a.shape}")
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.dtype == np.uint8:
            depth = 8
        elif a.dtype == np.uint16:
            depth = 16
        elif np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)):
                raise ImageError("an image array holds NaN or infinite values")
            depth = 16
            a = np.clip(a, 0.0, 1.0).astype(np.float32, copy=False)
        else:
            raise ImageError(f"an image array must be uint8, uint16 or float, not {a.dtype}")
        if bit_depth is not None:
            if bit_depth not in (8, 16):
                raise ImageError(f"bit_depth must be 8 or 16, not {bit_depth!r}")
            depth = bit_depth
        h = hashlib.sha256(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))

        alpha = None
        samples = a
        if a.ndim == 3 and a.shape[2] in (2, 4):
            samples = a[:, :, :-1] if a.shape[2] == 4 else a[:, :, 0]
            alpha = _alpha_to_depth(a[:, :, -1], depth)
        L, was_color = _lightness(samples, _Tone.srgb(samples.ndim == 3))
        return cls(path=None, lightness=L, alpha=alpha, bit_depth=depth, format="ARRAY",
                   was_color=was_color, icc_profile=None, exif=None, info={},
                   content_hash=h.hexdigest())


# ---------------------------------------------------------------------------------------------
# The pixel limit


def max_pixels_default() -> int:
    """The pixel limit for opening photos: $COLORSTUDIO_MAX_PIXELS if set, else Pillow's limit."""
    raw = os.environ.get(MAX_PIXELS_ENV)
    if raw is None or not raw.strip():
        return int(Image.MAX_IMAGE_PIXELS or 89478485)
    return _parse_pixel_limit(raw, f"{MAX_PIXELS_ENV}")


def _parse_pixel_limit(value, what: str) -> int:
    text = str(value).strip().replace("_", "").replace(",", "")
    try:
        number = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or number < 1 or number != int(number):
        raise ImageError(f"{what} must be a positive whole number of pixels, not {value!r}")
    return int(number)


def _mp(pixels: float) -> str:
    mp = pixels / 1e6
    return f"{mp:.1f}" if mp >= 0.1 else f"{mp:.2g}"


def _bomb_error(name: str, pixels: int, limit: int, path) -> ImageError:
    return ImageError(
        f"{name} is {_mp(pixels)} megapixels, over the {_mp(limit)}-megapixel limit that guards "
        "against decompression bombs; if you trust the file, raise the limit with --max-pixels "
        f"or the {MAX_PIXELS_ENV} environment variable", path)


@contextlib.contextmanager
def _pillow_guard(limit: int):
    """Pillow's own bomb guard set to our limit, and truncated files refused, while decoding.

    Pillow reads both settings from module globals, so the decode runs under a lock; our own
    header check (with the friendly message) comes first, Pillow's stays on behind it.
    """
    with _pillow_lock:
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = limit
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


# ---------------------------------------------------------------------------------------------
# Opening


@dataclass
class _Decoded:
    samples: np.ndarray            # (H, W) grey or (H, W, 3) colour: uint8, uint16 or float32 0..1
    alpha: np.ndarray | None
    bit_depth: int
    format: str
    icc: bytes | None = None
    icc_applied: bool = False       # samples are already sRGB (the profile was applied by lcms)
    exif: bytes | None = None
    orientation: int = 1
    info: dict = field(default_factory=dict)
    premultiplied: bool = False     # alpha is associated (TIFF extra sample 1)
    transparent_value: object = None  # a PNG/GIF tRNS single colour, turned into alpha later


def open_image(path, *, max_pixels: int | None = None) -> SourceImage:
    """Open a photo: its full-resolution L*, alpha and metadata, upright per its EXIF.

    Reads JPEG, PNG, TIFF, BMP, WebP (and GIF, PPM, TGA): grey, grey+alpha, RGB(A), palette,
    CMYK and 1-bit, 8 and 16 bits per sample; an embedded ICC profile is applied (see
    ``_apply_icc`` for how 16-bit samples with a non-sRGB profile are handled).
    ``max_pixels`` (default ``max_pixels_default()``) guards against decompression bombs and
    is checked from the header before any pixel is decoded.

    Raises ImageError with one sentence naming the file for anything that is not a readable
    photo: missing, a folder, unreadable, empty, not an image, truncated or damaged, too big.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ImageError(f"{path!r} is not a file path")
    path = Path(path)
    name = path.name or str(path)
    limit = max_pixels_default() if max_pixels is None else _parse_pixel_limit(max_pixels, "the pixel limit")

    head, _size = _check_file(path, name)
    content_hash = _hash_file(path, name)
    try:
        if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
            dec = _decode_tiff(path, name, limit, head)
        else:
            dec = _decode_pillow(path, name, limit, head)
        samples, alpha = dec.samples, dec.alpha
        if dec.transparent_value is not None and alpha is None:
            alpha = _alpha_from_transparent_value(samples, dec.transparent_value, dec.bit_depth)
        samples = _orient(samples, dec.orientation)
        alpha = None if alpha is None else np.ascontiguousarray(_orient(alpha, dec.orientation))
        tone, samples = _apply_icc(dec, samples, name)
        L, was_color = _lightness(samples, tone, alpha if dec.premultiplied else None)
    except MemoryError:
        raise ImageError(f"{name} is too large to open in the memory available", path) from None

    info = dict(dec.info)
    info["orientation"] = dec.orientation
    if isinstance(info.get("xmp"), (bytes, bytearray)):
        info["xmp"] = _xmp_upright(bytes(info["xmp"]))
    return SourceImage(path=path, lightness=L, alpha=alpha, bit_depth=dec.bit_depth,
                       format=dec.format, was_color=was_color, icc_profile=dec.icc,
                       exif=dec.exif, info=info, content_hash=content_hash)


def _check_file(path: Path, name: str) -> tuple[bytes, int]:
    """The first bytes of the file, or ImageError saying why it cannot be read."""
    try:
        if path.is_dir():
            raise ImageError(f"{name} is a folder, not a photo", path)
        with open(path, "rb") as fh:
            head = fh.read(64)
            size = os.fstat(fh.fileno()).st_size
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError(f"{path} does not exist", path) from None
    except IsADirectoryError:
        raise ImageError(f"{name} is a folder, not a photo", path) from None
    except PermissionError:
        raise ImageError(f"Colorstudio has no permission to read {name}", path) from None
    except OSError as exc:
        raise ImageError(f"{name} could not be read: {exc.strerror or exc}", path) from None
    if not head:
        raise ImageError(f"{name} is empty (0 bytes), not a photo", path)
    return head, size


def _hash_file(path: Path, name: str) -> str:
    """SHA-256 of the file's bytes, streamed so that big files are never held twice."""
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError as exc:
        raise ImageError(f"{name} could not be read: {exc.strerror or exc}", path) from None


_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def _looks_like_image(head: bytes) -> bool:
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _not_an_image(name: str, head: bytes, path) -> ImageError:
    if _looks_like_image(head):
        return ImageError(f"{name} is truncated or damaged", path)
    reason = "its contents are not a known image format"
    if head.startswith(b"%PDF"):
        reason = "it looks like a PDF document"
    elif head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return ImageError(f"{name} is a HEIC photo, which Colorstudio does not read; "
                              "convert it to JPEG or PNG first", path)
        reason = "it looks like a video or other media file"
    elif head.startswith(b"PK\x03\x04"):
        reason = "it looks like a ZIP archive"
    elif b"\x00" not in head and sum(32 <= c < 127 or c in (9, 10, 13) or c >= 0x80 for c in head) >= 0.95 * len(head):
        reason = "it looks like text"
    return ImageError(f"{name} is not an image Colorstudio can read ({reason})", path)


def _damaged(name: str, path) -> ImageError:
    return ImageError(f"{name} is truncated or damaged", path)


# Exceptions that mean "this file's data is broken" from Pillow, zlib, tifffile and struct.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
                  IndexError, KeyError, TypeError, RuntimeError)


# ---------------------------------------------------------------------------------------------
# Pillow


def _decode_pillow(path: Path, name: str, limit: int, head: bytes) -> _Decoded:
    with _pillow_guard(limit):
        im = _pil_open(path, name, limit, head)
        with im:
            try:
                return _decode_pil_image(im, path, name, head)
            except (ImageError, MemoryError):
                raise
            except _DECODE_ERRORS:
                raise _damaged(name, path) from None


def _pil_open(path: Path, name: str, limit: int, head: bytes, formats=_PIL_FORMATS) -> Image.Image:
    Image.init()
    formats = [f for f in formats if f in Image.OPEN]  # AVIF only where Pillow was built with it
    try:
        im = Image.open(path, formats=formats)
    except Image.DecompressionBombError as exc:
        m = re.search(r"\((\d+) pixels\)", str(exc))
        raise _bomb_error(name, int(m.group(1)) if m else 2 * limit + 1, limit, path) from None
    except UnidentifiedImageError:
        raise _not_an_image(name, head, path) from None
    except MemoryError:
        raise
    except PermissionError:
        raise ImageError(f"Colorstudio has no permission to read {name}", path) from None
    except _DECODE_ERRORS:
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


def _decode_pil_image(im: Image.Image, path: Path, name: str, head: bytes) -> _Decoded:
    fmt = _format_name(im)
    rawmode = _tile_rawmode(im)
    wide_colour = (im.mode in ("RGB", "RGBA") and rawmode is not None and ";16" in rawmode) or (
        fmt == "PNG" and rawmode == "LA;16B")
    if wide_colour:
        dec = _Decoded(np.empty((0, 0), np.uint8), None, 16, fmt)
        dec.samples, dec.alpha = _decode_wide_colour(path, im, rawmode, metadata_into=dec)
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
        converted = _cms_to_srgb(im, icc)
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


def _tile_rawmode(im: Image.Image) -> str | None:
    tile = getattr(im, "tile", None) or []
    if not tile:
        return None
    args = tile[0].args
    raw = args[0] if isinstance(args, tuple) and args else args
    return raw if isinstance(raw, str) else None


def _swap_16_rawmode(raw: str) -> str:
    """The rawmode that unpacks the *other* byte of each 16-bit sample."""
    if raw.endswith("16N"):
        raw = raw[:-1] + ("L" if sys.byteorder == "little" else "B")
    if raw.endswith("16B"):
        return raw[:-1] + "L"
    if raw.endswith("16L"):
        return raw[:-1] + "B"
    raise ValueError(f"not a 16-bit rawmode: {raw}")


def _decode_wide_colour(path: Path, im: Image.Image, rawmode: str | None,
                        metadata_into: _Decoded | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """16-bit colour samples through Pillow's own decoders, which keep only 8 bits per sample.

    The zlib / libtiff decoder undoes compression and PNG filtering on whole bytes; only the
    final unpacking drops a byte. Unpacking once with the rawmode that takes the high byte and
    once with its opposite-endian twin (which takes the low byte) gives both bytes exactly.
    Grey+alpha 16-bit PNG has the same 4 bytes per pixel as 8-bit RGBA, so one 8-bit RGBA
    decode yields L-high, L-low, A-high, A-low.
    """
    fmt = im.format
    if rawmode is None:
        raise ValueError("no rawmode")

    def load(mapper, into=None, shift: int = 0):
        """Decode with the mapped rawmode; OR the bytes (shifted) into ``into``, or return them."""
        nonlocal metadata_into
        with Image.open(path, formats=[{"MPO": "JPEG"}.get(fmt, fmt)]) as part:
            if _tile_rawmode(part) != rawmode or any(t.codec_name not in ("zip", "raw", "libtiff")
                                                     for t in part.tile):
                raise ValueError("unexpected tile layout")
            part.tile = [_retile(t, mapper) for t in part.tile]
            part.load()
            if metadata_into is not None:
                # After load: a PNG's eXIf chunk may follow the pixels.
                _pil_metadata(part, metadata_into)
                metadata_into = None
            if into is None:
                return _pil_to_array(part)
            w, h = part.size
            rows = max(1, _BAND_PIXELS // w)
            for y in range(0, h, rows):
                band = np.asarray(part.crop((0, y, w, min(y + rows, h))))
                if shift:
                    into[y:y + rows] = band.astype(np.uint16) << shift
                else:
                    into[y:y + rows] |= band
            return into

    if rawmode == "LA;16B":
        raw = load(lambda r: "RGBA")
        grey = (raw[..., 0].astype(np.uint16) << 8) | raw[..., 1]
        alpha = (raw[..., 2].astype(np.uint16) << 8) | raw[..., 3]
        return grey, alpha
    channels = 4 if im.mode == "RGBA" else 3
    w, h = im.size
    # Band by band into one uint16 array: peak memory is that array plus one Pillow image.
    out = np.empty((h, w, channels), dtype=np.uint16)
    load(lambda r: r, out, shift=8)
    load(_swap_16_rawmode, out)
    if channels == 4:
        return out[..., :3], np.ascontiguousarray(out[..., 3])
    return out, None


def _retile(t, mapper):
    args = t.args
    if isinstance(args, tuple):
        return t._replace(args=(mapper(args[0]),) + tuple(args[1:]))
    return t._replace(args=mapper(args))


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """A Pillow image as a numpy array, built band by band to avoid Pillow's whole-image bytes."""
    w, h = im.size
    if w * h <= _BAND_PIXELS:
        return np.array(im)
    rows = max(1, _BAND_PIXELS // w)
    first = np.asarray(im.crop((0, 0, w, min(rows, h))))
    out = np.empty((h,) + first.shape[1:], dtype=first.dtype)
    out[:first.shape[0]] = first
    for y in range(first.shape[0], h, rows):
        out[y:y + rows] = np.asarray(im.crop((0, y, w, min(y + rows, h))))
    return out


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


def _pil_metadata(im: Image.Image, dec: _Decoded) -> None:
    info = im.info
    icc = info.get("icc_profile")
    dec.icc = bytes(icc) if icc else None
    out: dict = {}
    dpi = info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        try:
            x, y = float(dpi[0]), float(dpi[1])
            if x > 0 and y > 0 and math.isfinite(x) and math.isfinite(y):
                out["dpi"] = (x, y)
        except (TypeError, ValueError):
            pass
    text = getattr(im, "text", None) if dec.format == "PNG" else None
    if text:
        out["text"] = {str(k): str(v) for k, v in text.items() if k != "XML:com.adobe.xmp"}
        if not out["text"]:
            del out["text"]
    xmp = info.get("xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    if xmp:
        out["xmp"] = bytes(xmp)
    comment = info.get("comment")
    if isinstance(comment, bytes):
        comment = comment.decode("utf-8", "replace")
    if comment:
        out["description"] = comment
    if "frames" in info:
        out["frames"] = info["frames"]
    iptc = _iptc_from_app13(getattr(im, "applist", None) or ())
    if iptc:
        out["iptc"] = iptc
    try:
        exif = im.getexif()
    except Exception:  # a broken EXIF block costs the EXIF, not the photo
        exif = Image.Exif()
    orientation = exif.get(_EXIF_ORIENTATION, 1)
    dec.orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    desc = exif.get(0x010E)
    if isinstance(desc, str) and desc.strip() and not desc.startswith('{"shape"') and "description" not in out:
        out["description"] = desc.strip()
    dec.exif = _exif_upright(exif, tiff=dec.format == "TIFF")
    dec.info = out


def _exif_upright(exif: Image.Exif, *, tiff: bool) -> bytes | None:
    """EXIF bytes with orientation 1; for a TIFF only the descriptive tags and sub-IFDs."""
    try:
        if tiff:
            clean = Image.Exif()
            for tag in _TIFF_DESCRIPTIVE_TAGS:
                if tag in exif:
                    clean[tag] = exif[tag]
            for ifd in (_EXIF_IFD, _GPS_IFD):
                if ifd in exif:
                    sub = exif.get_ifd(ifd)
                    if sub:
                        clean[ifd] = dict(sub)
            exif = clean
        # Orientation alone (Pillow also lifts it from XMP) is not worth an EXIF block.
        if len(exif) == 0 or set(exif) == {_EXIF_ORIENTATION}:
            return None
        if _EXIF_ORIENTATION in exif:
            exif[_EXIF_ORIENTATION] = 1
        return exif.tobytes()
    except Exception:  # an EXIF block Pillow cannot write back is dropped, not fatal
        return None


_XMP_ORIENT_ATTR = re.compile(rb'(tiff:Orientation\s*=\s*["\'])\d(["\'])')
_XMP_ORIENT_ELEM = re.compile(rb"(<tiff:Orientation>)\s*\d\s*(</tiff:Orientation>)")


def _xmp_upright(xmp: bytes) -> bytes:
    xmp = _XMP_ORIENT_ATTR.sub(rb"\g<1>1\g<2>", xmp)
    return _XMP_ORIENT_ELEM.sub(rb"\g<1>1\g<2>", xmp)


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


def _alpha_to_depth(alpha: np.ndarray, depth: int) -> np.ndarray:
    a = np.asarray(alpha)
    if np.issubdtype(a.dtype, np.floating):
        full = 255 if depth == 8 else 65535
        return np.round(np.clip(a, 0, 1) * full).astype(np.uint8 if depth == 8 else np.uint16)
    if depth == 8:
        if a.dtype == np.uint16:
            return ((a.astype(np.uint32) + 128) // 257).astype(np.uint8)
        return np.ascontiguousarray(a.astype(np.uint8, copy=False))
    if a.dtype == np.uint8:
        return a.astype(np.uint16) * 257
    return np.ascontiguousarray(a.astype(np.uint16, copy=False))


# ---------------------------------------------------------------------------------------------
# TIFF


def _decode_tiff(path: Path, name: str, limit: int, head: bytes) -> _Decoded:
    """TIFF: tifffile for the pixels where it can, Pillow for the metadata and the rest.

    tifffile decodes grey, grey+alpha, RGB and RGBA at 1, 8, 16 bits and float exactly (Pillow
    keeps only 8 bits of 16-bit colour, reads 16-bit planar files wrongly and does not invert
    16-bit min-is-white). Pillow decodes what tifffile cannot: palettes, CMYK, YCbCr / JPEG, and
    the LZW, JPEG and PackBits codecs that tifffile needs the optional imagecodecs for; 16-bit
    colour then goes through the two-pass decoder.
    """
    import tifffile

    meta: _Decoded | None = None
    with _pillow_guard(limit):
        try:
            with _pil_open(path, name, limit, head, formats=("TIFF",)) as pil_im:
                meta = _Decoded(np.empty((0, 0), np.uint8), None, 8, "TIFF")
                _pil_metadata(pil_im, meta)
        except ImageError as exc:
            if "megapixels" in str(exc):
                raise
            meta = None  # tifffile may still read it

    page_info = None
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            h, w = int(page.imagelength), int(page.imagewidth)
            if w * h > limit:
                raise _bomb_error(name, w * h, limit, path)
            page_info = (page.photometric, int(page.bitspersample), int(page.samplesperpixel),
                         int(page.planarconfig))
            if _tifffile_can_read(page):
                dec = _tifffile_page(page, name, path)
                if meta is None:
                    _tifffile_metadata(page, dec)
                else:
                    dec.icc, dec.exif, dec.orientation, dec.info = meta.icc, meta.exif, meta.orientation, meta.info
                return dec
    except (ImageError, MemoryError):
        raise
    except _DECODE_ERRORS as exc:
        if "imagecodecs" not in str(exc):
            raise _damaged(name, path) from exc
        if meta is None:
            raise ImageError(f"{name} uses a TIFF compression Colorstudio cannot read", path) from exc
    if meta is None:
        raise ImageError(f"{name} uses a TIFF layout Colorstudio cannot read", path)

    from tifffile import PHOTOMETRIC

    with _pillow_guard(limit):
        with _pil_open(path, name, limit, head, formats=("TIFF",)) as im:
            try:
                rawmode = _tile_rawmode(im)
                if im.mode in ("RGB", "RGBA") and page_info and page_info[1] == 16:
                    if rawmode is None or ";16" not in rawmode:
                        raise ImageError(f"{name} stores 16-bit colour in a layout Colorstudio cannot read "
                                         "without the imagecodecs package", path)
                    samples, alpha = _decode_wide_colour(path, im, rawmode)
                    dec = _Decoded(samples, alpha, 16, "TIFF")
                else:
                    dec = _decode_pil_image(im, path, name, head)
            except (ImageError, MemoryError):
                raise
            except _DECODE_ERRORS as exc:
                raise _damaged(name, path) from exc
    if page_info and page_info[0] == PHOTOMETRIC.MINISWHITE and dec.samples.dtype == np.uint16:
        dec.samples = 65535 - dec.samples  # Pillow inverts 8-bit min-is-white only
    dec.icc, dec.exif, dec.orientation, dec.info = meta.icc, meta.exif, meta.orientation, meta.info
    return dec


def _tifffile_can_read(page) -> bool:
    from tifffile import PHOTOMETRIC, SAMPLEFORMAT

    if page.photometric not in (PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.MINISWHITE, PHOTOMETRIC.RGB):
        return False
    bits, fmt = int(page.bitspersample), page.sampleformat
    return (bits in (1, 8, 16) and fmt == SAMPLEFORMAT.UINT) or (bits == 32 and fmt == SAMPLEFORMAT.IEEEFP)


def _tifffile_page(page, name: str, path: Path) -> _Decoded:
    from tifffile import PHOTOMETRIC

    photometric = page.photometric
    data = page.asarray()
    axes = page.axes
    data = np.moveaxis(data, axes.index("S"), -1) if "S" in axes else data[..., None]
    while data.ndim > 3:  # a depth axis or similar: the first plane is the photo
        data = data[0]
    if data.dtype.byteorder not in ("=", "|"):
        data = data.astype(data.dtype.newbyteorder("="))
    if data.dtype == np.uint8:
        depth = 8
    elif data.dtype == np.uint16:
        depth = 16
    elif np.issubdtype(data.dtype, np.floating):
        data = np.clip(np.nan_to_num(data.astype(np.float32, copy=False)), 0.0, 1.0)
        depth = 16
    elif data.dtype == bool:
        data = data.astype(np.uint8) * 255
        depth = 8
    else:
        raise ImageError(f"{name} uses {data.dtype} samples, which Colorstudio does not read", path)

    colour = photometric == PHOTOMETRIC.RGB
    n_colour = 3 if colour else 1
    if data.shape[2] < n_colour:
        raise _damaged(name, path)
    samples = data[:, :, :3] if colour else data[:, :, 0]
    alpha = None
    premultiplied = False
    extras = tuple(page.extrasamples or ())
    if data.shape[2] > n_colour:
        kind = extras[0] if extras else 2
        if kind in (1, 2) or not extras:
            alpha = _alpha_to_depth(data[:, :, n_colour], depth)
            premultiplied = kind == 1
    if photometric == PHOTOMETRIC.MINISWHITE:
        samples = (1.0 - samples) if depth == 16 and samples.dtype == np.float32 else np.iinfo(samples.dtype).max - samples
    return _Decoded(samples, alpha, depth, "TIFF", premultiplied=premultiplied)


def _tifffile_metadata(page, dec: _Decoded) -> None:
    tags = page.tags

    def value(code):
        tag = tags.get(code)
        return None if tag is None else tag.value

    icc = value(34675)
    dec.icc = bytes(icc) if icc else None
    o = value(274)
    dec.orientation = int(o) if o is not None and 1 <= int(o) <= 8 else 1
    info: dict = {}
    xr, yr, unit = value(282), value(283), value(296)
    try:
        if xr and yr and int(unit or 2) in (2, 3):
            scale = 2.54 if int(unit or 2) == 3 else 1.0
            info["dpi"] = (xr[0] / xr[1] * scale, yr[0] / yr[1] * scale)
    except (TypeError, ZeroDivisionError, IndexError):
        pass
    desc = value(270)
    if isinstance(desc, str) and desc.strip() and not desc.startswith('{"shape"'):
        info["description"] = desc.strip()
    xmp = value(700)
    if xmp:
        info["xmp"] = bytes(xmp) if not isinstance(xmp, str) else xmp.encode("utf-8")
    iptc = value(33723)  # IPTC-NAA: the IIM records as they are
    if isinstance(iptc, (bytes, bytearray)) and iptc:
        info["iptc"] = bytes(iptc)
    dec.info = info


def _iptc_from_app13(applist) -> bytes | None:
    """The IPTC IIM records (Photoshop resource 0x0404) of a JPEG's APP13 segment, or None."""
    for marker, data in applist:
        if marker != "APP13" or not data.startswith(b"Photoshop 3.0\0"):
            continue
        pos = len(b"Photoshop 3.0\0")
        while pos + 12 <= len(data) and data[pos:pos + 4] == b"8BIM":
            rid = int.from_bytes(data[pos + 4:pos + 6], "big")
            nlen = data[pos + 6]
            pos += 7 + nlen + ((nlen + 1) % 2)  # the Pascal name is padded to an even length
            size = int.from_bytes(data[pos:pos + 4], "big")
            pos += 4
            if rid == 0x0404:
                return bytes(data[pos:pos + size]) or None
            pos += size + (size % 2)
    return None


# ---------------------------------------------------------------------------------------------
# Orientation


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) as a view: the stored pixels -> the upright photo."""
    if orientation == 2:
        return a[:, ::-1]
    if orientation == 3:
        return a[::-1, ::-1]
    if orientation == 4:
        return a[::-1]
    if orientation == 5:
        return a.swapaxes(0, 1)
    if orientation == 6:
        return a.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:
        return a.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return a.swapaxes(0, 1)[::-1]
    return a


# ---------------------------------------------------------------------------------------------
# ICC profiles


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


def _cms_to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
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
    converted = _cms_to_srgb(Image.fromarray(np.ascontiguousarray(u8), "RGB" if colour else "L"), icc)
    if converted is None:
        dec.info["icc_ignored"] = "the embedded profile could not be used"
        return _Tone.srgb(colour), samples
    rgb = _pil_to_array(converted)
    return _Tone.srgb(True), rgb


# ---------------------------------------------------------------------------------------------
# L* in row bands


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
    for r0, r1 in _bands(h, w, 3 if colour else 1):
        band = samples[r0:r1]
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
