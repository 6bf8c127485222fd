"""Colour hints: points and brush strokes, their JSON file format, and rasterisation.

Coordinates are source pixels of the photo as displayed (after EXIF orientation): x to the
right, y down, the origin at the top-left corner of the top-left pixel, so the centre of
pixel (i, j) is (i + 0.5, j + 0.5). Only a hint's chroma is used; its lightness comes from
the photo.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .atomic import atomic_write_text
from .color import ColorError, color_to_hex, hex_to_ab, parse_color

FORMAT = "colorstudio.hints"
VERSION = 1
DEFAULT_RADIUS = 3.0
DEFAULT_WIDTH = 6.0
#: The largest hints or document file read (a hint costs about 60 bytes of JSON, so this holds
#: hundreds of thousands); a bigger file is refused before it is read.
MAX_FILE_BYTES = 64 * 1024 * 1024  # the same cap as files.MAX_TEXT_BYTES
#: The colour a protect stroke asserts: neutral (a* = b* = 0). Readers that do not know
#: protect strokes see a grey stroke, which is what they mean.
PROTECT_COLOR = "#808080"


class HintsError(ValueError):
    """A hints file or hints dictionary is malformed; the message names the field."""


@dataclass(frozen=True)
class PointHint:
    """A colour asserted in a small disk around (x, y)."""

    x: float
    y: float
    color: str
    radius: float = DEFAULT_RADIUS
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def moved(self, x: float, y: float) -> "PointHint":
        return replace(self, x=float(x), y=float(y))

    def recoloured(self, color) -> "PointHint":
        return replace(self, color=normalise_color(color))

    def resized(self, radius: float) -> "PointHint":
        return replace(self, radius=float(radius))


@dataclass(frozen=True)
class Stroke:
    """A colour painted along a polyline with a width (diameter) in pixels.

    A *protect* stroke paints "no colour here": the result stays neutral under it and
    colour does not propagate through it. Its colour is always :data:`PROTECT_COLOR`.
    """

    points: tuple
    width: float
    color: str
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    protect: bool = False

    def __post_init__(self):
        if self.protect and self.color != PROTECT_COLOR:
            object.__setattr__(self, "color", PROTECT_COLOR)

    def recoloured(self, color) -> "Stroke":
        if self.protect:
            return self  # "no colour" takes no colour
        return replace(self, color=normalise_color(color))


def normalise_color(value) -> str:
    if isinstance(value, str) and len(value) <= 64:
        return _normalise_text_color(value)  # files repeat a few colours thousands of times
    return color_to_hex(parse_color(value))


@functools.lru_cache(maxsize=1024)
def _normalise_text_color(value: str) -> str:
    return color_to_hex(parse_color(value))


@dataclass(frozen=True)
class Hints:
    """An immutable set of hints; edits return a new ``Hints``."""

    points: tuple = ()
    strokes: tuple = ()
    image_size: tuple | None = None  # (width, height) the coordinates refer to
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)
    image_extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    # -- building -----------------------------------------------------------------------
    @classmethod
    def of(cls, points: Iterable = (), strokes: Iterable = (), image_size=None) -> "Hints":
        """Build from (x, y, colour[, radius]) tuples or PointHint / Stroke objects."""
        pts = []
        for p in points:
            if isinstance(p, PointHint):
                pts.append(p)
            else:
                x, y, c, *rest = p
                pts.append(PointHint(float(x), float(y), normalise_color(c),
                                     float(rest[0]) if rest else DEFAULT_RADIUS))
        sts = []
        for s in strokes:
            if isinstance(s, Stroke):
                sts.append(s)
            else:
                poly, width, c = s
                sts.append(Stroke(tuple((float(a), float(b)) for a, b in poly), float(width),
                                  normalise_color(c)))
        return cls(tuple(pts), tuple(sts), tuple(image_size) if image_size else None)

    def with_point(self, point: PointHint) -> "Hints":
        return replace(self, points=self.points + (point,))

    def with_stroke(self, stroke: Stroke) -> "Hints":
        return replace(self, strokes=self.strokes + (stroke,))

    def replace_point(self, index: int, point: PointHint) -> "Hints":
        pts = list(self.points)
        pts[index] = point
        return replace(self, points=tuple(pts))

    def without_point(self, index: int) -> "Hints":
        pts = list(self.points)
        del pts[index]
        return replace(self, points=tuple(pts))

    def replace_stroke(self, index: int, stroke: Stroke) -> "Hints":
        sts = list(self.strokes)
        sts[index] = stroke
        return replace(self, strokes=tuple(sts))

    def without_stroke(self, index: int) -> "Hints":
        sts = list(self.strokes)
        del sts[index]
        return replace(self, strokes=tuple(sts))

    def __len__(self) -> int:
        return len(self.points) + len(self.strokes)

    @property
    def protected(self) -> tuple:
        """The protect strokes (no colour here)."""
        return tuple(s for s in self.strokes if s.protect)

    @property
    def has_protect(self) -> bool:
        return any(s.protect for s in self.strokes)

    @property
    def is_empty(self) -> bool:
        return not self.points and not self.strokes

    # -- geometry -----------------------------------------------------------------------
    def scaled_to(self, width: int, height: int) -> "Hints":
        """The same hints in the coordinates of a photo of ``width`` x ``height``.

        When ``image_size`` is unset or already equal, the hints are returned unchanged.
        """
        if not self.image_size or tuple(self.image_size) == (width, height):
            return replace(self, image_size=(int(width), int(height)))
        sw, sh = width / self.image_size[0], height / self.image_size[1]
        sr = math.sqrt(sw * sh)
        pts = tuple(replace(p, x=p.x * sw, y=p.y * sh, radius=p.radius * sr) for p in self.points)
        sts = tuple(replace(s, points=tuple((x * sw, y * sh) for x, y in s.points), width=s.width * sr)
                    for s in self.strokes)
        return replace(self, points=pts, strokes=sts, image_size=(int(width), int(height)))

    def problems_outside(self, width: int, height: int) -> list[str]:
        """Sentences for hints that do not touch a ``width`` x ``height`` photo."""
        out = []
        for i, p in enumerate(self.points):
            if not (0 <= p.x <= width and 0 <= p.y <= height):
                out.append(f"points[{i}] at ({p.x:g}, {p.y:g}) lies outside the {width}\u00d7{height} photo")
        for i, s in enumerate(self.strokes):
            pts = list(s.points) if len(s.points) > 1 else list(s.points) * 2
            r = s.width / 2
            if not any(_segment_meets_box(p0, p1, -r, -r, width + r, height + r) for p0, p1 in zip(pts[:-1], pts[1:])):
                out.append(f"strokes[{i}] lies entirely outside the {width}\u00d7{height} photo")
        return out

    # -- file format --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> "Hints":
        if not isinstance(data, dict):
            raise HintsError("the hints file must hold a JSON object")
        fmt = data.get("format", FORMAT)
        if fmt != FORMAT:
            raise HintsError(f'format: {brief(fmt)} is not "{FORMAT}"')
        version = data.get("version", VERSION)
        if not isinstance(version, int) or isinstance(version, bool):
            raise HintsError(f"version: {brief(version)} is not a whole number")
        if version != VERSION:
            raise HintsError(f"version: {brief(version)} is not supported (this Colorstudio reads version {VERSION})")
        size = None
        if data.get("image") is not None:
            img = data["image"]
            if not isinstance(img, dict):
                raise HintsError("image: must be an object with width and height")
            w, h = img.get("width"), img.get("height")
            for name, v in (("width", w), ("height", h)):
                if not is_number(v) or v <= 0:
                    raise HintsError(f"image.{name}: {brief(v)} is not a positive number")
                if v < 1:
                    raise HintsError(f"image.{name}: {brief(v)} is less than one pixel")
            size = (int(w), int(h))
        points = _as_list(data, "points")
        strokes = _as_list(data, "strokes")
        pts = tuple(_point_from(p, f"points[{i}]") for i, p in enumerate(points))
        sts = tuple(_stroke_from(s, f"strokes[{i}]") for i, s in enumerate(strokes))
        extra = {k: v for k, v in data.items() if k not in ("format", "version", "image", "points", "strokes")}
        image_extra = {k: v for k, v in (data.get("image") or {}).items() if k not in ("width", "height")}
        return cls(pts, sts, size, extra, image_extra)

    def to_dict(self) -> dict:
        d: dict = {"format": FORMAT, "version": VERSION}
        if self.image_size:
            d["image"] = {**self.image_extra, "width": int(self.image_size[0]), "height": int(self.image_size[1])}
        d["points"] = [{**p.extra, "x": _num(p.x), "y": _num(p.y), "radius": _num(p.radius), "color": p.color}
                       for p in self.points]
        d["strokes"] = [{**s.extra, "points": [[_num(x), _num(y)] for x, y in s.points],
                         "width": _num(s.width), "color": s.color, **({"protect": True} if s.protect else {})}
                        for s in self.strokes]
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    @classmethod
    def load(cls, path) -> "Hints":
        path = Path(path)
        data = read_json(path, HintsError, "hints file")
        try:
            return cls.from_dict(data)
        except HintsError as exc:
            raise HintsError(f"{path.name}: {exc}") from None

    def save(self, path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def read_json(path: Path, error: type[Exception], what: str, max_bytes: int | None = None):
    """The JSON in ``path``; every way it can fail is ``error`` with one sentence naming ``what``.

    Only a regular file is read (a FIFO or a device is refused, never waited on), and one
    larger than ``max_bytes`` (default ``MAX_FILE_BYTES``) is refused before it is read;
    numbers JSON does not have (NaN, Infinity) and numbers too long to convert are refused by
    the callers' field checks or here, never as an internal error.
    """
    from . import files

    path = Path(path)
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        raw = files.read_regular_bytes(path, what=what, max_bytes=limit)
    except files.FileError as exc:
        message = str(exc)
        if message == f"{path} does not exist":
            message = f"the {what} {path} does not exist"
        raise error(message) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path} is not a {what} (it is not UTF-8 text)") from None
    del raw
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise error(f"{path} is not a {what} (its JSON is nested too deeply)") from None
    except ValueError:
        # Python refuses to convert integers of more than 4,300 digits (a denial-of-service guard).
        raise error(f"{path} is not a {what} (it holds a number too long to read)") from None


def brief(value, limit: int = 40) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10 ** limit:
        return f"a number of more than {limit} digits"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        text = "a value too long to show"
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def shown(value, limit: int = 40) -> str:
    """``value`` as JSON for a message, cut to about ``limit`` characters."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(value) if not isinstance(value, int) else "a very long number"
    if len(text) > limit:
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{text[:12]}\u2026 (a {len(text.lstrip('-'))}-digit number)"
        return text[:limit - 1] + "\u2026"
    return text


