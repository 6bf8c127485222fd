"""The exact Levin-Lischinski-Weiss (2004) colorization solve, as a quality reference.

A direct sparse solve of the published formulation: for every pixel r without a hint,
U(r) - sum_s w_rs U(s) = 0 over its 3x3 window, with w_rs proportional to
exp(-(Y_r - Y_s)^2 / (2 sigma_r^2)) and sigma_r^2 the local variance of Y (as in the
authors' code: 0.6 x the window's variance, floored at 2e-6, Y in [0, 1]); hint pixels are
fixed to their colour. Used only by the benchmarks, at sizes where a direct solve is feasible.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla


def levin_colorize(Y: np.ndarray, hint_ab: np.ndarray, hint_mask: np.ndarray) -> np.ndarray:
    """Y (h, w) in [0, 1]; hint_ab (h, w, 2); hint_mask (h, w) bool -> ab (h, w, 2)."""
    h, w = Y.shape
    n = h * w
    idx = np.arange(n).reshape(h, w)
    Yp = np.pad(Y.astype(np.float64), 1, mode="constant", constant_values=np.nan)
    Ip = np.pad(idx, 1, mode="constant", constant_values=-1)
    neigh_vals, neigh_idx = [], []
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            neigh_vals.append(Yp[1 + dy:1 + dy + h, 1 + dx:1 + dx + w])
            neigh_idx.append(Ip[1 + dy:1 + dy + h, 1 + dx:1 + dx + w])
    V = np.stack(neigh_vals, -1)  # includes the centre
    I = np.stack(neigh_idx, -1)
    valid = ~np.isnan(V)
    cnt = valid.sum(-1)
    mean = np.nansum(V, -1) / cnt
    var = np.nansum(np.where(valid, (V - mean[..., None]) ** 2, 0), -1) / cnt
    csig = np.maximum(var * 0.6, 2e-6)
    centre = Y.astype(np.float64)[..., None]
    others = valid.copy()
    others[..., 4] = False
    # mgv: Levin's code also floors the sigma using the min squared difference
    d2 = np.where(others, (V - centre) ** 2, np.inf)
    mgv = d2.min(-1)
    csig = np.maximum(csig, -mgv / np.log(0.01))
    csig = np.maximum(csig, 2e-6)
    g = np.where(others, np.exp(-np.where(others, (V - centre) ** 2, 0) / csig[..., None]), 0.0)
    g = g / g.sum(-1, keepdims=True)
    rows = np.repeat(idx.ravel(), 9).reshape(h, w, 9)
    m = hint_mask.ravel()
    keep = others & ~hint_mask[..., None]
    r = rows[keep]
    c = I[keep]
    v = -g[keep]
    A = sp.coo_matrix((np.concatenate([v, np.ones(n)]), (np.concatenate([r, np.arange(n)]),
                                                         np.concatenate([c, np.arange(n)]))), shape=(n, n)).tocsc()
    out = np.zeros((h, w, 2))
    lu = spla.splu(A, permc_spec="COLAMD")
    for ch in range(2):
        b = np.where(m, hint_ab[..., ch].ravel(), 0.0)
        out[..., ch] = lu.solve(b).reshape(h, w)
    return out.astype(np.float32)
