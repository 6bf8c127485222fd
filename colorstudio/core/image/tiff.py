"""TIFF: tifffile for the pixels where it can, Pillow for the metadata and the rest."""
from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from .base import DATA_ERRORS, ImageError, _alpha_to_depth, _bomb_error, _damaged, _Decoded
from .metadata import _pil_metadata, _tifffile_metadata
from .pil_tiles import decode_wide_colour, tile_rawmode
from .pillow import _decode_pil_image, _pil_open


def _decode_tiff(fh: BinaryIO, path: Path, name: str, limit: int, head: bytes) -> _Decoded:
    """TIFF: tifffile for the pixels where it can, Pillow for the metadata and the rest.

    tifffile decodes grey, grey+alpha, RGB and RGBA at 1, 8, 16 bits and float exactly (Pillow
    keeps only 8 bits of 16-bit colour, reads 16-bit planar files wrongly and does not invert
    16-bit min-is-white). Pillow decodes what tifffile cannot: palettes, CMYK, YCbCr / JPEG, and
    the LZW, JPEG and PackBits codecs that tifffile needs the optional imagecodecs for; 16-bit
    colour then goes through the two-pass decoder.
    """
    import tifffile

    meta: _Decoded | None = None
    try:
        with _pil_open(fh, path, name, limit, head, formats=("TIFF",)) as pil_im:
            meta = _Decoded(np.empty((0, 0), np.uint8), None, 8, "TIFF")
            _pil_metadata(pil_im, meta)
    except ImageError as exc:
        if "megapixels" in str(exc):
            raise
        meta = None  # tifffile may still read it

    page_info = None
    try:
        fh.seek(0)  # tifffile takes the handle's position as the start of the file
        with tifffile.TiffFile(fh) as tif:
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
    except (KeyError, *DATA_ERRORS) as exc:
        if isinstance(exc, KeyError) and not _codec_missing(exc):
            raise  # a KeyError that is not tifffile's "no codec" is a bug, not a damaged file
        if not _codec_missing(exc):
            raise _damaged(name, path) from exc
        if meta is None:
            raise ImageError(f"{name} uses a TIFF compression Colorstudio cannot read", path) from exc
    if meta is None:
        raise ImageError(f"{name} uses a TIFF layout Colorstudio cannot read", path)

    from tifffile import PHOTOMETRIC

    with _pil_open(fh, path, name, limit, head, formats=("TIFF",)) as im:
        try:
            rawmode = tile_rawmode(im)
            if im.mode in ("RGB", "RGBA") and page_info and page_info[1] == 16:
                if rawmode is None or ";16" not in rawmode:
                    raise ImageError(f"{name} stores 16-bit colour in a layout Colorstudio cannot read "
                                     "without the imagecodecs package", path)
                samples, alpha = decode_wide_colour(fh, im, rawmode)
                dec = _Decoded(samples, alpha, 16, "TIFF")
            else:
                dec = _decode_pil_image(im, fh, path, name, head)
        except (ImageError, MemoryError):
            raise
        except DATA_ERRORS as exc:
            raise _damaged(name, path) from exc
    if page_info and page_info[0] == PHOTOMETRIC.MINISWHITE and dec.samples.dtype == np.uint16:
        dec.samples = 65535 - dec.samples  # Pillow inverts 8-bit min-is-white only
    dec.icc, dec.exif, dec.orientation, dec.info = meta.icc, meta.exif, meta.orientation, meta.info
    return dec


def _codec_missing(exc: BaseException) -> bool:
    """tifffile's way of saying it lacks the file's codec (a KeyError naming the compression)."""
    text = str(exc)
    return "imagecodecs" in text or (isinstance(exc, KeyError) and (
        "COMPRESSION" in text or "PREDICTOR" in text or "not supported" in text or "not implemented" in text))


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

