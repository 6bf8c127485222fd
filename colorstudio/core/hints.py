"""Colour hints: points and brush strokes, their JSON file format, and rasterisation.

Coordinates are source pixels of the photo as displayed (after EXIF orientation): x to the
right, y down, the origin at the top-left corner of the top-left pixel, so the centre of
pixel (i, j) is (i + 0.5, j + 0.5). Only a hint's chroma is used; its lightness comes from
the photo.
"""
from __future__ import annotations

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
MAX_FILE_BYTES = 64 * 1024 * 1024


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
    """A colour painted along a polyline with a width (diameter) in pixels."""

    points: tuple
    width: float
    color: str
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def recoloured(self, color) -> "Stroke":
        return replace(self, color=normalise_color(color))


def normalise_color(value) -> str:
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
                         "width": _num(s.width), "color": s.color} for s in self.strokes]
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

    A file larger than ``max_bytes`` (default ``MAX_FILE_BYTES``) is refused before it is
    read; numbers JSON does not have (NaN, Infinity) and numbers too long to convert are
    refused by the callers' field checks or here, never as an internal error.
    """
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except FileNotFoundError:
        raise error(f"the {what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"could not read the {what} {path}: {exc.strerror}") from None
    if len(raw) > limit:
        raise error(f"{path} is too large for a {what} (more than {limit // (1024 * 1024)} MB)") from None
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
    extra = {k: v for k, v in s.items() if k not in ("points", "width", "color")}
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


def rasterize(hints: Hints, width: int, height: int, out_width: int, out_height: int) -> HintRaster:
    """Draw ``hints`` (in the coordinates of a ``width`` x ``height`` photo) at ``out`` size.

    Edges are antialiased by coverage. A disk smaller than a working pixel still marks the
    pixel it falls in, so a hint never vanishes at a coarse working size. Strokes are drawn
    first, then points, later entries over earlier ones.
    """
    hints = hints.scaled_to(width, height)
    sx, sy = out_width / width, out_height / height
    s = math.sqrt(sx * sy)
    ab = np.zeros((out_height, out_width, 2), np.float32)
    mask = np.zeros((out_height, out_width), np.float32)
    cache: dict[str, tuple[float, float]] = {}

    def chroma(c: str):
        if c not in cache:
            cache[c] = hex_to_ab(c)
        return cache[c]

    def paint(x0, y0, x1, y1, r, color):
        # Distance from each pixel centre in the box to the segment (x0,y0)-(x1,y1), in working px.
        r_eff = max(r, 0.5)
        bx0 = max(int(math.floor(min(x0, x1) - r_eff - 1)), 0)
        bx1 = min(int(math.ceil(max(x0, x1) + r_eff + 1)), out_width)
        by0 = max(int(math.floor(min(y0, y1) - r_eff - 1)), 0)
        by1 = min(int(math.ceil(max(y0, y1) + r_eff + 1)), out_height)
        if bx0 >= bx1 or by0 >= by1:
            return
        px = np.arange(bx0, bx1, dtype=np.float32)[None, :] + 0.5
        py = np.arange(by0, by1, dtype=np.float32)[:, None] + 0.5
        dx, dy = x1 - x0, y1 - y0
        ll = dx * dx + dy * dy
        if ll > 1e-12:
            t = np.clip(((px - x0) * dx + (py - y0) * dy) / ll, 0.0, 1.0)
        else:
            t = np.zeros((1, 1), np.float32)
        d = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))
        if r < 0.5 and ll <= 1e-12:
            # A disk smaller than a working pixel marks the pixel its centre falls in, fully.
            cov = np.zeros_like(d)
            ix = min(max(int(math.floor(x0)), bx0), bx1 - 1) - bx0
            iy = min(max(int(math.floor(y0)), by0), by1 - 1) - by0
            cov[iy, ix] = 1.0
        else:
            cov = np.clip(r_eff + 0.5 - d, 0.0, 1.0)
            if not cov.any():
                cov = np.zeros_like(d)
                iy, ix = np.unravel_index(int(np.argmin(d)), d.shape)
                cov[iy, ix] = 1.0
        a, b = chroma(color)
        sub_m = mask[by0:by1, bx0:bx1]
        sub_ab = ab[by0:by1, bx0:bx1]
        # Later hints paint over earlier ones ("over" compositing of coverage).
        sub_ab[..., 0] = sub_ab[..., 0] * (1 - cov) * sub_m / np.maximum(sub_m * (1 - cov) + cov, 1e-6) + \
            a * cov / np.maximum(sub_m * (1 - cov) + cov, 1e-6)
        sub_ab[..., 1] = sub_ab[..., 1] * (1 - cov) * sub_m / np.maximum(sub_m * (1 - cov) + cov, 1e-6) + \
            b * cov / np.maximum(sub_m * (1 - cov) + cov, 1e-6)
        sub_m[...] = np.maximum(sub_m, cov)

    for st in hints.strokes:
        r = st.width / 2 * s
        pts = [(x * sx, y * sy) for x, y in st.points]
        if len(pts) == 1:
            pts = pts * 2
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
            paint(x0, y0, x1, y1, r, st.color)
    for p in hints.points:
        x, y = p.x * sx, p.y * sy
        paint(x, y, x, y, p.radius * s, p.color)
    return HintRaster(ab, mask)
