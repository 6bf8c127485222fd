"""Photos out: write a colorized sRGB image with an sRGB profile, metadata and provenance.

16-bit colour stays 16-bit where the format allows (PNG through a small zlib encoder of our
own, because Pillow cannot write 48/64-bit PNG; TIFF through tifffile). JPEG, WebP and BMP
get 8 bits, rounded. Every file is written to a temporary file in the destination folder and
renamed into place, so a failed export leaves the old file (or nothing), never half a file.
"""
from __future__ import annotations

import datetime as _dt
import os
import struct
import unicodedata
import zlib
from pathlib import Path

try:  # zlib-ng: the same DEFLATE streams at the same level, about three times faster
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # pragma: no cover - an optional speed-up
    _deflate = zlib

import numpy as np
from PIL import Image, ImageCms, PngImagePlugin

from colorstudio.core.atomic import WriteError, atomic_path, describe_os_error
from colorstudio.core.files import special_file_kind
from colorstudio.core.xmp import provenance_xmp

__all__ = ["FORMATS", "ExportError", "format_for_path", "write_image", "srgb_icc_profile"]

FORMATS = {"png", "tiff", "jpeg", "webp", "bmp"}

_SUFFIXES = {
    ".png": "png", ".tif": "tiff", ".tiff": "tiff", ".jpg": "jpeg", ".jpeg": "jpeg",
    ".jpe": "jpeg", ".jfif": "jpeg", ".webp": "webp", ".bmp": "bmp",
}
_ALIASES = {"jpg": "jpeg", "tif": "tiff"}
# Largest side each encoder accepts (WebP's limit is part of the format).
_MAX_SIDE = {"webp": 16383, "jpeg": 65500, "png": 2 ** 31 - 1, "tiff": 2 ** 31 - 1, "bmp": 2 ** 31 - 1}

_EXIF_ORIENTATION = 0x0112
_EXIF_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_EXIF_IFD = 0x8769
_EXIF_COLOR_SPACE = 0xA001
_EXIF_PIXEL_X = 0xA002
_EXIF_PIXEL_Y = 0xA003

# Rows per band when converting or encoding (bounded temporaries for big photos).
_BAND_PIXELS = 1 << 20


class ExportError(ValueError):
    """An image could not be written; the message is one sentence for the user."""


_SRGB: dict = {}


