"""Shared test fixtures: small test images made in tmp_path, the shared photo folder.

The helpers here are deliberately independent of colorstudio's own encoders (a plain PNG
writer and reader following the PNG spec, an ICC profile builder) so that tests of the
readers and writers do not check the code against itself.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

PHOTOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "photos"


@pytest.fixture
def photos_dir() -> Path:
    """The real test photos (../shared/data/photos); skips the test when they are absent."""
    if not PHOTOS.is_dir() or not any(PHOTOS.iterdir()):
        pytest.skip(f"the shared test photos are not available at {PHOTOS}")
    return PHOTOS


def asymmetric(h: int = 5, w: int = 7, channels: int = 0, dtype=np.uint8) -> np.ndarray:
    """A small image whose every pixel differs, so any flip or rotation is detectable."""
    n = h * w * max(1, channels)
    top = 255 if dtype == np.uint8 else 65535
    values = (np.arange(n, dtype=np.float64) * (top / max(1, n - 1))).round().astype(dtype)
    rng = np.random.default_rng(1234)
    values = rng.permutation(values)
    return values.reshape((h, w, channels) if channels else (h, w))


@pytest.fixture
def make_asymmetric():
    """asymmetric(h, w, channels, dtype) -> array (see the helper)."""
    return asymmetric


# ---------------------------------------------------------------------------------------------
# ICC profiles


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ \0\0\0\0" + _s15(x) + _s15(y) + _s15(z)


def _curv_gamma(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, int(round(gamma * 256))) + b"\0\0"


def _desc(text: str) -> bytes:
    a = text.encode("ascii") + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(a)) + a + struct.pack(">II", 0, 0) + b"\0\0\0" + b"\0" * 67


D50 = (0.9642, 1.0, 0.8249)
# Adobe RGB (1998) colorants adapted to D50, as in Adobe's own profile.
ADOBE_COLORANTS = ((0.6097, 0.3111, 0.0195), (0.2053, 0.6257, 0.0609), (0.1492, 0.0632, 0.7446))


def icc_profile(kind: str = "gray", gamma: float = 1.8, colorants=ADOBE_COLORANTS,
                description: str | None = None) -> bytes:
    """A minimal ICC v2 display profile: 'gray' (kTRC) or 'rgb' (matrix + TRC), one gamma."""
    if description is None:
        description = f"Test {kind} gamma {gamma}"
    tags = [(b"desc", _desc(description)), (b"cprt", b"text\0\0\0\0No copyright\0"),
            (b"wtpt", _xyz(*D50))]
    if kind == "gray":
        tags.append((b"kTRC", _curv_gamma(gamma)))
        space = b"GRAY"
    elif kind == "rgb":
        for sig, c in zip((b"rXYZ", b"gXYZ", b"bXYZ"), colorants):
            tags.append((sig, _xyz(*c)))
        for sig in (b"rTRC", b"gTRC", b"bTRC"):
            tags.append((sig, _curv_gamma(gamma)))
        space = b"RGB "
    else:
        raise ValueError(kind)
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = [struct.pack(">I", len(tags))], b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table.append(struct.pack(">4sII", sig, offset + len(data), len(body)))
        data += body
    total = 128 + table_size + len(data)
    header = bytearray(128)
    struct.pack_into(">I4sI4s4s4s", header, 0, total, b"lcms", 0x02100000, b"mntr", space, b"XYZ ")
    struct.pack_into(">6H", header, 24, 2024, 1, 1, 0, 0, 0)
    header[36:40] = b"acsp"
    header[68:80] = _s15(D50[0]) + _s15(D50[1]) + _s15(D50[2])
    return bytes(header) + b"".join(table) + data


@pytest.fixture
def make_icc():
    """icc_profile(kind='gray'|'rgb', gamma=1.8) -> ICC bytes."""
    return icc_profile


# ---------------------------------------------------------------------------------------------
# A plain PNG writer and reader (spec-level, slow, for small test images only)

_COLOR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _filter_rows(raw: np.ndarray, bpp: int, filters) -> bytes:
    """Filter rows of bytes with the given PNG filter type per row (cycled)."""
    out = bytearray()
    prior = np.zeros(raw.shape[1], dtype=np.int32)
    for y, row in enumerate(raw.astype(np.int32)):
        ftype = filters[y % len(filters)]
        left = np.concatenate([np.zeros(bpp, np.int32), row[:-bpp]])
        upleft = np.concatenate([np.zeros(bpp, np.int32), prior[:-bpp]])
        if ftype == 0:
            f = row
        elif ftype == 1:
            f = row - left
        elif ftype == 2:
            f = row - prior
        elif ftype == 3:
            f = row - (left + prior) // 2
        else:
            p = left + prior - upleft
            pa, pb, pc = abs(p - left), abs(p - prior), abs(p - upleft)
            f = row - np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prior, upleft))
        out.append(ftype)
        out += (f & 0xFF).astype(np.uint8).tobytes()
        prior = row
    return bytes(out)


def write_png_raw(path, array: np.ndarray, *, filters=(0, 1, 2, 3, 4), interlace: bool = False,
                  icc: bytes | None = None, exif: bytes | None = None, trns=None,
                  text: dict | None = None) -> Path:
    """Write grey / grey+alpha / RGB / RGBA (uint8 or uint16) as PNG, by the spec.

    Every filter type is used (cycled per row) so that readers are tested on all of them.
    """
    a = np.asarray(array)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, ch = a.shape
    depth = 16 if a.dtype == np.uint16 else 8
    bpp = ch * depth // 8
    be = a.astype(">u2" if depth == 16 else np.uint8)
    if interlace:
        data = b""
        for x0, y0, dx, dy in _ADAM7:
            sub = be[y0::dy, x0::dx]
            if sub.size:
                data += _filter_rows(sub.view(np.uint8).reshape(sub.shape[0], -1), bpp, filters)
    else:
        data = _filter_rows(be.view(np.uint8).reshape(h, -1), bpp, filters)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, _COLOR_TYPES[ch], 0, 0,
                                                               1 if interlace else 0))
    if icc is not None:
        out += _chunk(b"iCCP", b"test\0\0" + zlib.compress(icc))
    if trns is not None:
        vals = (trns,) if np.isscalar(trns) else tuple(trns)
        out += _chunk(b"tRNS", struct.pack(f">{len(vals)}H", *vals))
    for k, v in (text or {}).items():
        out += _chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1"))
    if exif is not None:
        out += _chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    out += _chunk(b"IDAT", zlib.compress(data)) + _chunk(b"IEND", b"")
    Path(path).write_bytes(out)
    return Path(path)


def read_png_raw(path) -> tuple[np.ndarray, dict]:
    """Decode a non-interlaced PNG by the spec: (array H x W x C, {chunk type: [data, ...]})."""
    b = Path(path).read_bytes()
    assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks = 8, {}
    while pos < len(b):
        (n,) = struct.unpack(">I", b[pos:pos + 4])
        kind, data = b[pos + 4:pos + 8], b[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", b[pos + 8 + n:pos + 12 + n])
        assert zlib.crc32(kind + data) & 0xFFFFFFFF == crc, f"bad CRC in {kind!r}"
        chunks.setdefault(kind.decode(), []).append(data)
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks["IHDR"][0])
    assert interlace == 0
    ch = {0: 1, 4: 2, 2: 3, 6: 4}[ctype]
    bpp = ch * depth // 8
    raw = zlib.decompress(b"".join(chunks["IDAT"]))
    stride = w * bpp
    rows = np.zeros((h, stride), dtype=np.int32)
    prior = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        ftype, f = line[0], np.frombuffer(line[1:], np.uint8).astype(np.int32)
        row = np.zeros(stride, dtype=np.int32)
        for x in range(stride):
            a = row[x - bpp] if x >= bpp else 0
            c = prior[x - bpp] if x >= bpp else 0
            up = prior[x]
            if ftype == 0:
                pred = 0
            elif ftype == 1:
                pred = a
            elif ftype == 2:
                pred = up
            elif ftype == 3:
                pred = (a + up) // 2
            else:
                p = a + up - c
                pa, pb, pc = abs(p - a), abs(p - up), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (up if pb <= pc else c)
            row[x] = (f[x] + pred) & 0xFF
        rows[y] = row
        prior = row
    data = rows.astype(np.uint8).tobytes()
    arr = np.frombuffer(data, dtype=">u2" if depth == 16 else np.uint8).reshape(h, w, ch)
    return arr.astype(np.uint16 if depth == 16 else np.uint8), chunks


@pytest.fixture
def png_raw():
    """An object with .write(path, array, **options) and .read(path) (plain spec-level PNG)."""

    class _Png:
        write = staticmethod(write_png_raw)
        read = staticmethod(read_png_raw)

    return _Png()


def exif_with(orientation: int | None = None, **tags) -> bytes:
    """EXIF bytes (with the b'Exif\\0\\0' header Pillow uses) holding an orientation and tags.

    ``tags`` may include ``datetime_original`` (put in the Exif sub-IFD) and ``make``.
    """
    from PIL import Image

    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if "make" in tags:
        exif[0x010F] = tags["make"]
    if "datetime_original" in tags:
        exif[0x8769] = {0x9003: tags["datetime_original"]}
    return exif.tobytes()


@pytest.fixture
def make_exif():
    """exif_with(orientation=None, make=..., datetime_original=...) -> EXIF bytes."""
    return exif_with

