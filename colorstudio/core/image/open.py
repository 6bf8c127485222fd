"""open_image: a file -> SourceImage (sniff, decode, orient, apply the profile, L*)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from colorstudio.core.files import FileError, open_regular, os_error_sentence

from .base import ImageError, _parse_pixel_limit, max_pixels_default
from .icc import _apply_icc
from .lightness import _lightness
from .metadata import _orient, _xmp_upright
from .pillow import _alpha_from_transparent_value, _decode_pillow
from .source import SourceImage
from .tiff import _decode_tiff


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

    with open_photo_file(path) as fh:
        head = read_head(fh, path)
        content_hash = hash_file(fh, path)
        try:
            if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
                dec = _decode_tiff(fh, path, name, limit, head)
            else:
                dec = _decode_pillow(fh, path, name, limit, head)
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


def open_photo_file(path, what: str = "photo") -> BinaryIO:
    """``path`` opened for reading if it is a regular file, else ImageError with a sentence.

    FIFOs, sockets, devices (``/dev/zero``) and folders are refused before and after opening,
    and the open never blocks (see core/files.py). Every decoder reads from this one descriptor,
    so the name cannot be swapped for something else halfway through.
    """
    try:
        return open_regular(path, what=what)
    except FileError as exc:
        raise ImageError(str(exc), path) from None


def read_head(fh: BinaryIO, path) -> bytes:
    """The first 64 bytes of an opened photo, or ImageError when it is empty or unreadable."""
    path = Path(path)
    name = path.name or str(path)
    try:
        fh.seek(0)
        head = fh.read(64)
    except OSError as exc:
        raise ImageError(os_error_sentence(exc, path, reading=True), path) from None
    if not head:
        raise ImageError(f"{name} is empty (0 bytes), not a photo", path)
    return head


def hash_file(fh: BinaryIO, path) -> str:
    """SHA-256 of an opened file's bytes, streamed so that big files are never held twice."""
    try:
        fh.seek(0)
        digest = hashlib.sha256()
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
        fh.seek(0)
        return digest.hexdigest()
    except OSError as exc:
        raise ImageError(os_error_sentence(exc, path, reading=True), path) from None
