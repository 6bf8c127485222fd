"""Strength and look of a stylization, applied at composition (no network run).

A style engine (MicroAST, AdaIN) answers once per photo, style picture and working size
with a :class:`~colorstudio.engines.base.Chroma` that holds everything strength and look
need:

* ``chroma.ab``: the stylization's own chroma (CIELAB a*, b*) at the working size;
* ``chroma.lightness``: the photo's L at the same size (the guide for edge-aware upsampling);
* ``chroma.base_ab``: what strength 0 looks like (None: neutral grey, or the photo's own
  ab for a colour photo, or its colorized result);
* ``chroma.painted_lightness``: the stylization's own L.

:func:`blend_style` turns that into the (L, ab) to compose, for a ``strength`` from 0 to 1
and one of two ``look`` values:

* ``"tones"`` ("Colour and texture on the photo's own tones", the default): L is the
  photo's L, exactly (the house's invariant); ab = base + s * (ab - base).
* ``"painting"`` ("Full painting"): ab as above, and L = lerp(photo L, painted L, s): the one
  look that changes a photo's tones, which the app labels and the provenance records.

The network's own ``alpha`` (mixing modulated and plain features inside the decoder) is not
used: with the published MicroAST weights it gives a flat, saturated picture at 0.5.
Blending in Lab after the network is monotone from the photo (0) to the stylization (1).

How the runtime uses it (the preview and the export alike)::

    L_work, ab_work = blend_style(chroma.lightness, chroma, strength, look)
    # compose as for any engine: ab_work is upsampled edge-aware, guided by chroma.lightness,
    # and joined with the photo's full-resolution L. For the "painting" look the full-size L is
    full_L = painted_lightness_full(photo_L_full, chroma, strength)   # tones: photo_L_full

Pure numpy, no torch: a strength step costs a few array operations at working size.

A strength slider step, painted: the chroma field (the guided-filter fit that composition
upsamples edge-aware) is linear in the ab it is fitted to, so :func:`style_field` fits the
stylization's and the base's fields once per engine answer and a step only mixes them::

    L = painted_lightness_full(L_preview, chroma, s) if look == "painting" else L_preview
    rgb = compose(L, style_field(chroma, s))       # equals compose(L, chroma_field(ab_s, ...))
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Optional

import numpy as np

from .spec import Option

LOOK_TONES = "tones"
LOOK_PAINTING = "painting"
LOOKS = (LOOK_TONES, LOOK_PAINTING)
LOOK_LABELS = {
    LOOK_TONES: "Colour and texture on the photo's own tones",
    LOOK_PAINTING: "Full painting (changes the photo's tones)",
}

#: The look setting, as the document, the CLI (--keep-tones / --full-style) and the panel see it.
LOOK = Option("look", "Look", LOOK_TONES, choices=LOOKS,
              help="tones: the photo keeps its own lightness; painting: the style's lightness too")


def _check(strength: float, look: str) -> float:
    if look not in LOOKS:
        raise ValueError(f"look must be one of {', '.join(LOOKS)}, not {look!r}")
    s = float(strength)
    if not np.isfinite(s) or s < 0.0 or s > 1.0:
        raise ValueError(f"strength must be a number from 0 to 1, not {strength!r}")
    return s


def blend_ab(ab: np.ndarray, base_ab: Optional[np.ndarray], strength: float) -> np.ndarray:
    """``base + strength * (ab - base)`` as float32; ``base_ab`` None means neutral grey."""
    ab = np.asarray(ab, dtype=np.float32)
    if base_ab is None:
        return ab * np.float32(strength)
    base = np.asarray(base_ab, dtype=np.float32)
    if base.shape != ab.shape:
        raise ValueError(f"base_ab has shape {base.shape}, ab has {ab.shape}")
    return base + np.float32(strength) * (ab - base)


def blend_style(L_photo: np.ndarray, chroma, strength: float, look: str = LOOK_TONES
                ) -> tuple[np.ndarray, np.ndarray]:
    """(L, ab) at the working size for ``strength`` in [0, 1] and ``look``.

    ``L_photo`` is the photo's L at the chroma's working size (usually ``chroma.lightness``);
    ``chroma`` is a style engine's answer (any object with ``ab``, ``base_ab`` and
    ``painted_lightness``). With ``look="tones"`` the returned L is ``L_photo`` itself,
    untouched; with ``"painting"`` it is ``L_photo + strength * (painted - L_photo)``, clipped
    to 0..100 (an engine without a painted L leaves the photo's L). Strength 0 gives the
    base (the photo's own colour, or grey), 1 the stylization; in between every channel moves
    monotonically from one to the other. ValueError for a strength outside 0..1 or an
    unknown look.
    """
    s = _check(strength, look)
    L_photo = np.asarray(L_photo, dtype=np.float32)
    ab = blend_ab(chroma.ab, getattr(chroma, "base_ab", None), s)
    if ab.shape[:2] != L_photo.shape[:2]:
        raise ValueError(f"the photo's L is {L_photo.shape[:2]} but the chroma is {ab.shape[:2]}")
    painted = getattr(chroma, "painted_lightness", None)
    if look == LOOK_TONES or painted is None:
        return L_photo, ab
    painted = np.asarray(painted, dtype=np.float32)
    L = L_photo + np.float32(s) * (painted - L_photo)
    return np.clip(L, 0.0, 100.0, out=L), ab


class StrengthField:
    """What ``compose`` needs (``at`` and ``shape``) for the blend at ``strength`` of two
    fitted chroma fields: ``base + strength * (stylization - base)``, base None = grey."""

    def __init__(self, field, base_field, strength: float):
        self.field, self.base_field, self.strength = field, base_field, np.float32(strength)

    @property
    def shape(self) -> tuple[int, int]:
        return self.field.shape

    def at(self, lightness: np.ndarray, rows=None, full_shape=None) -> np.ndarray:
        ab = self.field.at(lightness, rows=rows, full_shape=full_shape)
        if self.base_field is None:
            return ab * self.strength                 # a new array: ``ab`` may be the field's own
        base = self.base_field.at(lightness, rows=rows, full_shape=full_shape)
        out = ab - base
        out *= self.strength
        out += base
        return out


_fields_lock = threading.Lock()
_fields: "OrderedDict[int, tuple]" = OrderedDict()
#: Engine answers whose fitted fields are kept (the preview's and the render's, for two photos).
FIELDS_KEPT = 4


def _unit_fields(chroma) -> tuple:
    """(field of chroma.ab, field of chroma.base_ab or None), fitted once per answer."""
    key = id(chroma)
    with _fields_lock:
        hit = _fields.get(key)
        if hit is not None and hit[0] is chroma:
            _fields.move_to_end(key)
            return hit[1], hit[2]
    from .compose import chroma_field
    guide = np.asarray(chroma.lightness, np.float32)
    field = chroma_field(np.asarray(chroma.ab, np.float32), guide)
    base = getattr(chroma, "base_ab", None)
    base_field = None if base is None else chroma_field(np.asarray(base, np.float32), guide)
    with _fields_lock:
        _fields[key] = (chroma, field, base_field)
        while len(_fields) > FIELDS_KEPT:
            _fields.popitem(last=False)
    return field, base_field


def style_field(chroma, strength: float) -> StrengthField:
    """The chroma field to compose for ``strength`` (either look: the look changes L only).

    Equal, to float rounding, to ``chroma_field(blend_style(...)[1], chroma.lightness)``, but
    the guided-filter fit runs once per engine answer, not once per slider step."""
    s = _check(strength, LOOK_TONES)
    field, base_field = _unit_fields(chroma)
    return StrengthField(field, base_field, s)


_deltas_lock = threading.Lock()
_deltas: "OrderedDict[tuple, tuple]" = OrderedDict()
#: Up to this many pixels, the upsampled change of tones is kept between slider steps.
DELTA_KEPT_PIXELS = 4_000_000


def _unit_delta(chroma, H: int, W: int) -> np.ndarray:
    """(painted - photo L) at the working size, upsampled to (H, W) (bilinear), kept for
    preview-sized targets so a slider step only scales it."""
    from .resample import resize_bilinear
    key = (id(chroma), H, W)
    with _deltas_lock:
        hit = _deltas.get(key)
        if hit is not None and hit[0] is chroma:
            return hit[1]
    delta = np.asarray(chroma.painted_lightness, np.float32) - np.asarray(chroma.lightness, np.float32)
    up = resize_bilinear(delta, H, W)
    with _deltas_lock:
        _deltas[key] = (chroma, up)
        while len(_deltas) > 2:
            _deltas.popitem(last=False)
    return up


def painted_lightness_full(L_full: np.ndarray, chroma, strength: float) -> np.ndarray:
    """The "full painting" look's L at the photo's full size.

    The stylization exists at the working size only, so its change of tones
    (``painted - chroma.lightness``) is upsampled (bilinear) and added, times ``strength``, to
    the full-resolution L: fine detail the working size cannot hold stays the photo's, and at
    strength 1 the working-size average equals the painting's. Works in bands of rows so a
    50-megapixel L needs no second full-size float copy beyond the answer.
    """
    from .resample import resize_bilinear
    s = float(strength)
    L_full = np.asarray(L_full, dtype=np.float32)
    painted = getattr(chroma, "painted_lightness", None)
    if painted is None or s == 0.0:
        return L_full.copy()
    H, W = L_full.shape[:2]
    if H * W <= DELTA_KEPT_PIXELS:
        out = _unit_delta(chroma, H, W) * np.float32(s)
        out += L_full
        return np.clip(out, 0.0, 100.0, out=out)
    delta = (np.asarray(painted, np.float32) - np.asarray(chroma.lightness, np.float32)) * np.float32(s)
    out = np.empty((H, W), np.float32)
    band = max(1, (1 << 22) // max(W, 1))
    for y0 in range(0, H, band):
        y1 = min(H, y0 + band)
        d = resize_bilinear(delta, H, W, rows=(y0, y1))
        np.add(L_full[y0:y1], d, out=out[y0:y1])
    return np.clip(out, 0.0, 100.0, out=out)
