"""What every part of the photo reader shares: the error, the pixel limit, sniffing, the
decoded-samples record, and which exceptions mean "this file's data is broken".
"""
from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

MAX_PIXELS_ENV = "COLORSTUDIO_MAX_PIXELS"

# Roughly this many pixels per band when converting (bounded temporaries).
_BAND_PIXELS = 1 << 21


class ImageError(ValueError):
    """A photo could not be opened; the message is one sentence for the user naming the file."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None



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



_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


def looks_like_image(head: bytes) -> bool:
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _not_an_image(name: str, head: bytes, path) -> ImageError:
    if looks_like_image(head):
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



# Exceptions that mean "this file's data is broken", raised by Pillow, zlib, tifffile and struct
# on bad bytes. Programming errors (TypeError, KeyError, IndexError, AttributeError ...) are not
# here: they propagate as the bugs they are instead of being reported as a damaged file.
DATA_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error,
               Image.DecompressionBombError)


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

