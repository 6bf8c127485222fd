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

import functools
import importlib.machinery
import importlib.util
import os
import sys

import numpy as np

from ..core.hints import Hints, rasterize, rasterize_protect
from ..core.resample import downsample_area, downsample_lightness_bands, fit_size
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
    protect_strength: float = 1000.0  # how hard a protect stroke holds its pixels at neutral


#: The user's "edge strength" (0 to 1) as the L* step that counts as an edge: 0 lets colour
#: flow over all but the strongest edges (sigma 16), 1 stops it at the faintest (sigma 0.25);
#: each step of 1/6 halves sigma.
EDGE_SIGMA_MAX = 16.0
EDGE_SIGMA_RANGE = 64.0


def sigma_for_edge_strength(strength: float) -> float:
    s = min(max(float(strength), 0.0), 1.0)
    return EDGE_SIGMA_MAX * EDGE_SIGMA_RANGE ** (-s)


def edge_strength_for_sigma(sigma: float) -> float:
    import math
    return math.log(EDGE_SIGMA_MAX / float(sigma)) / math.log(EDGE_SIGMA_RANGE)


class _ColumnStore:
    """Cached columns of ``B^-1`` (one per pixel), kept as the solves return them (float32
    blocks of columns, never copied), at most ``limit_values`` values in all.

    Products with them are taken in double precision: the correction ``y - Z w`` subtracts
    two large, nearly equal terms at the hints (the hint strength is far above the edge
    weights), and a float32 product loses the answer's last digits there."""

    def __init__(self, n: int, limit_values: int):
        self.n = n
        self.capacity = max(0, int(limit_values) // max(n, 1))
        self._blocks: list[np.ndarray] = []
        self._where: dict[int, tuple[int, int]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, pixel: int) -> bool:
        return pixel in self._where

    def room_for(self, count: int) -> bool:
        return len(self._where) + count <= self.capacity

    def add(self, pixels: list, cols: np.ndarray) -> None:
        """Store ``cols`` (n, k), the columns of ``pixels``."""
        self._blocks.append(cols)
        b = len(self._blocks) - 1
        for j, i in enumerate(pixels):
            self._where[i] = (b, j)

    def _column(self, pixel: int) -> np.ndarray:
        b, j = self._where[pixel]
        return self._blocks[b][:, j]

    def columns(self, pixels) -> np.ndarray:
        """(n, k) float64, Fortran order: the stored columns of ``pixels``."""
        out = np.empty((self.n, len(pixels)), np.float64, order="F")
        for k, i in enumerate(pixels):
            out[:, k] = self._column(i)
        return out

    def rows(self, pixels, of_pixels) -> np.ndarray:
        """(len(pixels), len(of_pixels)) float64: the entries of the columns of ``of_pixels`` at ``pixels``."""
        idx = np.asarray(pixels, np.intp)
        out = np.empty((len(idx), len(of_pixels)), np.float64)
        for k, i in enumerate(of_pixels):
            out[:, k] = self._column(i)[idx]
        return out

    def combine(self, pixels, weights: np.ndarray) -> np.ndarray:
        """(c, n) float64: the columns of ``pixels`` weighted by ``weights`` (c, len(pixels)),
        on one BLAS thread: waking BLAS's threads for a product this thin costs more than the
        arithmetic (milliseconds on a busy machine, against 0.1-0.4 ms for the product)."""
        Z = self.columns(pixels)
        with _one_blas_thread():
            return (Z @ weights.T).T

    def combine_single(self, pixels, weights: np.ndarray) -> np.ndarray:
        """(c, n) float32: as :meth:`combine`, in single precision and block by block, without
        copying a column: for sums whose terms do not cancel (see ``_Grid.solve``)."""
        by_block: dict[int, list] = {}
        for k, i in enumerate(pixels):
            b, j = self._where[i]
            by_block.setdefault(b, []).append((j, k))
        w = np.asarray(weights, np.float32)
        out = np.zeros((self.n, w.shape[0]), np.float32)
        with _one_blas_thread():
            for b, pairs in by_block.items():
                block = self._blocks[b]
                js = [j for j, _ in pairs]
                ks = [k for _, k in pairs]
                if js == list(range(block.shape[1])):
                    out += block @ w[:, ks].T
                else:
                    out += block[:, js] @ w[:, ks].T
        return out.T


_BLAS = None


def _one_blas_thread():
    """A context holding numpy's BLAS to one thread (threadpoolctl; the libraries are looked up
    once, which takes 2-12 ms, so the warm-up does it)."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController
        _BLAS = ThreadpoolController().select(user_api="blas")
    return _BLAS.limit(limits=1)


_SUPERLU = "scipy.sparse.linalg._dsolve._superlu"
_SUPERLU_OPTIONS = dict(DiagPivotThresh=0.0, ColPerm="MMD_AT_PLUS_A", SymmetricMode=True,
                        # A panel of 4 columns (SuperLU's default is 10) factorises a 256 x 256
                        # grid in 0.11 s instead of 0.16 s, with the same factors.
                        PanelSize=4, Relax=4)
_superlu_module = None


def _superlu():
    """SciPy's SuperLU extension module, loaded from its file without importing the
    ``scipy.sparse`` packages around it (0.2 s of imports, most of a fresh process's first
    preview: scipy.sparse's array-API layer imports numpy.f2py, numpy.testing, numpy.ma...),
    or None where that cannot be done, and then ``scipy.sparse.linalg.splu`` is used.

    The module is scipy's own, registered under its own name, so a later ``import
    scipy.sparse.linalg`` finds it instead of loading it twice. A test checks that this path
    is the one taken with the installed SciPy and gives ``splu``'s answer bit for bit.
    """
    global _superlu_module
    if _superlu_module is None:
        _superlu_module = sys.modules.get(_SUPERLU) or _load_superlu() or False
    return _superlu_module or None


def _load_superlu():
    try:
        spec = importlib.util.find_spec("scipy")       # finds the package without importing it
        folder = os.path.join(os.path.dirname(spec.origin), "sparse", "linalg", "_dsolve")
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_superlu" + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader(_SUPERLU, path)
                module = importlib.util.module_from_spec(importlib.util.spec_from_file_location(
                    _SUPERLU, path, loader=loader))
                loader.exec_module(module)
                if not callable(getattr(module, "gstrf", None)):
                    return None
                sys.modules[_SUPERLU] = module
                return module
    except Exception:  # noqa: BLE001 - any surprise: the public splu does the work
        return None
    return None


def _csc_array(*args, **kwargs):
    """What SuperLU builds its L and U factors with, if they are ever asked for."""
    from scipy.sparse import csc_array
    return csc_array(*args, **kwargs)


def _factorise_csc(n: int, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray, *, ordered: bool = False):
    """SuperLU factors of the n x n matrix in canonical CSC form (float32 data, sorted int32
    row indices, no duplicates), with the options above; ``ordered``: the matrix comes
    permuted to its elimination order already (SuperLU keeps it: NATURAL)."""
    options = dict(_SUPERLU_OPTIONS, **({"ColPerm": "NATURAL"} if ordered else {}))
    module = _superlu()
    if module is not None:
        try:
            return module.gstrf(n, len(data), data, indices, indptr, csc_construct_func=_csc_array,
                                ilu=False, options=options)
        except TypeError:       # a SciPy whose private signature changed: the public way below
            pass
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla
    A = sp.csc_matrix((data, indices, indptr), shape=(n, n))
    o = options
    return spla.splu(A, permc_spec=o["ColPerm"], diag_pivot_thresh=o["DiagPivotThresh"], relax=o["Relax"],
                     panel_size=o["PanelSize"], options={"SymmetricMode": True})


def nested_dissection(h: int, w: int, leaf: int = 4) -> np.ndarray:
    """An elimination order for the pixels of an h x w grid (``order[k]`` is the pixel
    eliminated k-th): each block is cut in two by its middle row or column (across its
    longer side), both halves ordered first, the cut last, down to blocks of ``leaf`` x
    ``leaf`` taken row by row (George's nested dissection).

    On the render grids it factorises 20-40 % faster than SuperLU's own minimum-degree
    order (0.06-0.07 s against 0.10 s for 256 x 192, measured alternately), with a third
    more fill, which makes each later solve for a few right-hand sides 20-40 % slower. So
    it is for factorisations that one solve follows (a render without a warm-up: the batch,
    the command line; the exemplar's soft solve), and the app's warmed grids, which answer
    many clicks from one factorisation, keep the minimum-degree order."""
    ids = np.arange(h * w, dtype=np.intc).reshape(h, w)
    parts: list = []
    stack = [(0, h, 0, w, False)]          # (rows, columns, the cut of this block is pending)
    while stack:
        y0, y1, x0, x1, cut = stack.pop()
        if cut or (y1 - y0 <= leaf and x1 - x0 <= leaf):
            parts.append(ids[y0:y1, x0:x1].ravel())
            continue
        if y1 <= y0 or x1 <= x0:
            continue
        # Popped last-in first-out: the first half, then the second, then the cut.
        if x1 - x0 >= y1 - y0:
            m = (x0 + x1) // 2
            stack += [(y0, y1, m, m + 1, True), (y0, y1, m + 1, x1, False), (y0, y1, x0, m, False)]
        else:
            m = (y0 + y1) // 2
            stack += [(m, m + 1, x0, x1, True), (m + 1, y1, x0, x1, False), (y0, m, x0, x1, False)]
    return np.concatenate(parts)


class _Ordered:
    """Factors that solve ``A x = b`` in the grid's own pixel order (what ``_Grid`` and its
    column store see): of ``P A P^T`` for a nested dissection order, or of A itself
    (``order`` None, SuperLU's own order inside)."""

    def __init__(self, lu, order: Optional[np.ndarray] = None, position: Optional[np.ndarray] = None):
        self.lu, self.order, self.position = lu, order, position

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x (n,) or (n, k), Fortran order for k columns, as SuperLU returns it."""
        if self.order is None:
            return self.lu.solve(b)
        return self._in_pixel_order(self.lu.solve(np.asfortranarray(np.take(b, self.order, axis=0))))

    def solve_units(self, pixels: list) -> np.ndarray:
        """The columns of ``A^-1`` at ``pixels`` (n, k), Fortran order: the unit right-hand
        sides are set up in the permuted order directly."""
        n = self.lu.shape[0]
        e = np.zeros((n, len(pixels)), np.float32, order="F")
        at = np.asarray(pixels, np.intp)
        e[at if self.order is None else self.position[at], np.arange(len(pixels))] = 1.0
        y = self.lu.solve(e)
        return y if self.order is None else self._in_pixel_order(y)

    def _in_pixel_order(self, y: np.ndarray) -> np.ndarray:
        """Rows of a permuted solution back in pixel order (Fortran order kept for columns)."""
        if y.ndim == 1:
            return np.take(y, self.position)
        out = np.empty(y.shape, y.dtype, order="F")
        np.take(y, self.position, axis=0, out=out)
        return out


class _Stencil:
    """The sparsity of a grid's matrix (each pixel joined to its 4 neighbours), in CSC form,
    built once per grid; ``data`` fills in edge weights and a diagonal. Column j holds, in
    row order, the pixel above, left, itself, right and below (those that exist)."""

    def __init__(self, h: int, w: int):
        n = h * w
        self.shape = (h, w)
        y, x = np.divmod(np.arange(n), w)
        up, left, right, down = y > 0, x > 0, x < w - 1, y < h - 1
        counts = 1 + up.astype(np.intc) + left + right + down
        self.indptr = np.zeros(n + 1, np.intc)
        np.cumsum(counts, out=self.indptr[1:])
        start = self.indptr[:-1]
        diag = start + up + left
        j = np.arange(n, dtype=np.intc)
        self.n, self.nnz = n, int(self.indptr[-1])
        self.indices = np.empty(self.nnz, np.intc)
        # Positions in data of each kind of entry, for the pixels that have it, in pixel order.
        self.pos_up, self.pos_left, self.pos_diag = start[up], diag[left] - 1, diag
        self.pos_right, self.pos_down = diag[right] + 1, diag[down] + 1 + right[down]
        self.indices[self.pos_up] = j[up] - w
        self.indices[self.pos_left] = j[left] - 1
        self.indices[self.pos_diag] = j
        self.indices[self.pos_right] = j[right] + 1
        self.indices[self.pos_down] = j[down] + w
        self._permuted = None

    def permuted(self) -> tuple:
        """(order, position, indptr, indices, source) of ``P A P^T`` for the grid's nested
        dissection order: column k is pixel ``order[k]``, pixel i is at ``position[i]``, and
        the permuted matrix's values are ``data[source]``. Built once per stencil, and
        stencils are kept per grid shape (``stencil``): a folder of scans has few shapes.

        Each column of the permuted matrix holds the new positions of its pixel and of its
        (up to 4) neighbours, sorted: five candidates per column, sorted in one call, the
        missing neighbours dropped. (Two threads meeting a new shape may both build it: the
        same arrays, so either may stay.)"""
        if self._permuted is None:
            (h, w), n = self.shape, self.n
            order = nested_dissection(h, w)
            position = np.empty(n, np.intc)
            position[order] = np.arange(n, dtype=np.intc)
            y, x = np.divmod(np.arange(n), w)
            rows = np.full((n, 5), n, np.intc)              # n: no such neighbour (sorts last)
            source = np.zeros((n, 5), np.intp)
            for k, (there, pos, step) in enumerate(((y > 0, self.pos_up, -w), (x > 0, self.pos_left, -1),
                                                    (np.ones(n, bool), self.pos_diag, 0),
                                                    (x < w - 1, self.pos_right, 1), (y < h - 1, self.pos_down, w))):
                idx = np.flatnonzero(there)
                rows[idx, k] = position[idx + step]
                source[idx, k] = pos
            rows, source = rows[order], source[order]
            by = np.argsort(rows, axis=1, kind="stable")
            rows = np.take_along_axis(rows, by, axis=1)
            source = np.take_along_axis(source, by, axis=1)
            keep = rows < n
            indptr = np.zeros(n + 1, np.intc)
            np.cumsum(keep.sum(axis=1), out=indptr[1:])
            self._permuted = (order, position, indptr, np.ascontiguousarray(rows[keep]),
                              np.ascontiguousarray(source[keep]))
        return self._permuted

    def factorise(self, data: np.ndarray, nested: bool = False) -> _Ordered:
        """SuperLU factors (float32) of the matrix with values ``data`` (this stencil's
        layout): in SuperLU's minimum-degree order, or ``nested`` in the nested dissection
        order (see ``nested_dissection`` for which)."""
        if not nested:
            return _Ordered(_factorise_csc(self.n, data, self.indices, self.indptr))
        order, position, indptr, indices, source = self.permuted()
        return _Ordered(_factorise_csc(self.n, np.take(data, source), indices, indptr, ordered=True), order, position)

    def data(self, wx: np.ndarray, wy: np.ndarray, diag: np.ndarray, dtype=np.float32) -> np.ndarray:
        """Values for edge weights wx (h, w-1), wy (h-1, w) and the diagonal (h, w)."""
        out = np.empty(self.nnz, dtype)
        out[self.pos_up] = -wy.ravel()       # pixel (y, x) and the one above: edge wy[y-1, x]
        out[self.pos_left] = -wx.ravel()     # and the one on the left: wx[y, x-1]
        out[self.pos_diag] = np.ravel(diag)
        out[self.pos_right] = -wx.ravel()
        out[self.pos_down] = -wy.ravel()
        return out


@functools.lru_cache(maxsize=6)
def stencil(h: int, w: int) -> _Stencil:
    """The stencil of an h x w grid, shared by every grid of that shape (it depends on
    nothing else): a batch's photos of one size build it, and its elimination order, once."""
    return _Stencil(h, w)


class _Grid:
    """A working grid: lightness, edge weights, and the hint-independent part of the matrix."""

    def __init__(self, L: np.ndarray, p: PropagationParams):
        self.L = L
        self.h, self.w = L.shape
        self.weight_floor = np.float32(p.weight_floor)
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
        self._lu0 = None       # the factorisation of A0 + diag(self._base)
        self._base: Optional[np.ndarray] = None
        self._base_empty = False     # the base holds no hints (A0 alone, as after the warm-up)
        # Cached columns of B^-1, in float32 values (about 80 MB at most per grid).
        self.cache_limit = 10_000_000
        self._columns = _ColumnStore(self.h * self.w, 2 * self.cache_limit)
        self._last_b: Optional[np.ndarray] = None   # the last right-hand side (c, n)
        self._last_y: Optional[np.ndarray] = None   # B^-1 of it, float64 (c, n)
        self.max_new_columns = 24
        # Up to this many updated pixels the correction is one product over their columns
        # (gathering 2.5 million values into double precision and one product on one BLAS
        # thread, 4-6 ms, against 7-9 ms for one more 3-channel solve on a 256-px grid);
        # beyond it, that solve, whose cost does not grow with their number.
        self.direct_correction_rank = max(24, 2_500_000 // (self.h * self.w))
        self.max_update_rank = 1500

    def _matrix(self, diag: np.ndarray):
        """The matrix (edge weights plus ``diag``) as a SciPy CSC matrix in double precision
        (for tests and benchmarks; the solver factorises from the stencil directly)."""
        import scipy.sparse as sp
        st = self._stencil()
        return sp.csc_matrix((st.data(self.wx, self.wy, diag, np.float64), st.indices, st.indptr),
                             shape=(st.n, st.n))

    def _stencil(self) -> _Stencil:
        return stencil(self.h, self.w)

    def _factor(self, diag: np.ndarray, wx: Optional[np.ndarray] = None, wy: Optional[np.ndarray] = None,
                nested: bool = False):
        """SuperLU factors of the matrix with edge weights wx, wy (the grid's own by default)
        and ``diag``, in single precision: half the memory each solve reads, and the answer's
        chroma differs from double precision's by under 0.01 a*b* units (bench/latency.py)."""
        st = self._stencil()
        return st.factorise(st.data(self.wx if wx is None else wx, self.wy if wy is None else wy, diag), nested)

    def factorise(self) -> None:
        """Factorise the hint-independent matrix now (done before the first hint arrives)."""
        if self._lu0 is None:
            self._refactorise(np.zeros(self.h * self.w, np.float32))
        _one_blas_thread()

    def direct_solve(self, b: np.ndarray, diag: np.ndarray) -> np.ndarray:
        """Solve (offdiag + diag) u = b for the channels of b (c, h, w); factorises anew (in
        the order for one solve)."""
        return self._apply(self._factor(diag, nested=True), b)

    def cut_solve(self, b: np.ndarray, hint_diag: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """Solve with the edges into protected pixels cut: each edge weight is scaled by the
        ``keep`` (1 - protect coverage) of both its ends, so colour cannot cross a protect
        stroke. The matrix depends on the strokes, so it is factorised anew (like a long
        brush stroke)."""
        fl = self.weight_floor
        wx = (self.wx - fl) * keep[:, 1:] * keep[:, :-1] + fl
        wy = (self.wy - fl) * keep[1:, :] * keep[:-1, :] + fl
        dw = np.zeros_like(self.L)
        dw[:, 1:] += wx
        dw[:, :-1] += wx
        dw[1:, :] += wy
        dw[:-1, :] += wy
        return self._apply(self._factor(dw + self.screen + hint_diag, wx, wy), b)

    def solve(self, b: np.ndarray, hint_diag: np.ndarray) -> np.ndarray:
        """Solve (A0 + diag(hint_diag)) u = b, where b is zero off the hint pixels.

        A0 (the edge weights and the screening) does not depend on the hints. The grid keeps
        one factorisation, of ``B = A0 + diag(base)`` for the hints of the last time it had
        to factorise (none at first: the photo's warm-up factorises A0), and the hints of
        each request enter as a low-rank update (Sherman-Morrison-Woodbury) on the pixels
        where they differ from that base. The columns of ``B^-1`` at those pixels are cached,
        and so is ``B^-1 b`` for the last right-hand side: b changes only at the pixels of the
        hint that was added, moved, recoloured or removed, so ``B^-1 b`` is the last one plus
        those pixels' columns. Adding a point costs the solves of its own few pixels. When
        the hints differ from the base at many pixels (a document restored with 20 hints, a
        long brush stroke), the whole matrix is factorised for the current hints, which
        become the new base.
        """
        n = self.h * self.w
        d = hint_diag.ravel().astype(np.float32)
        if not d.any():
            return np.zeros_like(b)
        if self._lu0 is None or self._base is None:
            # No warm-up (a batch, the command line): most often this one solve is all.
            self._refactorise(d, nested=True)
            return self._remember(b, self._apply(self._lu0, b))
        delta = d - self._base
        S = np.flatnonzero(delta)
        need_S = [i for i in S.tolist() if i not in self._columns]
        # The update pays one triangular solve per uncached pixel and a dense s x s solve;
        # factorising costs about as much as a few dozen solves.
        if len(S) * n > self.cache_limit or len(S) > self.max_update_rank or len(need_S) > self.max_new_columns:
            self._refactorise(d)
            return self._remember(b, self._apply(self._lu0, b))
        if not self._columns.room_for(len(need_S) + self.max_new_columns) or \
                self._columns.capacity != 2 * self.cache_limit // n:
            # Full (recoloured hints of the base also leave columns here), or resized: start over.
            self._columns = _ColumnStore(n, 2 * self.cache_limit)
            need_S = S.tolist()
            if not self._columns.room_for(len(need_S) + self.max_new_columns):
                self._refactorise(d)
                return self._remember(b, self._apply(self._lu0, b))
        c = b.shape[0]
        bf = b.reshape(c, n)
        if self._base_empty and len(S):
            support = np.flatnonzero(bf.any(axis=0))
            if np.isin(support, S, assume_unique=True).all():
                return self._solve_from_nothing(bf, S, delta, need_S).reshape(b.shape)
        T = None
        if self._last_b is not None and self._last_b.shape == bf.shape:
            T = np.flatnonzero((bf != self._last_b).any(axis=0))
            asked = set(need_S)
            need_T = [i for i in T.tolist() if i not in self._columns and i not in asked]
            if len(need_S) + len(need_T) > self.max_new_columns:
                T = None
        self._add_columns(need_S + (need_T if T is not None else []))
        if T is None:
            y = self._apply(self._lu0, b).reshape(c, n).astype(np.float64)
        else:
            y = self._last_y.copy()
            if len(T):
                y += self._columns.combine(T.tolist(), (bf[:, T] - self._last_b[:, T]).astype(np.float64))
        self._last_b = bf.copy()
        self._last_y = y
        if len(S) == 0:
            return y.astype(np.float32).reshape(b.shape)
        # (B + P D P^T)^-1 b = y - Z w,  w = (D^-1 + P^T Z)^-1 P^T y,  Z = B^-1 P (n x s)
        S_list = S.tolist()
        w = np.linalg.solve(self._capacitance(S, delta), y[:, S].T)          # s x c
        if len(S) <= self.direct_correction_rank:
            return (y - self._columns.combine(S_list, w.T)).astype(np.float32).reshape(b.shape)
        # Many pixels differ from the base (points added one by one): Z w = B^-1 (P w), one
        # solve for c channels, costs less than reading their s columns of n values.
        pw = np.zeros((c, n), np.float32)
        pw[:, S] = w.T
        return self._apply(self._lu0, (bf - pw).reshape(b.shape))

    def _solve_from_nothing(self, bf: np.ndarray, S: np.ndarray, delta: np.ndarray, need_S: list) -> np.ndarray:
        """The answer when the base holds no hints and b lives on the hint pixels S (points
        added one by one after the warm-up): with b = P D c,

            (B + P D P^T)^-1 P D c = Z (D^-1 + P^T Z)^-1 c,   Z = B^-1 P,

        a sum of the hint pixels' columns with moderate weights. Unlike ``y - Z w`` (two
        large terms that cancel at the hints) it is exact in single precision, needs no
        ``B^-1 b`` carried from request to request, and no solve beyond the new pixels'
        columns: the product reads the stored blocks as they are."""
        self._add_columns(need_S)
        D = delta[S].astype(np.float64)
        v = np.linalg.solve(self._capacitance(S, delta), (bf[:, S].astype(np.float64) / D).T)   # s x c
        return self._columns.combine_single(S.tolist(), v.T)

    def _add_columns(self, pixels: list) -> None:
        """Solve for the columns of ``B^-1`` at ``pixels`` (one solve for all) and keep them."""
        if pixels:
            self._columns.add(pixels, self._lu0.solve_units(pixels))

    def _capacitance(self, S: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """``D^-1 + P^T B^-1 P`` (s x s, double precision) for the pixels S where the hints
        differ from the base by ``delta``: the small system of the low-rank update."""
        C = self._columns.rows(S, S.tolist())
        C[np.diag_indices_from(C)] += 1.0 / delta[S].astype(np.float64)
        return C

    def _remember(self, b: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Keep ``B^-1 b`` for the next request's update (u was solved with the base alone)."""
        c = b.shape[0]
        self._last_b = b.reshape(c, -1).copy()
        self._last_y = u.reshape(c, -1).astype(np.float64)
        return u

    def _refactorise(self, d: np.ndarray, nested: bool = False) -> None:
        """Factorise A0 + diag(d); d becomes the base the next requests are updates of."""
        self._lu0 = self._factor(self.dw + self.screen + d.reshape(self.h, self.w).astype(np.float32),
                                 nested=nested)
        self._base = d.astype(np.float32)
        self._base_empty = not d.any()
        self._columns = _ColumnStore(self.h * self.w, 2 * self.cache_limit)
        self._last_b = self._last_y = None

    def _apply(self, lu, b: np.ndarray) -> np.ndarray:
        n = self.h * self.w
        x = lu.solve(np.asfortranarray(b.reshape(b.shape[0], n).T, dtype=np.float32))
        return x.T.reshape(b.shape).astype(np.float32)


class PropagationSession(EngineSession):
    """Per-photo hierarchy; every hint edit reuses it."""

    def __init__(self, lightness: np.ndarray, params: PropagationParams):
        self.params = params
        self.full_h, self.full_w = lightness.shape
        self._full_lightness = lightness
        self._grids: dict[tuple, _Grid] = {}
        self._lightness: dict[int, np.ndarray] = {}

    def grid(self, side: int, sigma: Optional[float] = None) -> _Grid:
        """The working grid whose long side is ``side`` (never larger than the photo), with
        edge weights for ``sigma`` (default: the engine's); cached per side and sigma."""
        side = max(1, min(side, max(self.full_w, self.full_h)))
        sigma = float(self.params.sigma if sigma is None else sigma)
        key = (side, round(sigma, 6))
        if key not in self._grids:
            if side not in self._lightness:
                w, h = fit_size(self.full_w, self.full_h, side)
                self._lightness[side] = downsample_lightness_bands(self._full_lightness, h, w)
            params = self.params if sigma == self.params.sigma else PropagationParams(
                **{**self.params.__dict__, "sigma": sigma})
            # An edge-strength slider visits many values: keep the grids of the last few.
            while len(self._grids) >= 6:
                self._grids.pop(next(iter(self._grids)))
            self._grids[key] = _Grid(self._lightness[side], params)
        return self._grids[key]

    def derive_lightness(self, side: int, finer: int) -> None:
        """Let the grid of ``side`` take its lightness from the grid of the larger ``finer``
        (area-averaged again) unless its own is known already: a small grid's L from a grid
        of some 60,000 pixels, instead of another pass over the whole photo (about 25 ms at
        6 megapixels), where the finer grid is needed anyway. The average of averages
        differs from the photo's own by the rounding at the finer grid's cell borders; an
        engine that derives a grid's L does so before any use of that grid, so its answers do
        not depend on the order of the requests."""
        side = max(1, min(side, max(self.full_w, self.full_h)))
        finer = max(1, min(finer, max(self.full_w, self.full_h)))
        if side in self._lightness or side >= finer:
            return
        if finer not in self._lightness:
            fw, fh = fit_size(self.full_w, self.full_h, finer)
            self._lightness[finer] = downsample_lightness_bands(self._full_lightness, fh, fw)
        w, h = fit_size(self.full_w, self.full_h, side)
        self._lightness[side] = downsample_area(self._lightness[finer], h, w)

    def sigma(self, options=None) -> float:
        """The edge scale the options ask for (``edge_strength``), else the engine's own."""
        if options and options.get("edge_strength") is not None:
            return sigma_for_edge_strength(options["edge_strength"])
        return self.params.sigma

    def warm_up(self, max_side: Optional[int] = None, should_stop=None, progress=None) -> None:
        """The per-photo work of both grids (weights, factorisation), before the first hint.

        The render grid first: a click's settled preview is its answer. ``progress(done,
        total)`` is called after each grid; on the app's compute thread that is where a
        click that arrived meanwhile is answered, before the drag grid is built.
        """
        sides = (self.params.render_side, self.params.preview_side)
        for done, side in enumerate(sides, 1):
            if should_stop and should_stop():
                raise Cancelled()
            self.grid(min(side, max_side) if max_side else side).factorise()
            if progress is not None:
                progress(done, len(sides))

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references=(), options=None, should_stop=None) -> Chroma:
        p = self.params
        side = p.preview_side if quality == "preview" else p.render_side
        if max_side:
            side = min(side, max_side)
        grid = self.grid(side, self.sigma(options))
        if hints.is_empty:
            # No hints: no colour. Never invent one.
            return Chroma(ab=np.zeros((grid.h, grid.w, 2), np.float32), lightness=grid.L)
        if should_stop and should_stop():
            raise Cancelled()
        u = self._solve(grid, hints, should_stop=should_stop)
        conf = u[2]
        # Colour is the confidence-weighted mean of the hints reaching a pixel, faded to
        # neutral where little confidence arrives.
        scale = np.clip(conf / p.tau, 0.0, 1.0) / np.maximum(conf, 1e-12)
        ab = np.stack([u[0] * scale, u[1] * scale], axis=-1).astype(np.float32)
        return Chroma(ab=ab, lightness=grid.L, info={"confidence": conf})

    def soft_chroma(self, hints: Hints, soft_ab: np.ndarray, soft_weight: np.ndarray, *,
                    side: int, options=None, should_stop=None) -> Chroma:
        """Chroma from dense *soft* colour targets plus the user's hints, on the grid of ``side``.

        ``soft_ab`` (h, w, 2) and ``soft_weight`` (h, w) >= 0 are at that grid's size (see
        :meth:`grid`): each pixel is pulled towards ``soft_ab`` with its weight (a matcher's
        confidence, typically <= 1), while the edge term keeps colour following the photo's
        own edges. The hints enter as in :meth:`chroma`, with ``hint_strength`` (far above any
        soft weight), so they win where they are placed. The energy is the one of the module
        docstring with the data term ``sum_p (lam m_p + s_p) (u_p - c_p)^2``; with no soft
        weight anywhere this is exactly :meth:`chroma`. Protect strokes hold their pixels
        neutral against the soft targets too, and colour does not cross them.
        """
        p = self.params
        grid = self.grid(side, self.sigma(options))
        if soft_ab.shape != (grid.h, grid.w, 2) or soft_weight.shape != (grid.h, grid.w):
            raise ValueError(f"soft targets must be {grid.h}x{grid.w}, not {soft_weight.shape}")
        if should_stop and should_stop():
            raise Cancelled()
        s = np.clip(np.nan_to_num(soft_weight.astype(np.float32)), 0.0, None)
        if hints.is_empty:
            diag, pm = np.zeros_like(s), None
            b = np.zeros((3,) + s.shape, np.float32)
        else:
            diag, b, pm = self._system(grid, hints, should_stop)
        if pm is not None:
            s = s * (1.0 - pm)
        b = b + np.stack([s * soft_ab[..., 0], s * soft_ab[..., 1], s])
        if not b[2].any():
            return Chroma(ab=np.zeros((grid.h, grid.w, 2), np.float32), lightness=grid.L)
        if pm is not None and pm.any():
            u = grid.cut_solve(b, diag + s, 1.0 - pm)
        elif not s.any():
            u = grid.solve(b, diag)
        else:
            u = grid.direct_solve(b, grid.dw + grid.screen + diag + s)
        conf = u[2]
        scale = np.clip(conf / p.tau, 0.0, 1.0) / np.maximum(conf, 1e-12)
        ab = np.stack([u[0] * scale, u[1] * scale], axis=-1).astype(np.float32)
        return Chroma(ab=ab, lightness=grid.L, info={"confidence": conf})

    def _system(self, grid: _Grid, hints: Hints, should_stop=None):
        """The matrix's hint diagonal, the right-hand side (a*, b*, confidence) and the
        protect coverage (None without protect strokes).

        Protected pixels are held at neutral, hard (a large diagonal with a zero right-hand
        side), and add no confidence: they absorb colour without spreading grey around them.
        """
        p = self.params
        r = rasterize(hints, self.full_w, self.full_h, grid.w, grid.h, should_stop=should_stop)
        if should_stop and should_stop():
            raise Cancelled()
        m = r.mask * np.float32(p.hint_strength)
        pm = None
        if hints.has_protect:
            pm = rasterize_protect(hints, self.full_w, self.full_h, grid.w, grid.h)
            m = m * (1.0 - pm)
        b = np.stack([m * r.ab[..., 0], m * r.ab[..., 1], m])
        diag = m if pm is None else m + pm * np.float32(p.protect_strength)
        return diag, b, pm

    def _solve(self, grid: _Grid, hints: Hints, rhs_hints: Optional[Hints] = None, should_stop=None) -> np.ndarray:
        """u = (a*, b*, confidence) before normalising; ``rhs_hints`` (a subset of ``hints``)
        limits the right-hand side to those hints, with the matrix of all of them."""
        diag, b, pm = self._system(grid, hints, should_stop)
        if rhs_hints is not None:
            _, b_one, _ = self._system(grid, rhs_hints)
            if pm is not None:
                b_one = b_one * (1.0 - pm)
            b = b_one
        if pm is not None and pm.any():
            return grid.cut_solve(b, diag, 1.0 - pm)
        return grid.solve(b, diag)

    def reach(self, hints: Hints, selection, *, max_side: Optional[int] = None, options=None) -> np.ndarray:
        """How much of the colour at each working pixel comes from one hint (``("point", i)``
        or ``("stroke", j)``): (h, w) float32 in [0, 1].

        The solve is linear in the hints, so a hint's share is its own confidence (solved
        with the matrix of all hints) over the total, faded the way colour fades to neutral.
        """
        p = self.params
        side = min(p.preview_side, max_side) if max_side else p.preview_side
        grid = self.grid(side, self.sigma(options))
        kind, i = selection
        items = hints.points if kind == "point" else hints.strokes
        if not 0 <= i < len(items):
            return np.zeros((grid.h, grid.w), np.float32)
        one = Hints(points=(items[i],) if kind == "point" else (),
                    strokes=(items[i],) if kind == "stroke" else (), image_size=hints.image_size)
        total = self._solve(grid, hints)[2]
        mine = self._solve(grid, hints, one)[2]
        return np.clip(mine / np.maximum(total, p.tau), 0.0, 1.0).astype(np.float32)


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
