"""The propagation grid's sparse solver: the matrix it assembles, and SciPy's SuperLU reached
without importing the scipy.sparse packages (0.2 s of a fresh process's first preview)."""
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from colorstudio.engines import _propagation as P
from colorstudio.engines.propagation import PropagationEngine


def _reference_matrix(wx, wy, diag):
    """The grid matrix built the plain way: -w on both sides of each edge, diag on the diagonal."""
    h, w = diag.shape
    idx = np.arange(h * w).reshape(h, w)
    rows = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    cols = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    vals = np.concatenate([wx.ravel(), wy.ravel()]).astype(np.float64)
    upper = sp.coo_matrix((-vals, (rows, cols)), shape=(h * w, h * w))
    return (upper + upper.T + sp.diags(diag.ravel().astype(np.float64))).tocsc()


@pytest.mark.parametrize("shape", [(7, 9), (1, 5), (6, 1), (2, 2)])
def test_the_stencil_assembles_the_grid_matrix_in_canonical_csc(shape):
    rng = np.random.default_rng(1)
    h, w = shape
    wx = rng.uniform(0.1, 1, (h, w - 1)).astype(np.float32)
    wy = rng.uniform(0.1, 1, (h - 1, w)).astype(np.float32)
    diag = rng.uniform(2, 5, (h, w)).astype(np.float32)
    st = P._Stencil(h, w)
    A = sp.csc_matrix((st.data(wx, wy, diag, np.float64), st.indices, st.indptr), shape=(h * w, h * w))
    assert A.has_canonical_format                      # sorted row indices, no duplicates: SuperLU's input
    np.testing.assert_array_equal(A.toarray(), _reference_matrix(wx, wy, diag).toarray())


def _grid():
    rng = np.random.default_rng(4)
    L = np.full((48, 64), 40.0, np.float32)
    L[:, 32:] = 75.0
    L += rng.normal(0, 0.5, L.shape).astype(np.float32)
    return PropagationEngine().start(L).grid(64)


def test_superlu_is_reached_directly_and_answers_as_splu_does():
    """With the installed SciPy the private extension is the path taken (so a SciPy that moves
    it fails here, not silently slower), and its factors solve exactly as the public splu's."""
    assert P._superlu() is not None, "SciPy's SuperLU extension was not found where it is expected"
    grid = _grid()
    diag = grid.dw + grid.screen
    diag[10, 10] += 50.0
    b = np.zeros((grid.h * grid.w, 3), np.float32)
    b[[10 * grid.w + 10, 100, 2000], [0, 1, 2]] = 1.0
    ours = grid._factor(diag).solve(b)
    st = grid._stencil()
    data = st.data(grid.wx, grid.wy, diag)
    A = sp.csc_matrix((data, st.indices, st.indptr), shape=(st.n, st.n))
    theirs = spla.splu(A, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, relax=4, panel_size=4,
                       options={"SymmetricMode": True}).solve(b)
    np.testing.assert_array_equal(ours, theirs)
    # In the nested dissection order: splu's factors of P A P^T, and the answer of A itself.
    nested = grid._factor(diag, nested=True).solve(b)
    order, position, indptr, indices, source = st.permuted()
    Ap = sp.csc_matrix((data[source], indices, indptr), shape=(st.n, st.n))
    theirs = spla.splu(Ap, permc_spec="NATURAL", diag_pivot_thresh=0.0, relax=4, panel_size=4,
                       options={"SymmetricMode": True}).solve(b[order])[position]
    np.testing.assert_array_equal(nested, theirs)
    exact = spla.spsolve(A.astype(np.float64), b.astype(np.float64))
    for x in (ours, nested):
        np.testing.assert_allclose(x, exact, rtol=1e-4, atol=1e-6)


