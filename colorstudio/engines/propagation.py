"""Edge-aware colour propagation: the weight-free engine for hints.

The model is the one of Levin, Lischinski and Weiss (2004): chroma varies smoothly where
lightness is smooth and may change across edges, with the hints as constraints. We solve a
screened, confidence-normalised form of it:

    minimise  sum_edges w_pq (u_p - u_q)^2  +  sum_p h^2 eps u_p^2  +  sum_p lam m_p (u_p - c_p)^2

for three right-hand sides at once: the hint chroma a*, b* (weighted by the hint mask m) and
the mask itself. The third solution is a *confidence* field that is 1 at hints and decays
with geodesic distance (fast across strong edges, slowly along smooth regions). Colour is
``u_ab / confidence``, a confidence-weighted average of the hints that reach a pixel, faded to
neutral where the confidence drops below ``tau``. So a single red hint on a jacket colours
the jacket, not the sky, and with no hints the photo stays grey.

Speed comes from a multigrid hierarchy that is built once per photo (edge weights at every
level) and reused for every hint edit:

* preview: a direct sparse solve on the coarsest level (<= ``coarse_side`` px on the long side);
* render: full multigrid (coarse solve, then one or more V-cycles per finer level) at the
  working size, converging to the same solution as a direct solve at that size.

Edge weights are ``exp(-dL^2 / (2 sigma^2))`` between 4-neighbours, with ``dL`` in L* units.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..core.hints import Hints, rasterize
from ..core.resample import downsample_area, downsample_lightness_bands, fit_size, resize_bilinear
from .base import Cancelled, Chroma, Engine, EngineSession


@dataclass(frozen=True)
class PropagationParams:
    sigma: float = 4.0          # L* difference at which an edge halves... (edge strength scale)
    weight_floor: float = 1e-4  # keeps every pixel connected, so the solve is well posed
    reach: float = 0.35         # decay length of a hint's influence, as a fraction of the long side
    tau: float = 0.1            # confidence under which colour fades to neutral
    hint_strength: float = 50.0
    coarse_side: int = 128      # the preview level and the multigrid's bottom
    render_side: int = 1024     # the render's working size (long side); larger photos are upsampled
    vcycles: int = 2            # V-cycles on each level of the full multigrid
    smooth_steps: int = 2       # red-black Gauss-Seidel sweeps before and after each coarse correction


class _Level:
    """One level of the hierarchy: lightness, edge weights and their sum per pixel."""

    def __init__(self, L: np.ndarray, p: PropagationParams, long_side_full: int):
        self.L = L
        self.h, self.w = L.shape
        inv = -0.5 / (p.sigma * p.sigma)
        self.wx = (np.exp(np.square(L[:, 1:] - L[:, :-1]) * inv) + p.weight_floor).astype(np.float32)
        self.wy = (np.exp(np.square(L[1:, :] - L[:-1, :]) * inv) + p.weight_floor).astype(np.float32)
        dw = np.zeros_like(L)
        dw[:, 1:] += self.wx
        dw[:, :-1] += self.wx
        dw[1:, :] += self.wy
        dw[:-1, :] += self.wy
        self.dw = dw
        # Screening, scaled by the pixel area so the decay length is a fraction of the photo
        # whatever the level's resolution.
        hpx = 1.0 / max(self.h, self.w)
        self.screen = np.float32(hpx * hpx / (p.reach * p.reach))
        self._offdiag = None

    # -- operator --------------------------------------------------------------------
    def neighbours(self, u: np.ndarray) -> np.ndarray:
        """sum_q w_pq u_q for every p; u is (c, h, w)."""
        s = np.zeros_like(u)
        s[:, :, 1:] += self.wx * u[:, :, :-1]
        s[:, :, :-1] += self.wx * u[:, :, 1:]
        s[:, 1:, :] += self.wy * u[:, :-1, :]
        s[:, :-1, :] += self.wy * u[:, 1:, :]
        return s

    def residual(self, u, b, diag):
        return b - (diag * u - self.neighbours(u))

    def smooth(self, u, b, diag, steps: int):
        if not hasattr(self, "_red"):
            yy, xx = np.indices((self.h, self.w))
            self._red = ((yy + xx) % 2 == 0)
        red = self._red
        inv = 1.0 / diag
        for _ in range(steps):
            for colour in (red, ~red):
                new = (b + self.neighbours(u)) * inv
                np.copyto(u, new, where=colour)
        return u

    # -- direct solve (coarsest level) --------------------------------------------------
    def direct_solve(self, b: np.ndarray, diag: np.ndarray) -> np.ndarray:
        n = self.h * self.w
        if self._offdiag is None:
            idx = np.arange(n).reshape(self.h, self.w)
            rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
            cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
            vals = np.concatenate([self.wx.ravel(), self.wy.ravel()]).astype(np.float64)
            upper = sp.coo_matrix((-vals, (rows, cols)), shape=(n, n))
            self._offdiag = (upper + upper.T).tocsc()
        A = (self._offdiag + sp.diags(diag.ravel().astype(np.float64))).tocsc()
        lu = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                       options={"SymmetricMode": True})
        x = lu.solve(b.reshape(b.shape[0], n).T.astype(np.float64))
        return x.T.reshape(b.shape).astype(np.float32)


def restrict_sum(r: np.ndarray, h: int, w: int) -> np.ndarray:
    """Sum 2x2 blocks of ``r`` (c, H, W) into (c, h, w) with h = ceil(H/2), w = ceil(W/2)."""
    c, H, W = r.shape
    if H % 2 or W % 2:
        r = np.pad(r, ((0, 0), (0, H % 2), (0, W % 2)))
    return r.reshape(c, h, 2, w, 2).sum(axis=(2, 4))


class PropagationSession(EngineSession):
    """Per-photo hierarchy; every hint edit reuses it."""

    def __init__(self, lightness: np.ndarray, params: PropagationParams):
        self.params = params
        self.full_h, self.full_w = lightness.shape
        self._full_lightness = lightness
        self._pyramids: dict[int, list[_Level]] = {}

    def _pyramid(self, side: int) -> list[_Level]:
        """Levels from a working size with long side ``side`` down to the coarse side."""
        if side not in self._pyramids:
            p = self.params
            w, h = fit_size(self.full_w, self.full_h, side)
            L = downsample_lightness_bands(self._full_lightness, h, w)
            levels = []
            while True:
                levels.append(_Level(L, p, max(self.full_w, self.full_h)))
                if max(h, w) <= p.coarse_side:
                    break
                h, w = (h + 1) // 2, (w + 1) // 2
                L = downsample_area(np.pad(L, ((0, L.shape[0] % 2), (0, L.shape[1] % 2)), mode="edge"), h, w)
            self._pyramids[side] = levels
        return self._pyramids[side]

    def _system(self, level: _Level, hints: Hints):
        r = rasterize(hints, self.full_w, self.full_h, level.w, level.h)
        lam = np.float32(self.params.hint_strength)
        m = r.mask * lam
        b = np.stack([m * r.ab[..., 0], m * r.ab[..., 1], m])
        diag = level.dw + level.screen + m
        return b, diag

    def _finish(self, u: np.ndarray, level: _Level) -> Chroma:
        conf = u[2]
        tau = self.params.tau
        scale = np.clip(conf / tau, 0.0, 1.0) / np.maximum(conf, 1e-12)
        ab = np.stack([u[0] * scale, u[1] * scale], axis=-1).astype(np.float32)
        return Chroma(ab=ab, lightness=level.L, info={"confidence": conf})

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               reference=None, should_stop=None) -> Chroma:
        p = self.params
        if quality == "preview":
            side = min(p.coarse_side, max_side or p.coarse_side)
            levels = self._pyramid(max(side, 1))
            coarse = levels[-1]
            if hints.is_empty:
                return Chroma(ab=np.zeros((coarse.h, coarse.w, 2), np.float32), lightness=coarse.L)
            b, diag = self._system(coarse, hints)
            return self._finish(coarse.direct_solve(b, diag), coarse)

        side = min(p.render_side, max(self.full_w, self.full_h))
        if max_side:
            side = min(side, max_side)
        levels = self._pyramid(side)
        finest = levels[0]
        if hints.is_empty:
            return Chroma(ab=np.zeros((finest.h, finest.w, 2), np.float32), lightness=finest.L)
        systems = [self._system(lv, hints) for lv in levels]
        # Full multigrid: exact on the coarsest level, then V-cycles level by level upwards.
        u = levels[-1].direct_solve(*systems[-1])
        for k in range(len(levels) - 2, -1, -1):
            if should_stop and should_stop():
                raise Cancelled()
            lv = levels[k]
            u = resize_bilinear(u, lv.h, lv.w)
            for _ in range(p.vcycles):
                u = self._vcycle(levels, systems, k, u)
        return self._finish(u, finest)

    def _vcycle(self, levels, systems, k, u, b=None):
        """One V-cycle for A_k u = b from the guess ``u`` (b defaults to level k's hints)."""
        lv = levels[k]
        rhs, diag = systems[k]
        b = rhs if b is None else b
        if k == len(levels) - 1:
            return lv.direct_solve(b, diag)
        steps = self.params.smooth_steps
        u = lv.smooth(u, b, diag, steps)
        nxt = levels[k + 1]
        rc = restrict_sum(lv.residual(u, b, diag), nxt.h, nxt.w)
        ec = self._vcycle(levels, systems, k + 1, np.zeros_like(rc), rc)
        u = u + resize_bilinear(ec, lv.h, lv.w)
        return lv.smooth(u, b, diag, steps)


class PropagationEngine(Engine):
    """Edge-aware propagation of hint colours; needs no model weights."""

    name = "propagation"
    label = "Edge-aware propagation"
    description = "Spreads hint colours along regions of similar lightness, stopping at edges. Needs no download."
    needs_weights = False
    uses_hints = True

    def __init__(self, params: PropagationParams | None = None, **overrides):
        base = params or PropagationParams()
        if overrides:
            base = PropagationParams(**{**base.__dict__, **overrides})
        self.params = base

    def start(self, lightness: np.ndarray) -> PropagationSession:
        return PropagationSession(lightness, self.params)