def srgb_icc_profile() -> bytes:
    """The sRGB ICC profile embedded in every export (LittleCMS's built-in sRGB)."""
    if "icc" not in _SRGB:
        _SRGB["icc"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return _SRGB["icc"]


def format_for_path(path) -> str:
    """The export format for a file name: 'png', 'tiff', 'jpeg', 'webp' or 'bmp'.

    Raises ExportError for a suffix Colorstudio does not write.
    """
    p = Path(path)
    fmt = _SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        what = f"the suffix {p.suffix!r}" if p.suffix else "no suffix"
        raise ExportError(f"{p.name} has {what}; save as .png, .tif, .jpg, .webp or .bmp")
    return fmt


def write_image(path, rgb: np.ndarray, *, alpha: np.ndarray | None = None, source=None,
                fmt: str | None = None, quality: int = 95, overwrite: bool = False,
                provenance: dict | None = None, compress_level: int = 6) -> Path:
    """Write ``rgb`` (H x W x 3, uint8 or uint16 sRGB) to ``path`` and return the path.

    * ``alpha`` (H x W) is kept by PNG, TIFF and WebP, dropped by JPEG and BMP.
    * uint16 is written as 16-bit PNG / TIFF; JPEG, WebP and BMP get 8 bits (rounded).
    * An sRGB ICC profile is always embedded (BMP cannot hold one).
    * From ``source`` (a SourceImage): EXIF (orientation 1), dpi, XMP and PNG text chunks.
    * ``provenance`` (keys like software, source, source_sha256, engine, models,
      digital_source_type, when) goes into PNG text chunks, EXIF ImageDescription / Software
      (JPEG, WebP, PNG with EXIF) or TIFF tags, and always into an XMP packet
      (``core.xmp.provenance_xmp``: dc:description, xmpMM:DerivedFrom, xmpMM:History,
      Iptc4xmpExt:DigitalSourceType) merged with the source's XMP; when omitted it is built
      from ``source``. The source's IPTC IIM records go into JPEG (APP13) and TIFF (tag 33723).
    * ``quality`` (1..100) is used by JPEG and WebP; WebP at 100 is lossless.
    * ``compress_level`` (0..9, DEFLATE's level) is used by PNG and TIFF: 6 (zlib's default)
      is the usual trade; 1 writes several times faster and files about a sixth larger.
      The pixels are the same at every level.

    Refuses (ExportError) to write over the source photo, over an existing file unless
    ``overwrite``, into a missing folder, or in an unknown format. The write is atomic.
    """
    path = Path(path)
    name = path.name or str(path)
    rgb = _check_rgb(rgb)
    if alpha is not None:
        alpha = _check_alpha(alpha, rgb)
    if fmt is None:
        fmt = format_for_path(path)
    else:
        fmt = _ALIASES.get(str(fmt).lower().lstrip("."), str(fmt).lower().lstrip("."))
        if fmt not in FORMATS:
            raise ExportError(f"{fmt!r} is not a format Colorstudio writes; use png, tiff, jpeg, webp or bmp")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ExportError(f"the quality must be a whole number from 1 to 100, not {quality!r}")
    if (isinstance(compress_level, bool) or not isinstance(compress_level, (int, np.integer))
            or not 0 <= compress_level <= 9):
        raise ExportError(f"the compression level must be a whole number from 0 to 9, not {compress_level!r}")
    h, w = rgb.shape[:2]
    if max(h, w) > _MAX_SIDE[fmt]:
        raise ExportError(f"{fmt.upper()} cannot hold an image {w}x{h} pixels (at most {_MAX_SIDE[fmt]} "
                          "on a side); save as PNG or TIFF")
    check_destination(path, source, overwrite=overwrite)

    meta = _Metadata.build(source, provenance, (w, h))
    writer = {"png": _write_png, "tiff": _write_tiff, "jpeg": _write_jpeg,
              "webp": _write_webp, "bmp": _write_bmp}[fmt]
    try:
        with atomic_path(path, overwrite=overwrite) as tmp:
            if fmt in ("png", "tiff"):
                writer(tmp, rgb, alpha, meta, int(quality), level=int(compress_level))
            else:
                writer(tmp, rgb, alpha, meta, int(quality))
    except WriteError as exc:
        raise ExportError(str(exc)) from None
    except OSError as exc:
        raise ExportError(describe_os_error(exc, path)) from None
    except (ValueError, struct.error, zlib.error, _deflate.error) as exc:
        raise ExportError(f"could not write {name}: {exc}") from None
    return path


# ---------------------------------------------------------------------------------------------
# Checks


def _check_rgb(rgb) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1 or a.dtype not in (np.uint8, np.uint16):
        raise ExportError(f"the image to save must be an (H, W, 3) array of 8- or 16-bit sRGB values, "
                          f"not {a.shape} {a.dtype}")
    if a.dtype.byteorder not in ("=", "|"):
        a = a.astype(a.dtype.newbyteorder("="))
    return a


def _check_alpha(alpha, rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(alpha)
    if a.shape != rgb.shape[:2] or a.dtype not in (np.uint8, np.uint16):
        raise ExportError(f"the alpha to save must be an (H, W) array of 8- or 16-bit values matching "
                          f"the image {rgb.shape[:2]}, not {a.shape} {a.dtype}")
    if a.dtype == rgb.dtype:
        return a
    if rgb.dtype == np.uint16:
        return a.astype(np.uint16) * 257
    return _to_u8(a)


def check_destination(path, source=None, *, overwrite: bool = False) -> None:
    """Refuse (ExportError) a destination Colorstudio must not write: the source photo itself
    (``source`` is a SourceImage or a path; links and other spellings count), a folder, an
    existing file unless ``overwrite``, a missing folder. ``write_image`` calls it; callers may
    call it first to refuse before any work is done."""
    path = Path(path)
    name = path.name or str(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ExportError(f"the folder {folder} does not exist")
    src = source if isinstance(source, (str, os.PathLike)) else getattr(source, "path", None)
    if src is not None:
        same = False
        try:
            same = Path(src).resolve() == path.resolve()
        except OSError:
            pass
        if not same and path.exists() and Path(src).exists():
            try:
                same = os.path.samefile(src, path)
            except OSError:
                pass
        if same:
            raise ExportError(f"{name} is the source photo: the output is the input photo itself, and "
                              "Colorstudio never writes over a source; choose another name")
    if path.is_dir():
        raise ExportError(f"{name} is a folder; choose a file name")
    kind = special_file_kind(path)
    if kind is not None:
        raise ExportError(f"{name} is {kind}, not a file Colorstudio can write over; choose another name")
    if path.exists() and not overwrite:
        raise ExportError(f"{name} already exists; use --overwrite to replace it")


# ---------------------------------------------------------------------------------------------
# Metadata


class _Metadata:
    """What goes into the file besides pixels, prepared once for every format."""

    def __init__(self):
        self.icc = srgb_icc_profile()
        self.exif: Image.Exif | None = None
        self.dpi: tuple[float, float] | None = None
        self.xmp: bytes | None = None
        self.iptc: bytes | None = None
        self.text: dict[str, str] = {}
        self.software = ""
        self.description = ""
        self.provenance: dict[str, str] = {}
        self.had_source_exif = False

    @classmethod
    def build(cls, source, provenance: dict | None, size: tuple[int, int]) -> "_Metadata":
        from colorstudio import __version__

        m = cls()
        info = getattr(source, "info", None) or {}
        prov: dict[str, str] = {"software": f"Colorstudio {__version__}"}
        src_path = getattr(source, "path", None)
        if src_path is not None:
            prov["source"] = Path(src_path).name
        if getattr(source, "content_hash", ""):
            prov["source_sha256"] = source.content_hash
        for k, v in (provenance or {}).items():
            if v is not None:
                prov[str(k)] = str(v)
        m.provenance = prov
        m.software = prov["software"]
        m.description = _describe(prov)

        dpi = info.get("dpi")
        if isinstance(dpi, tuple) and len(dpi) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in dpi):
            m.dpi = (float(dpi[0]), float(dpi[1]))
        xmp = info.get("xmp")
        m.xmp = provenance_xmp(bytes(xmp) if isinstance(xmp, (bytes, bytearray)) else None,
                               {**prov, "description": m.description})
        iptc = info.get("iptc")
        if isinstance(iptc, (bytes, bytearray)) and iptc:
            m.iptc = bytes(iptc)
        text = info.get("text")
        if isinstance(text, dict):
            m.text.update({str(k): str(v) for k, v in text.items()})

        exif = Image.Exif()
        src_exif = getattr(source, "exif", None)
        if src_exif:
            try:
                exif.load(src_exif)
            except Exception:  # unreadable source EXIF: start afresh rather than fail the export
                exif = Image.Exif()
        if len(exif):
            if _EXIF_ORIENTATION in exif:
                exif[_EXIF_ORIENTATION] = 1
            sub = exif.get_ifd(_EXIF_IFD)
            if sub:
                sub = dict(sub)
                sub[_EXIF_COLOR_SPACE] = 1  # sRGB
                if _EXIF_PIXEL_X in sub or _EXIF_PIXEL_Y in sub:
                    sub[_EXIF_PIXEL_X], sub[_EXIF_PIXEL_Y] = size
                exif[_EXIF_IFD] = sub
        exif[_EXIF_DESCRIPTION] = m.description
        exif[_EXIF_SOFTWARE] = m.software
        m.exif = exif
        m.had_source_exif = bool(src_exif)
        return m

    def exif_bytes(self) -> bytes:
        return self.exif.tobytes() if self.exif is not None else b""

    def png_text(self) -> list[tuple[str, str]]:
        """(keyword, text) pairs: the source's chunks, then ours (which win)."""
        ours = {"Software": self.software, "Description": self.description}
        for k, v in self.provenance.items():
            if k not in ("software", "when"):
                ours[f"colorstudio:{k}"] = v
        merged = {k: v for k, v in self.text.items() if k not in ours and k != "XML:com.adobe.xmp"}
        merged.update(ours)
        return [(k[:79], v) for k, v in merged.items() if k]


def _describe(prov: dict[str, str]) -> str:
    """One sentence saying the file is a colorized derivative, of what, by what."""
    parts = [f"Colorized by {prov['software']}"]
    if prov.get("source"):
        parts.append(f"from {prov['source']}")
    if prov.get("source_sha256"):
        parts.append(f"(sha256 {prov['source_sha256']})")
    if prov.get("engine"):
        parts.append(f"with the {prov['engine']} engine")
    return " ".join(parts) + ": a colorized derivative; the tones are the source photo's, the colours were added"


def _photoshop_iptc(iim: bytes) -> bytes:
    """A JPEG APP13 segment holding IPTC IIM records as Photoshop resource 0x0404."""
    block = b"8BIM" + (0x0404).to_bytes(2, "big") + b"\0\0" + len(iim).to_bytes(4, "big") + iim
    if len(iim) % 2:
        block += b"\0"
    payload = b"Photoshop 3.0\0" + block
    if len(payload) + 2 > 0xFFFF:
        return b""  # too big for one segment: the XMP still carries the provenance
    return b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload


# ---------------------------------------------------------------------------------------------
# Pixels


def _to_u8(a: np.ndarray) -> np.ndarray:
    """uint16 -> uint8, rounded (not truncated), band by band."""
    if a.dtype == np.uint8:
        return a
    out = np.empty(a.shape, dtype=np.uint8)
    rows = max(1, _BAND_PIXELS // max(1, a[0].size))
    for r0 in range(0, a.shape[0], rows):
        band = a[r0:r0 + rows].astype(np.uint32)
        band += 128
        band //= 257
        out[r0:r0 + rows] = band
    return out


def _pil_image(rgb: np.ndarray, alpha: np.ndarray | None) -> Image.Image:
    """An 8-bit Pillow RGB(A) image (one copy of the pixels, in Pillow's own memory)."""
    im = Image.fromarray(_to_u8(rgb), "RGB")
    if alpha is not None:
        im.putalpha(Image.fromarray(np.ascontiguousarray(_to_u8(alpha)), "L"))
    return im


def _write_jpeg(tmp: Path, rgb, alpha, meta: _Metadata, quality: int) -> None:
    im = _pil_image(rgb, None)
    kwargs = dict(format="JPEG", quality=quality, icc_profile=meta.icc, exif=meta.exif_bytes(),
                  comment=meta.description.encode("utf-8"),
                  subsampling=0 if quality >= 90 else 2)
    if meta.iptc:
        kwargs["extra"] = _photoshop_iptc(meta.iptc)
    if meta.dpi:
        kwargs["dpi"] = meta.dpi
    if meta.xmp:
        kwargs["xmp"] = meta.xmp
    im.save(tmp, **kwargs)


def _write_webp(tmp: Path, rgb, alpha, meta: _Metadata, quality: int) -> None:
    im = _pil_image(rgb, alpha)
    kwargs = dict(format="WEBP", quality=quality, lossless=quality >= 100, method=4,
                  icc_profile=meta.icc, exif=meta.exif_bytes())
    if meta.xmp:
        kwargs["xmp"] = meta.xmp
    im.save(tmp, **kwargs)


def _write_bmp(tmp: Path, rgb, alpha, meta: _Metadata, quality: int) -> None:
    # BMP has no place for alpha (in Pillow's writer), an ICC profile or text.
    im = _pil_image(rgb, None)
    im.save(tmp, format="BMP", **({"dpi": meta.dpi} if meta.dpi else {}))


def _write_png(tmp: Path, rgb, alpha, meta: _Metadata, quality: int, level: int = 6) -> None:
    if rgb.dtype == np.uint16:
        _write_png16(tmp, rgb, alpha, meta, level)
        return
    im = _pil_image(rgb, alpha)
    info = PngImagePlugin.PngInfo()
    for k, v in meta.png_text():
        info.add_text(k, v)  # iTXt by itself when the text is not Latin-1
    if meta.xmp:
        info.add_itxt("XML:com.adobe.xmp", meta.xmp.decode("utf-8", "replace"))
    kwargs = dict(format="PNG", icc_profile=meta.icc, pnginfo=info, compress_level=level)
    if meta.had_source_exif:
        kwargs["exif"] = meta.exif_bytes()
    if meta.dpi:
        kwargs["dpi"] = meta.dpi
    im.save(tmp, **kwargs)


def _png_chunk(fh, kind: bytes, data: bytes) -> None:
    fh.write(struct.pack(">I", len(data)))
    fh.write(kind)
    fh.write(data)
    fh.write(struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF))


def _png_text_chunk(key: str, text: str) -> tuple[bytes, bytes]:
    k = key.encode("latin-1", "replace")[:79]
    try:
        return b"tEXt", k + b"\0" + text.encode("latin-1")
    except UnicodeEncodeError:
        return b"iTXt", k + b"\0\0\0\0\0" + text.encode("utf-8")


def _paeth_filter(rows: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    """PNG filter type 4 (Paeth) for a band of rows of bytes; ``prior`` is the row above."""
    raw = rows.astype(np.int16)
    up = np.empty_like(raw)
    up[0] = prior
    up[1:] = raw[:-1]
    left = np.zeros_like(raw)
    left[:, bpp:] = raw[:, :-bpp]
    upleft = np.zeros_like(raw)
    upleft[:, bpp:] = up[:, :-bpp]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    out = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
    out[:, 0] = 4
    out[:, 1:] = (raw - pred) & 0xFF
    return out


def _write_png16(tmp: Path, rgb: np.ndarray, alpha: np.ndarray | None, meta: _Metadata, level: int = 6) -> None:
    """A 16-bit RGB / RGBA PNG: IHDR, iCCP, pHYs, eXIf, text, streamed IDAT, IEND."""
    h, w = rgb.shape[:2]
    channels = 3 if alpha is None else 4
    bpp = 2 * channels
    with open(tmp, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n")
        _png_chunk(fh, b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2 if alpha is None else 6, 0, 0, 0))
        _png_chunk(fh, b"iCCP", b"sRGB\0\0" + zlib.compress(meta.icc))
        if meta.dpi:
            ppm = [max(1, round(d / 0.0254)) for d in meta.dpi]
            _png_chunk(fh, b"pHYs", struct.pack(">IIB", ppm[0], ppm[1], 1))
        if meta.had_source_exif:
            exif = meta.exif_bytes()
            _png_chunk(fh, b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
        for k, v in meta.png_text():
            _png_chunk(fh, *_png_text_chunk(k, v))
        if meta.xmp:
            _png_chunk(fh, b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + meta.xmp)

        comp = _deflate.compressobj(level)
        pending = bytearray()
        prior = np.zeros(w * bpp, dtype=np.int16)
        rows = max(1, _BAND_PIXELS // max(1, w * channels))
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            band = np.empty((r1 - r0, w, channels), dtype=">u2")
            band[..., :3] = rgb[r0:r1]
            if alpha is not None:
                band[..., 3] = alpha[r0:r1]
            raw = band.view(np.uint8).reshape(r1 - r0, w * bpp)
            pending += comp.compress(_paeth_filter(raw, prior, bpp).tobytes())
            prior = raw[-1].astype(np.int16)
            while len(pending) >= (1 << 20):
                _png_chunk(fh, b"IDAT", bytes(pending[:1 << 20]))
                del pending[:1 << 20]
        pending += comp.flush()
        if pending:
            _png_chunk(fh, b"IDAT", bytes(pending))
        _png_chunk(fh, b"IEND", b"")
        fh.flush()
        os.fsync(fh.fileno())


def _ascii(text: str) -> str:
    """TIFF text tags are 7-bit ASCII: accents folded, anything else '?' (the hash still identifies the source)."""
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).encode("ascii", "replace").decode("ascii")


def _write_tiff(tmp: Path, rgb, alpha, meta: _Metadata, quality: int, level: int = 6) -> None:
    """TIFF through tifffile: 8 or 16 bits, deflate, ICC (tag 34675), XMP (700), resolution.

    tifffile cannot write an EXIF sub-IFD, so a TIFF carries the provenance in its
    ImageDescription and Software tags, and the XMP, but not the camera EXIF.
    """
    import tifffile

    data = rgb if alpha is None else np.dstack([rgb, alpha])
    extratags = [(34675, "B", len(meta.icc), meta.icc, True)]
    if meta.xmp:
        extratags.append((700, "B", len(meta.xmp), meta.xmp, True))
    if meta.iptc:
        extratags.append((33723, "B", len(meta.iptc), meta.iptc, True))
    kwargs = dict(photometric="rgb", compression="zlib", compressionargs={"level": level}, metadata=None,
                  description=_ascii(meta.description), software=_ascii(meta.software),
                  datetime=_dt.datetime.now().strftime("%Y:%m:%d %H:%M:%S"), extratags=extratags)
    if alpha is not None:
        kwargs["extrasamples"] = ["unassalpha"]
    if meta.dpi:
        kwargs["resolution"] = meta.dpi
        kwargs["resolutionunit"] = "INCH"
    if _deflate is not zlib and level > 0:
        # tifffile deflates with the standard library's zlib; with zlib-ng the strips are
        # compressed here (the same format, level and size, about three times faster) and
        # tifffile writes them as they are.
        data = np.ascontiguousarray(data)
        row_bytes = data[0].nbytes
        rows = max(1, (256 * 1024) // max(1, row_bytes))
        strips = (_deflate.compress(data[r0:r0 + rows].tobytes(), level) for r0 in range(0, data.shape[0], rows))
        kwargs.pop("compressionargs")
        tifffile.imwrite(tmp, strips, shape=data.shape, dtype=data.dtype, rowsperstrip=rows, **kwargs)
        return
    tifffile.imwrite(tmp, data, **kwargs)