def test_the_nested_dissection_order_permutes_the_grid_matrix_exactly():
    """Every shape, degenerate ones too: the order is a permutation, and the permuted
    structure with values data[source] is P A P^T entry for entry, in canonical CSC form."""
    rng = np.random.default_rng(8)
    for h, w in ((1, 1), (1, 9), (9, 1), (2, 2), (5, 7), (13, 11), (40, 3), (17, 64)):
        st = P._Stencil(h, w)
        order, position, indptr, indices, source = st.permuted()
        assert sorted(order.tolist()) == list(range(h * w)) and np.array_equal(position[order], np.arange(h * w))
        wx = rng.uniform(0.1, 1, (h, w - 1)).astype(np.float32)
        wy = rng.uniform(0.1, 1, (h - 1, w)).astype(np.float32)
        data = st.data(wx, wy, rng.uniform(2, 5, (h, w)).astype(np.float32))
        A = sp.csc_matrix((data, st.indices, st.indptr), shape=(st.n, st.n)).toarray()
        B = sp.csc_matrix((data[source], indices, indptr), shape=(st.n, st.n))
        assert B.has_canonical_format
        np.testing.assert_array_equal(B.toarray(), A[np.ix_(order, order)])
    # A block's cut comes after both its halves: the middle column of a wide grid is last.
    order = P.nested_dissection(4, 9)
    assert set(order[-4:].tolist()) == {4, 13, 22, 31}


@pytest.mark.parametrize("nested", [False, True])
def test_unit_columns_equal_solving_for_unit_right_hand_sides(nested):
    grid = _grid()
    lu = grid._factor(grid.dw + grid.screen, nested=nested)
    pixels = [5, 700, 1500, 3071]
    e = np.zeros((grid.h * grid.w, len(pixels)), np.float32, order="F")
    e[pixels, np.arange(len(pixels))] = 1.0
    cols = lu.solve_units(pixels)
    assert cols.flags.f_contiguous
    np.testing.assert_array_equal(cols, lu.solve(e))


def test_a_render_without_warm_up_factorises_in_nested_dissection_order_and_the_app_does_not():
    """The batch's and the command line's one solve uses the order that factorises faster;
    a warmed grid (the app, answering many clicks from one factorisation) keeps SuperLU's."""
    grid = _grid()
    hints = np.zeros((grid.h, grid.w), np.float32)
    hints[10, 10] = 50.0
    b = np.zeros((3, grid.h, grid.w), np.float32)
    b[:, 10, 10] = [50.0, -20.0, 1.0]
    grid.solve(b, hints)
    assert grid._lu0.order is not None
    warm = _grid()
    warm.factorise()
    warm.solve(b, hints)
    assert warm._lu0.order is None


def test_without_the_direct_path_the_public_splu_gives_the_same_answer(monkeypatch):
    grid = _grid()
    diag = grid.dw + grid.screen
    b = np.zeros((grid.h * grid.w, 1), np.float32)
    b[321] = 1.0
    direct = grid._factor(diag).solve(b)
    nested = grid._factor(diag, nested=True).solve(b)
    monkeypatch.setattr(P, "_superlu_module", False)        # as where SciPy's layout differs
    np.testing.assert_array_equal(grid._factor(diag).solve(b), direct)
    np.testing.assert_array_equal(grid._factor(diag, nested=True).solve(b), nested)


def test_a_fresh_process_previews_without_importing_scipy_sparse(tmp_path):
    """The first preview's path: open, warm up, one click. scipy.sparse and its imports stay out."""
    from PIL import Image
    g = np.tile(np.linspace(10, 240, 200, dtype=np.float32), (150, 1)).astype(np.uint8)
    Image.fromarray(g).save(tmp_path / "p.png")
    code = (
        "import sys, colorstudio as cs\n"
        "from colorstudio.core.session import ColorizeSession\n"
        f"s = ColorizeSession(cs.open_image({str(tmp_path / 'p.png')!r}))\n"
        "s.warm_up(1024)\n"
        "pic = s.preview(cs.Hints.of(points=[(50, 60, '#c86432', 4)]), max_side=1024)\n"
        "assert pic.std(axis=-1).max() > 0\n"
        "print(sorted(m for m in sys.modules if m.startswith('scipy')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['scipy.sparse.linalg._dsolve._superlu']"
