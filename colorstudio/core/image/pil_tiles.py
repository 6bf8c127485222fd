"""16-bit colour through Pillow's own decoders: the one place that touches Pillow's tile tuples.

Pillow keeps only the high byte of 16-bit colour samples. Its zlib / libtiff decoders undo
compression and filtering on whole bytes; only the final unpacking (the tile's "rawmode")
drops a byte. Decoding once with the rawmode that takes the high byte and once with its
opposite-endian twin (which takes the low byte) gives both bytes exactly.

``im.tile`` is Pillow's private layout (a list of ``ImageFile._Tile`` named tuples with
``codec_name`` and ``args``). Everything that reads or rewrites it is here, and
``tests/unit/test_image_package.py`` fails loudly if Pillow changes it: a changed layout raises
:class:`PillowChanged` (a programming error), never a "damaged file" sentence.
"""
from __future__ import annotations

import sys
from typing import BinaryIO

import numpy as np
from PIL import Image

from .base import _BAND_PIXELS, _Decoded, _pil_to_array
from .metadata import _pil_metadata


class PillowChanged(RuntimeError):
    """Pillow's private tile layout is not what this module was written for: fix it here."""


def _tile_fields(t) -> tuple[str, object]:
    try:
        return t.codec_name, t.args
    except AttributeError:
        raise PillowChanged(f"Pillow's tile entries changed shape ({type(t).__name__}: {t!r}); "
                            "colorstudio/core/image/pil_tiles.py needs updating") from None


def tile_rawmode(im: Image.Image) -> str | None:
    """The rawmode of the image's first tile (e.g. "RGB;16B"), or None when it has none."""
    tile = getattr(im, "tile", None) or []
    if not tile:
        return None
    _codec, args = _tile_fields(tile[0])
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



def decode_wide_colour(fh: BinaryIO, im: Image.Image, rawmode: str | None,
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
        with Image.open(fh, formats=[{"MPO": "JPEG"}.get(fmt, fmt)]) as part:
            if tile_rawmode(part) != rawmode or any(t.codec_name not in ("zip", "raw", "libtiff")
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

