"""Palette transfer between colour pictures: Reinhard et al. (2001) and linear
Monge-Kantorovich (Pitié and Kokaram 2007), on the chroma a*, b* only.

The photo keeps its tones: composition always joins the photo's own L, so the engine moves
only a*, b*. The transfer is global and linear, so it is computed on a working grid and the
result is exact at any size up to the guided upsampling of composition.

* Reinhard: each of a*, b* is shifted and scaled to the reference's mean and spread.
* Monge-Kantorovich: the affine map x -> T (x - mu_s) + mu_t with
  T = C_s^-1/2 (C_s^1/2 C_t C_s^1/2)^1/2 C_s^-1/2, the optimal-transport map between the
  Gaussians fitted to the two pictures' (a*, b*): it matches the covariance too, so a
  reference whose colours run from teal to orange gives that axis to the photo.

Several references pool their pixels (each reference weighs the same, whatever its size).
``base_ab`` is the photo's own chroma, so the strength slider (applied at composition)
blends from the photo as it is (0) to the full transfer (1).

A grey photo has no palette to change: the engine says so (colour it first with hints or
reference colours, or use reference colours). :func:`transfer` works on any chroma, so the
runtime can apply a palette to a colorized result as well.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from ..core.reference import ReferenceError, load_photo_colour
from ..core.resample import downsample_area, downsample_lightness_bands, fit_size
from .base import Chroma, Engine, EngineError, EngineSession

METHODS = ("mk", "reinhard")
_POOL = 200_000  # reference pixels pooled for the statistics, at most


def _stats(ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(ab, np.float64).reshape(-1, 2)
    return x.mean(axis=0), np.cov(x, rowvar=False, bias=True)


def _sqrtm(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((c + c.T) / 2)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def reinhard(src_ab: np.ndarray, ref_ab: np.ndarray) -> np.ndarray:
    """``src_ab`` (..., 2) with each channel moved to ``ref_ab``'s mean and spread."""
    ms, cs = _stats(src_ab)
    mt, ct = _stats(ref_ab)
    ss = np.sqrt(np.diag(cs))
    st = np.sqrt(np.diag(ct))
    # A neutral source (no spread) takes the reference's mean: there is nothing to scale.
    gain = np.where(ss > 1e-3, st / np.maximum(ss, 1e-3), 0.0)
    out = (np.asarray(src_ab, np.float64) - ms) * gain + mt
    return out.astype(np.float32)


def monge_kantorovich(src_ab: np.ndarray, ref_ab: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """``src_ab`` (..., 2) moved by the linear Monge-Kantorovich map onto ``ref_ab``'s mean
    and covariance (Pitié and Kokaram 2007)."""
    ms, cs = _stats(src_ab)
    mt, ct = _stats(ref_ab)
    cs = cs + eps * np.eye(2)
    r = _sqrtm(cs)
    w, v = np.linalg.eigh(cs)
    r_inv = (v / np.sqrt(w)) @ v.T
    T = r_inv @ _sqrtm(r @ ct @ r) @ r_inv
    out = (np.asarray(src_ab, np.float64) - ms) @ T.T + mt
    return out.astype(np.float32)


def pooled_ab(references) -> np.ndarray:
    """(n, 2) chroma pooled from ``references`` (ReferencePicture), each weighing the same."""
    per = max(1, _POOL // max(1, len(references)))
    parts = []
    for i, ref in enumerate(references):
        ab = np.asarray(ref.lab, np.float32)[..., 1:].reshape(-1, 2)
        if len(ab) > per:
            ab = ab[np.random.default_rng(i).choice(len(ab), per, replace=False)]
        elif len(ab) < per:
            ab = ab[np.resize(np.arange(len(ab)), per)]
        parts.append(ab)
    return np.concatenate(parts)


def transfer(src_ab: np.ndarray, references, method: str = "mk") -> np.ndarray:
    """The palette of ``references`` given to the chroma ``src_ab`` (h, w, 2) by ``method``."""
    if method not in METHODS:
        raise EngineError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if not references:
        raise EngineError("palette transfer needs a reference picture; load one")
    ref_ab = pooled_ab(references)
    fn = monge_kantorovich if method == "mk" else reinhard
    return fn(src_ab, ref_ab)


class PaletteSession(EngineSession):
    """The photo's own chroma at working sizes (decoded once), and the transfer."""

    preview_side = 512
    render_side = 1024

    def __init__(self, lightness: np.ndarray, photo):
        self.lightness = lightness
        self.full_h, self.full_w = lightness.shape
        self.photo = photo
        self._colour = None
        self._grids: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def own_colour(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """(L (h, w), ab (h, w, 2)) of the photo at the working grid of ``side``."""
        w, h = fit_size(self.full_w, self.full_h, side)
        if (h, w) not in self._grids:
            if self._colour is None:
                try:
                    self._colour = load_photo_colour(self.photo)
                except ReferenceError as exc:
                    raise EngineError(str(exc)) from None
            lab = self._colour.lab
            ab = np.stack([_fit(lab[..., i], h, w) for i in (1, 2)], axis=-1).astype(np.float32)
            L = downsample_lightness_bands(self.lightness, h, w).astype(np.float32)
            self._grids[(h, w)] = (L, ab)
        return self._grids[(h, w)]

    def chroma(self, hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None, should_stop=None) -> Chroma:
        side = self.preview_side if quality == "preview" else self.render_side
        if max_side:
            side = min(side, max_side)
        method = (options or {}).get("method", "mk")
        references = tuple(references or ())
        for ref in references:
            if not getattr(ref, "was_color", True):
                from pathlib import Path
                raise EngineError(f"{Path(ref.path).name} has no colour, so it has no palette to give")
        L, own = self.own_colour(side)
        ab = transfer(own, references, method)
        return Chroma(ab=ab, lightness=L, base_ab=own,
                      info={"method": method, "references": len(references)})


def _fit(a: np.ndarray, h: int, w: int) -> np.ndarray:
    from ..core.resample import resize_bilinear
    if a.shape == (h, w):
        return a
    if h <= a.shape[0] and w <= a.shape[1]:
        return downsample_area(np.asarray(a, np.float32), h, w)
    return resize_bilinear(np.asarray(a, np.float32), h, w)


class PaletteEngine(Engine):
    """Palette transfer from reference pictures onto a colour photo; no weights."""

    name = "palette"
    label = "Palette transfer"
    description = "Gives a colour photo the palette of a reference picture, keeping its tones."
    needs_weights = False
    uses_hints = False
    uses_reference = True

    def start(self, lightness: np.ndarray, photo=None) -> PaletteSession:
        return PaletteSession(np.asarray(lightness, np.float32), photo)
