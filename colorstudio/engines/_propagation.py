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

Speed: a direct sparse solve on a working grid, built once per photo (edge weights and the
matrix's hint-independent part are cached; each edit adds only the hint diagonal and
refactorises). Chroma is smooth, so a modest grid is enough: ``core.compose`` brings it back
to full size along the photo's own edges (a guided filter on the full-resolution L).

* preview: the grid's long side is ``preview_side`` (128 px), about 25 ms a solve;
* render: ``render_side`` (256 px), the exact minimiser of the energy on that grid.

On the Kodak benchmark (bench/quality.py) this beats the exact full-resolution Levin solve
of the same hints at k = 5, 20 and 100 points, and a finer grid does not do better: at full
resolution fine texture reads as edges and blocks the colour.

Edge weights are ``exp(-dL^2 / (2 sigma^2))`` between 4-neighbours, with ``dL`` in L* units.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..core.hints import Hints, rasterize
from ..core.resample import downsample_lightness_bands, fit_size
from .base import Cancelled, Chroma, Engine, EngineSession



@dataclass(frozen=True)
class PropagationParams:
    sigma: float = 2.0          # L* step that counts as an edge (weight exp(-dL^2 / 2 sigma^2))
    weight_floor: float = 1e-5  # keeps every pixel connected; well below the screening, so no leak
    reach: float = 0.35         # decay length of a hint's influence, as a fraction of the long side
    tau: float = 0.1            # confidence under which colour fades to neutral
    hint_strength: float = 50.0
    preview_side: int = 128     # long side of the preview's working grid
    render_side: int = 256      # long side of the render's working grid


class _Grid:
    """A working grid: lightness, edge weights, and the hint-independent part of the matrix."""

    def __init__(self, L: np.ndarray, p: PropagationParams):
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
        # whatever the grid's resolution.
        hpx = 1.0 / max(self.h, self.w)
        self.screen = np.float32(hpx * hpx / (p.reach * p.reach))
        self._offdiag = None
        self._lu0 = None       # the factorisation of A0 + diag(self._base)
        self._base: Optional[np.ndarray] = None
        self._columns: dict[int, np.ndarray] = {}
        # Cached columns of A0^-1, in float64 values (about 80 MB at most per grid).
        self.cache_limit = 10_000_000
        self.max_new_columns = 24
        self.max_update_rank = 1500

    def _matrix(self, diag: np.ndarray):
        n = self.h * self.w
        if self._offdiag is None:
            idx = np.arange(n).reshape(self.h, self.w)
            rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
            cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
            vals = np.concatenate([self.wx.ravel(), self.wy.ravel()]).astype(np.float64)
            upper = sp.coo_matrix((-vals, (rows, cols)), shape=(n, n))
            self._offdiag = (upper + upper.T).tocsc()
        return (self._offdiag + sp.diags(np.ravel(diag).astype(np.float64))).tocsc()

    @staticmethod
    def _factor(A):
        return spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})

    def factorise(self) -> None:
        """Factorise the hint-independent matrix now (done before the first hint arrives)."""
        if self._lu0 is None:
            self._refactorise(np.zeros(self.h * self.w))

    def direct_solve(self, b: np.ndarray, diag: np.ndarray) -> np.ndarray:
        """Solve (offdiag + diag) u = b for the channels of b (c, h, w); factorises anew."""
        n = self.h * self.w
        x = self._factor(self._matrix(diag)).solve(b.reshape(b.shape[0], n).T.astype(np.float64))
        return x.T.reshape(b.shape).astype(np.float32)

    def solve(self, b: np.ndarray, hint_diag: np.ndarray) -> np.ndarray:
        """Solve (A0 + diag(hint_diag)) u = b, where b is zero off the hint pixels.

        A0 (the edge weights and the screening) does not depend on the hints. The grid keeps
        one factorisation, of ``A0 + diag(base)`` for the hints of the last time it had to
        factorise (none at first: the photo's warm-up factorises A0), and the hints of each
        request enter as a low-rank update (Sherman-Morrison-Woodbury) on the pixels where
        they differ from that base. The columns of the base's inverse at those pixels are
        cached, so adding, moving or removing one hint costs the solves of its own pixels and
        one solve for b. When the hints differ from the base at many pixels (a document
        restored with 20 hints, a long brush stroke), the whole matrix is factorised for the
        current hints, which become the new base.
        """
        n = self.h * self.w
        d = hint_diag.ravel().astype(np.float64)
        if not d.any():
            return np.zeros_like(b)
        if self._lu0 is None or self._base is None:
            self._refactorise(d)
            return self._apply(self._lu0, b)
        delta = d - self._base
        S = np.flatnonzero(delta)
        missing = [i for i in S.tolist() if i not in self._columns]
        # The update pays one triangular solve per uncached pixel and a dense s x s solve;
        # factorising costs about as much as a few dozen solves.
        if len(S) * n > self.cache_limit or len(S) > self.max_update_rank or len(missing) > self.max_new_columns:
            self._refactorise(d)
            return self._apply(self._lu0, b)
        y = self._apply(self._lu0, b)                                         # B^-1 b  (c, h, w)
        if len(S) == 0:
            return y
        if missing:
            e = np.zeros((n, len(missing)))
            e[missing, np.arange(len(missing))] = 1.0
            cols = self._lu0.solve(e)
            for j, i in enumerate(missing):
                self._columns[i] = cols[:, j]
        Z = np.stack([self._columns[i] for i in S.tolist()], axis=1)          # n x s = B^-1 P
        # (B + P D P^T)^-1 b = y - Z (D^-1 + P^T Z)^-1 P^T y
        C = Z[S] + np.diag(1.0 / delta[S])
        yS = y.reshape(y.shape[0], n)[:, S].T.astype(np.float64)              # s x c
        w = np.linalg.solve(C, yS)
        return (y.reshape(y.shape[0], n) - (Z @ w).T.astype(np.float32)).reshape(b.shape)

    def _refactorise(self, d: np.ndarray) -> None:
        """Factorise A0 + diag(d); d becomes the base the next requests are updates of."""
        self._lu0 = self._factor(self._matrix(self.dw + self.screen + d.reshape(self.h, self.w).astype(np.float32)))
        self._base = d.copy()
        self._columns = {}

    def _apply(self, lu, b: np.ndarray) -> np.ndarray:
        n = self.h * self.w
        x = lu.solve(b.reshape(b.shape[0], n).T.astype(np.float64))
        return x.T.reshape(b.shape).astype(np.float32)


