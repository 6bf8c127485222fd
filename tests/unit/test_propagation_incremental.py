"""The incremental (low-rank update) solve must equal a fresh direct solve, edit after edit."""
import numpy as np
import pytest

from colorstudio.core.hints import Hints, PointHint, Stroke, rasterize
from colorstudio.engines.propagation import PropagationEngine


def _photo(h=90, w=120, seed=3):
    rng = np.random.default_rng(seed)
    L = np.full((h, w), 40.0, np.float32)
    L[:, w // 2:] = 75.0                       # a strong vertical edge
    L += rng.normal(0, 0.5, L.shape).astype(np.float32)
    return L


def _system(grid, hints, w, h, strength=50.0):
    r = rasterize(hints, w, h, grid.w, grid.h)
    m = r.mask * np.float32(strength)
    return np.stack([m * r.ab[..., 0], m * r.ab[..., 1], m]), m


def _solve_and_check(grid, hints, L):
    """The grid's answer for ``hints``, checked against a fresh direct solve of the same system
    (both factorise in single precision: they agree to its rounding)."""
    b, m = _system(grid, hints, L.shape[1], L.shape[0])
    fast = grid.solve(b, m)
    exact = grid.direct_solve(b, grid.dw + grid.screen + m)
    assert np.abs(fast - exact).max() <= 2e-5 * np.abs(exact).max(), np.abs(fast - exact).max()


@pytest.mark.parametrize("correction_rank", [96, 0])
def test_incremental_solve_matches_direct_solve_through_a_sequence_of_edits(correction_rank):
    """Both ways of applying the update: one product over the cached columns, and (many
    columns stored) one more solve."""
    L = _photo()
    session = PropagationEngine().start(L)
    grid = session.grid(64)
    grid.direct_correction_rank = correction_rank
    hints = Hints()
    edits = [
        lambda hs: hs.with_point(PointHint(10, 10, "#c83232", 3)),
        lambda hs: hs.with_point(PointHint(100, 60, "#3264c8", 4)),
        lambda hs: hs.replace_point(0, hs.points[0].moved(30, 50)),
        lambda hs: hs.with_stroke(Stroke(((5.0, 80.0), (50.0, 85.0)), 6.0, "#32a050")),
        lambda hs: hs.without_point(1),
    ]
    for edit in edits:
        hints = edit(hints)
        _solve_and_check(grid, hints, L)
    assert grid._columns, "the incremental path was not used"


def test_after_the_warm_up_points_are_sums_of_their_columns_with_the_direct_answer():
    """From the warm-up's factorisation of the hint-free matrix, each answer is a weighted sum
    of the hint pixels' columns (no B^-1 b carried over, single-precision products): through
    added, moved and removed points it equals a fresh direct solve, until a long stroke makes
    the grid factorise for its hints and the usual update takes over."""
    L = _photo()
    session = PropagationEngine().start(L)
    grid = session.grid(64)
    grid.factorise()
    hints = Hints()
    edits = [
        lambda hs: hs.with_point(PointHint(10, 10, "#c83232", 3)),
        lambda hs: hs.with_point(PointHint(100, 60, "#3264c8", 4)),
        lambda hs: hs.with_point(PointHint(60, 30, "#e0e0e0", 2)),
        lambda hs: hs.replace_point(0, hs.points[0].moved(30, 50)),
        lambda hs: hs.without_point(1),
        lambda hs: hs.with_stroke(Stroke(((5.0, 80.0), (110.0, 85.0)), 8.0, "#32a050")),
        lambda hs: hs.with_point(PointHint(90, 20, "#3264c8", 3)),
    ]
    paths = []
    for edit in edits:
        hints = edit(hints)
        _solve_and_check(grid, hints, L)
        paths.append("sum of columns" if grid._base_empty and grid._last_y is None else "update")
    assert paths[:5] == ["sum of columns"] * 5
    assert paths[5:] == ["update", "update"]           # the stroke's many pixels: factorised with it


def test_large_hint_areas_fall_back_to_a_direct_solve_with_the_same_answer():
    L = _photo()
    session = PropagationEngine().start(L)
    grid = session.grid(64)
    grid.cache_limit = grid.h * grid.w * 4        # room for four columns only
    hints = Hints().with_stroke(Stroke(((5.0, 10.0), (110.0, 80.0)), 12.0, "#aa7733"))
    b, m = _system(grid, hints, L.shape[1], L.shape[0])
    assert np.count_nonzero(m) > 4
    fast = grid.solve(b, m)
    exact = grid.direct_solve(b, grid.dw + grid.screen + m)
    assert np.abs(fast - exact).max() <= 2e-5 * np.abs(exact).max()
    assert not grid._columns


def test_single_precision_factors_give_the_double_precision_chroma():
    """The grid factorises in float32 for speed; the colour it gives must not differ visibly
    from a float64 solve of the same system (well under 0.05 a*b* units)."""
    import scipy.sparse.linalg as spla

    L = _photo()
    session = PropagationEngine().start(L)
    grid = session.grid(64)
    hints = (Hints().with_point(PointHint(10, 10, "#c83232", 3)).with_point(PointHint(100, 60, "#3264c8", 4))
             .with_stroke(Stroke(((5.0, 80.0), (50.0, 85.0)), 6.0, "#32a050")))
    b, m = _system(grid, hints, L.shape[1], L.shape[0])
    grid.factorise()
    fast = grid.solve(b, m)
    A = grid._matrix(grid.dw + grid.screen + m)
    n = grid.h * grid.w
    exact = spla.spsolve(A.tocsc(), b.reshape(3, n).T.astype(np.float64)).T.reshape(b.shape)

    def ab(u):
        conf = u[2]
        scale = np.clip(conf / session.params.tau, 0, 1) / np.maximum(conf, 1e-12)
        return u[:2] * scale

    assert np.abs(ab(fast) - ab(exact)).max() < 0.05



def test_warm_up_readies_the_render_grid_first_and_answers_a_waiting_click_before_the_draft_grid():
    """Opening a photo factorises the grid a click's settled preview needs before the drag
    grid; between the two it reports progress, where the app's compute thread answers a
    click that arrived meanwhile (the scheduler's yield point)."""
    from colorstudio.core.image import SourceImage
    from colorstudio.core.session import ColorizeSession

    L = _photo(200, 300)
    rgb = SourceImage.from_array(np.repeat(np.clip(L * 2.55, 0, 255).astype(np.uint8)[..., None], 3, -1))
    session = ColorizeSession(rgb)
    state = session._engine_session()
    render, draft = state.params.render_side, state.params.preview_side
    seen = []

    def progress(done, total):
        ready = {k[0] for k, g in state._grids.items() if g._lu0 is not None}
        seen.append((done, total, ready))
        if done == 1:
            # The click waiting since the photo opened: its settled preview, here and now.
            pic = session.preview(Hints().with_point(PointHint(50, 50, "#c83232", 3)), max_side=1024)
            assert np.asarray(pic).std(axis=-1).max() > 0       # coloured
            assert {k[0] for k, g in state._grids.items() if g._lu0 is not None} == {render}

    session.warm_up(1024, progress=progress)
    assert [(d, t) for d, t, _ in seen] == [(1, 2), (2, 2)]
    assert seen[0][2] == {render} and seen[1][2] == {render, draft}
