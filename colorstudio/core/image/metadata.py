"""Metadata worth carrying to the output: EXIF (orientation reset), XMP, dpi, PNG text, the
description, and the EXIF orientation applied to the pixels.
"""
from __future__ import annotations

import math
import re

import numpy as np
from PIL import Image

from .base import _Decoded

_EXIF_ORIENTATION = 0x0112
_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
# IFD0 tags of a TIFF that describe the photo rather than its storage: safe to carry.
_TIFF_DESCRIPTIVE_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298, _EXIF_ORIENTATION)


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