def is_number(v) -> bool:
    """A finite JSON number of sensible size (not a bool, not an overflowing integer)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v) and abs(v) < 1e12
    except OverflowError:  # an integer too large for a float
        return False


def _segment_meets_box(p0, p1, x0, y0, x1, y1) -> bool:
    """Whether the segment p0-p1 touches the box [x0, x1] x [y0, y1] (Liang-Barsky clipping)."""
    t0, t1 = 0.0, 1.0
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    for p, q in ((-dx, p0[0] - x0), (dx, x1 - p0[0]), (-dy, p0[1] - y0), (dy, y1 - p0[1])):
        if p == 0:
            if q < 0:
                return False
            continue
        t = q / p
        if p < 0:
            t0 = max(t0, t)
        else:
            t1 = min(t1, t)
        if t0 > t1:
            return False
    return True


def _num(v: float):
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else round(v, 4)


def _as_list(data: dict, key: str) -> list:
    v = data.get(key, [])
    if v is None:
        return []
    if not isinstance(v, list):
        raise HintsError(f"{key}: must be a list")
    return v


def _color_of(entry: dict, where: str) -> str:
    if "color" not in entry:
        raise HintsError(f"{where}.color: missing")
    try:
        return normalise_color(entry["color"])
    except ColorError:
        raise HintsError(f"{where}.color: {shown(entry['color'])} is not a colour") from None


def _point_from(p: Any, where: str) -> PointHint:
    if not isinstance(p, dict):
        raise HintsError(f"{where}: must be an object with x, y and color")
    for k in ("x", "y"):
        if k not in p:
            raise HintsError(f"{where}.{k}: missing")
        if not is_number(p[k]):
            raise HintsError(f"{where}.{k}: {shown(p[k])} is not a number")
    radius = p.get("radius", DEFAULT_RADIUS)
    if not is_number(radius) or radius <= 0:
        raise HintsError(f"{where}.radius: {shown(radius)} is not a positive number")
    extra = {k: v for k, v in p.items() if k not in ("x", "y", "radius", "color")}
    return PointHint(float(p["x"]), float(p["y"]), _color_of(p, where), float(radius), extra)


def _stroke_from(s: Any, where: str) -> Stroke:
    if not isinstance(s, dict):
        raise HintsError(f"{where}: must be an object with points, width and color")
    pts = s.get("points")
    if not isinstance(pts, list) or not pts:
        raise HintsError(f"{where}.points: must be a non-empty list of [x, y] pairs")
    poly = []
    for j, xy in enumerate(pts):
        if not (isinstance(xy, list) and len(xy) == 2 and all(is_number(v) for v in xy)):
            raise HintsError(f"{where}.points[{j}]: {shown(xy)} is not an [x, y] pair")
        poly.append((float(xy[0]), float(xy[1])))
    width = s.get("width", DEFAULT_WIDTH)
    if not is_number(width) or width <= 0:
        raise HintsError(f"{where}.width: {shown(width)} is not a positive number")
    protect = s.get("protect", False)
    if not isinstance(protect, bool):
        raise HintsError(f"{where}.protect: {shown(protect)} is not true or false")
    extra = {k: v for k, v in s.items() if k not in ("points", "width", "color", "protect")}
    if protect:
        if "color" in s:
            _color_of(s, where)  # still a colour, if given
        return Stroke(tuple(poly), float(width), PROTECT_COLOR, extra, protect=True)
    return Stroke(tuple(poly), float(width), _color_of(s, where), extra)


# -- rasterisation ------------------------------------------------------------------------

@dataclass(frozen=True)
class HintRaster:
    """Hints drawn at a working size: chroma per pixel and how much each pixel is covered."""

    ab: np.ndarray    # (h, w, 2) float32, the hint chroma where mask > 0
    mask: np.ndarray  # (h, w) float32 in [0, 1]

    @property
    def any(self) -> bool:
        return bool(self.mask.any())


#: Pixel-hint pairs handled in one vectorised pass; small enough to stay in the CPU cache (a few MB).
PASS_PAIRS = 1 << 16


def rasterize(hints: Hints, width: int, height: int, out_width: int, out_height: int, *,
              should_stop=None, stats: dict | None = None) -> HintRaster:
    """Draw ``hints`` (in the coordinates of a ``width`` x ``height`` photo) at ``out`` size.

    Edges are antialiased by coverage. A disk smaller than a working pixel still marks the
    pixel it falls in, so a hint never vanishes at a coarse working size. Strokes are drawn
    first, then points, later entries over earlier ones.

    The work is linear in the number of hints (a stroke counts its segments): every hint is
    reduced to the pixels of its small box, all of them handled in vectorised passes of at
    most ``PASS_PAIRS`` (pixel, hint) pairs, in the hints' order. ``should_stop()`` is asked
    between passes; when it answers true, ``Cancelled`` is raised. ``stats``, when given,
    counts the work (``pairs``, ``layers``, ``passes``) for tests.
    """
    from .cancel import Cancelled
    hints = hints.scaled_to(width, height)
    sx, sy = out_width / width, out_height / height
    s = math.sqrt(sx * sy)
    ab = np.zeros((out_height, out_width, 2), np.float32)
    mask = np.zeros((out_height, out_width), np.float32)
    prims = _primitives(hints, sx, sy, s)
    if prims is None:
        return HintRaster(ab, mask)
    x0, y0, x1, y1, r, colour, chroma = prims
    r_eff = np.maximum(r, 0.5)
    bx0 = np.maximum(np.floor(np.minimum(x0, x1) - r_eff - 1), 0).astype(np.int64)
    bx1 = np.minimum(np.ceil(np.maximum(x0, x1) + r_eff + 1), out_width).astype(np.int64)
    by0 = np.maximum(np.floor(np.minimum(y0, y1) - r_eff - 1), 0).astype(np.int64)
    by1 = np.minimum(np.ceil(np.maximum(y0, y1) + r_eff + 1), out_height).astype(np.int64)
    dx, dy = x1 - x0, y1 - y0
    ll = dx * dx + dy * dy
    tiny = (r < 0.5) & (ll <= 1e-12)  # marks the one pixel its centre falls in
    keep = np.flatnonzero((bx0 < bx1) & (by0 < by1))
    # A hint that covers every pixel fully paints over all before it: start from the last one
    # (the same pixels, without the work of a hostile file's thousands of photo-sized disks).
    far = np.maximum(np.maximum(np.abs(x0 - 0.5), np.abs(x0 - (out_width - 0.5))) ** 2 +
                     np.maximum(np.abs(y0 - 0.5), np.abs(y0 - (out_height - 0.5))) ** 2, 0) ** 0.5
    whole = np.flatnonzero((r_eff - 0.5 >= far + 1e-2) & ~tiny)
    if len(whole):
        keep = keep[keep >= whole[-1]]
    bw, bh = bx1 - bx0, by1 - by0
    count = np.where(tiny, 1, bw * bh)[keep]
    ab_flat, mask_flat = ab.reshape(-1, 2), mask.reshape(-1)
    ends = np.cumsum(count)
    start = 0
    while start < len(keep):
        if should_stop is not None and should_stop():
            raise Cancelled()
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + PASS_PAIRS, side="right")), start + 1)
        ids = keep[start:stop]
        _paint_pass(ids, count[start:stop], x0, y0, dx, dy, ll, r_eff, tiny, bx0, by0, bx1, by1, bw,
                    chroma[colour[ids]], ab_flat, mask_flat, out_width, stats)
        start = stop
    return HintRaster(ab, mask)


def _primitives(hints: Hints, sx: float, sy: float, s: float):
    """Every stroke segment, then every point, as arrays in working pixels (float64)."""
    colours: dict[str, int] = {}
    segs, cols, radii = [], [], []
    for st in hints.strokes:
        pts = np.asarray(st.points, np.float64).reshape(-1, 2) * (sx, sy)
        if len(pts) == 1:
            pts = np.concatenate([pts, pts])
        segs.append(np.concatenate([pts[:-1], pts[1:]], axis=1))
        cols.append(np.full(len(pts) - 1, colours.setdefault(st.color, len(colours))))
        radii.append(np.full(len(pts) - 1, st.width / 2 * s))
    if hints.points:
        xyr = np.array([(p.x, p.y, p.radius) for p in hints.points], np.float64)
        xy = xyr[:, :2] * (sx, sy)
        segs.append(np.concatenate([xy, xy], axis=1))
        cols.append(np.array([colours.setdefault(p.color, len(colours)) for p in hints.points]))
        radii.append(xyr[:, 2] * s)
    if not segs:
        return None
    seg = np.concatenate(segs)
    chroma = np.array([hex_to_ab(c) for c in colours], np.float32).reshape(-1, 2)
    return (seg[:, 0], seg[:, 1], seg[:, 2], seg[:, 3], np.concatenate(radii),
            np.concatenate(cols).astype(np.int64), chroma)


def _paint_pass(ids, count, x0, y0, dx, dy, ll, r_eff, tiny, bx0, by0, bx1, by1, bw, chroma, ab_flat,
                mask_flat, out_width, stats) -> None:
    """Coverage of the hints ``ids`` on their boxes, composited in order over ``ab``/``mask``."""
    total = int(count.sum())
    local = np.repeat(np.arange(len(ids)), count)          # which hint (in this pass) each pair is
    starts = np.cumsum(count) - count
    offset = np.arange(total) - starts[local]
    h = ids[local]
    ix = bx0[h] + offset % bw[h]
    iy = by0[h] + offset // bw[h]
    # Distances in float32 from pixel centres to each hint's segment, as one hint at a time would.
    f32 = np.float32
    px, py = ix.astype(f32) + f32(0.5), iy.astype(f32) + f32(0.5)
    hx0, hy0, hdx, hdy, hll = (a[h].astype(f32) for a in (x0, y0, dx, dy, ll))
    moving = ll[h] > 1e-12
    t = np.zeros(total, f32)
    t[moving] = np.clip(((px[moving] - hx0[moving]) * hdx[moving] + (py[moving] - hy0[moving]) * hdy[moving])
                        / hll[moving], 0.0, 1.0)
    d = np.hypot(px - (hx0 + t * hdx), py - (hy0 + t * hdy))
    cov = np.clip((r_eff[h] + 0.5).astype(f32) - d, 0.0, 1.0).astype(f32)
    small = tiny[ids]
    if small.any():  # a disk smaller than a pixel: its one pair is the pixel its centre is in
        j = np.flatnonzero(small)
        k = starts[j]
        ix[k] = np.clip(np.floor(x0[ids[j]]).astype(np.int64), bx0[ids[j]], bx1[ids[j]] - 1)
        iy[k] = np.clip(np.floor(y0[ids[j]]).astype(np.int64), by0[ids[j]], by1[ids[j]] - 1)
        cov[k] = 1.0
    best = np.maximum.reduceat(cov, starts) if total else cov
    for j in np.flatnonzero(best <= 0):  # no pixel covered: mark the nearest one fully
        lo = starts[j]
        cov[lo + int(np.argmin(d[lo:lo + count[j]]))] = 1.0
    hit = np.flatnonzero(cov > 0)
    pix, cov, a, b = (iy[hit] * out_width + ix[hit]), cov[hit], chroma[local[hit], 0], chroma[local[hit], 1]
    # Later hints over earlier ones, per pixel: the k-th hint touching a pixel goes in layer k,
    # and within a layer every pixel appears once, so each layer is one vectorised update.
    order = np.argsort(pix, kind="stable")
    sp = pix[order]
    first = np.r_[True, sp[1:] != sp[:-1]] if len(sp) else np.zeros(0, bool)
    group = np.cumsum(first) - 1
    rank = np.arange(len(sp)) - np.flatnonzero(first)[group]
    by_layer = order[np.argsort(rank, kind="stable")]
    layers = np.cumsum(np.bincount(rank)) if len(rank) else np.zeros(0, np.int64)
    lo = 0
    for hi in layers.tolist():
        sel = by_layer[lo:hi]
        q, c = pix[sel], cov[sel]
        m0 = mask_flat[q]
        keep_old = (1 - c) * m0
        den = np.maximum(keep_old + c, f32(1e-6))
        ab_flat[q, 0] = ab_flat[q, 0] * keep_old / den + a[sel] * c / den
        ab_flat[q, 1] = ab_flat[q, 1] * keep_old / den + b[sel] * c / den
        mask_flat[q] = np.maximum(m0, c)
        lo = hi
    if stats is not None:
        stats["pairs"] = stats.get("pairs", 0) + total
        stats["layers"] = stats.get("layers", 0) + len(layers)
        stats["passes"] = stats.get("passes", 0) + 1


def rasterize_protect(hints: Hints, width: int, height: int, out_width: int, out_height: int) -> np.ndarray:
    """How much each working pixel is covered by protect strokes: (h, w) float32 in [0, 1]."""
    strokes = hints.protected
    if not strokes:
        return np.zeros((out_height, out_width), np.float32)
    only = Hints(strokes=strokes, image_size=hints.image_size)
    return rasterize(only, width, height, out_width, out_height).mask
