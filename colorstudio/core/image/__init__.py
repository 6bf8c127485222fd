"""Photos in: any common file -> the photo's full-resolution lightness L*, alpha and metadata.

A photo's tones are sacred: colorization only adds chroma, so what an engine and the export
need from a source file is its CIELAB lightness at full resolution and full bit depth, its
alpha, and the metadata worth carrying to the output. ``open_image`` decodes once, applies the
EXIF orientation, honours an embedded ICC profile and turns the samples into float32 L* in row
bands so that a 50-megapixel scan needs only a few copies in memory.

The package, by concern:

* ``open``: ``open_image``; only regular files, read through one descriptor, hashed.
* ``pillow``: JPEG, PNG, BMP, WebP, GIF, PPM, TGA through Pillow (no process-wide lock).
* ``pil_tiles``: 16-bit colour through Pillow's decoders run twice (high bytes, low bytes);
  the only code that touches Pillow's private tile tuples.
* ``tiff``: 16-bit colour and float TIFF through tifffile, falling back to Pillow when
  tifffile lacks the file's codec (LZW, JPEG and PackBits need the optional imagecodecs).
* ``metadata``: EXIF, XMP, dpi, text, orientation. ``icc``: profiles. ``lightness``: L*.
* ``base``: ImageError, the pixel limit, which exceptions mean "damaged data".

Only data errors (OSError, SyntaxError, ValueError, struct and zlib errors, bombs) become an
ImageError sentence; a TypeError, KeyError, IndexError or AttributeError is a bug and
propagates as one.
"""
from __future__ import annotations

from .base import DATA_ERRORS, MAX_PIXELS_ENV, ImageError, looks_like_image, max_pixels_default
from .icc import cms_to_srgb
from .open import hash_file, open_image, open_photo_file, read_head
from .source import SourceImage

__all__ = ["ImageError", "SourceImage", "open_image", "max_pixels_default", "MAX_PIXELS_ENV",
           "DATA_ERRORS", "open_photo_file", "read_head", "hash_file", "looks_like_image", "cms_to_srgb"]