class PropagationSession(EngineSession):
    """Per-photo hierarchy; every hint edit reuses it."""

    def __init__(self, lightness: np.ndarray, params: PropagationParams):
        self.params = params
        self.full_h, self.full_w = lightness.shape
        self._full_lightness = lightness
        self._grids: dict[int, _Grid] = {}

    def grid(self, side: int) -> _Grid:
        """The working grid whose long side is ``side`` (never larger than the photo); cached."""
        side = max(1, min(side, max(self.full_w, self.full_h)))
        if side not in self._grids:
            w, h = fit_size(self.full_w, self.full_h, side)
            self._grids[side] = _Grid(downsample_lightness_bands(self._full_lightness, h, w), self.params)
        return self._grids[side]

    def warm_up(self, max_side: Optional[int] = None) -> None:
        """The per-photo work of both grids (weights, factorisation), before the first hint."""
        for side in (self.params.preview_side, self.params.render_side):
            self.grid(min(side, max_side) if max_side else side).factorise()

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references=(), options=None, should_stop=None) -> Chroma:
        p = self.params
        side = p.preview_side if quality == "preview" else p.render_side
        if max_side:
            side = min(side, max_side)
        grid = self.grid(side)
        if hints.is_empty:
            # No hints: no colour. Never invent one.
            return Chroma(ab=np.zeros((grid.h, grid.w, 2), np.float32), lightness=grid.L)
        if should_stop and should_stop():
            raise Cancelled()
        r = rasterize(hints, self.full_w, self.full_h, grid.w, grid.h, should_stop=should_stop)
        if should_stop and should_stop():
            raise Cancelled()
        m = r.mask * np.float32(p.hint_strength)
        b = np.stack([m * r.ab[..., 0], m * r.ab[..., 1], m])
        u = grid.solve(b, m)
        conf = u[2]
        # Colour is the confidence-weighted mean of the hints reaching a pixel, faded to
        # neutral where little confidence arrives.
        scale = np.clip(conf / p.tau, 0.0, 1.0) / np.maximum(conf, 1e-12)
        ab = np.stack([u[0] * scale, u[1] * scale], axis=-1).astype(np.float32)
        return Chroma(ab=ab, lightness=grid.L, info={"confidence": conf})

    def soft_chroma(self, hints: Hints, soft_ab: np.ndarray, soft_weight: np.ndarray, *,
                    side: int, should_stop=None) -> Chroma:
        """Chroma from dense *soft* colour targets plus the user's hints, on the grid of ``side``.

        ``soft_ab`` (h, w, 2) and ``soft_weight`` (h, w) >= 0 are at that grid's size (see
        :meth:`grid`): each pixel is pulled towards ``soft_ab`` with its weight (a matcher's
        confidence, typically <= 1), while the edge term keeps colour following the photo's
        own edges. The hints enter as in :meth:`chroma`, with ``hint_strength`` (far above any
        soft weight), so they win where they are placed. The energy is the one of the module
        docstring with the data term ``sum_p (lam m_p + s_p) (u_p - c_p)^2``; with no soft
        weight anywhere this is exactly :meth:`chroma`.
        """
        p = self.params
        grid = self.grid(side)
        if soft_ab.shape != (grid.h, grid.w, 2) or soft_weight.shape != (grid.h, grid.w):
            raise ValueError(f"soft targets must be {grid.h}x{grid.w}, not {soft_weight.shape}")
        if should_stop and should_stop():
            raise Cancelled()
        s = np.clip(np.nan_to_num(soft_weight.astype(np.float32)), 0.0, None)
        if hints.is_empty:
            m = np.zeros_like(s)
            hab = np.zeros_like(soft_ab, dtype=np.float32)
        else:
            r = rasterize(hints, self.full_w, self.full_h, grid.w, grid.h)
            m = r.mask * np.float32(p.hint_strength)
            hab = r.ab
        wsum = m + s
        b = np.stack([m * hab[..., 0] + s * soft_ab[..., 0], m * hab[..., 1] + s * soft_ab[..., 1], wsum])
        if not wsum.any():
            return Chroma(ab=np.zeros((grid.h, grid.w, 2), np.float32), lightness=grid.L)
        if not s.any():
            u = grid.solve(b, m)
        else:
            u = grid.direct_solve(b, grid.dw + grid.screen + wsum)
        conf = u[2]
        scale = np.clip(conf / p.tau, 0.0, 1.0) / np.maximum(conf, 1e-12)
        ab = np.stack([u[0] * scale, u[1] * scale], axis=-1).astype(np.float32)
        return Chroma(ab=ab, lightness=grid.L, info={"confidence": conf})


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

    def start(self, lightness: np.ndarray, photo=None) -> PropagationSession:
        return PropagationSession(lightness, self.params)
