"""Reference colours: colour a grey photo from colour references, then propagate.

The method follows Welsh, Ashikhmin and Mueller (2002) for the matching, Gupta et al.
(2012) for voting within superpixels, and Levin et al. (2004) for the final propagation:

1. **Luminance remapping.** The references' L is mapped onto the photo's L distribution by
   one map fitted to all of them at once (so a reference of the sky stays lighter than one
   of the street): linearly to its mean and spread (Welsh et al.; the default), or by histogram matching
   (``lightness_remap="histogram"``, which follows a different tone curve better but
   distorts a reference that shows only some of the photo's things, e.g. one of several
   references or a rectangle; on the benchmark it is half a point worse), so a brighter or
   flatter reference still matches like with like. The linear map is applied undone, to
   the photo's features (the same matches; the references' samples then serve every photo).
2. **Features.** Per pixel, on a working grid (``match_side``): L, the mean and spread of L
   in windows at three scales, gradient magnitude, a mirror-invariant orientation (the
   structure tensor's cos 2θ weighted by its coherence), a texture response (|LoG|) and the
   first-order local jet at three scales (|dL/dx|, signed dL/dy: which side is lighter).
   The reference is sampled at a few scales (a reference need not show things at the
   photo's size) into a ``scipy.spatial.cKDTree``.
3. **Voting.** One pixel drawn at random in each 2x2 block of the photo (``query_stride``)
   looks up its ``k`` nearest reference samples, which vote with their chroma
   within the photo's superpixels (``skimage.segmentation.slic`` on its L), and so do the
   reference's superpixels matched as wholes; each region also hears its neighbours' votes,
   the more the closer their lightness (a region unsure alone is settled by its
   surroundings, an edge keeps them apart); each region takes the mode of its votes (a
   smoothed 2-D histogram of a*, b*: a mean would desaturate) and a confidence: the share of
   the votes that agree with the mode times how close the matches were.
4. **Propagation.** The regions' colours enter the propagation solver as *soft* targets
   weighted by their confidence (``PropagationSession.soft_chroma``), so colour follows the
   photo's own edges and uncertain regions take their colour from their neighbours. The
   user's hints and strokes are hard (50x stronger), and the reference steps back wherever
   the hints alone reach with confidence (the region a hint belongs to, bounded by the
   photo's edges): the user's colour wins where it is placed.

Caching (per photo session): the photo's features and superpixels, each reference's samples
and KD-tree (by ``ReferencePicture.key``) and the matched targets for a set of references.
Per engine, shared by all photos: each reference's samples and KD-trees for a photo grid
size. Under the linear map they are kept in the reference's own tones, and the map is undone
on the photo instead: its feature planes follow an affine map of L exactly
(``local_planes``), so matching the photo brought to the references is matching the
references brought to the photo, up to the position prior's weight and the orientation's
regulariser. A batch with one reference builds its samples once per photo size, not per photo;
a new hint only re-solves the propagation (about 40 ms at preview size, 0.3 s at render size).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import math

import numpy as np

from ..core.hints import Hints, rasterize
from ..core.resample import downsample_area, fit_size, resize_bilinear
from ._propagation import PropagationParams, PropagationSession
from .base import Cancelled, Chroma, Engine, EngineError, EngineSession


FEATURE_WEIGHTS_DEFAULT = (1.0, 0.6, 1.0, 0.5, 1.2, 0.4, 0.8, 0.6, 0.5, 0.5) + (1.0,) * 6


@dataclass(frozen=True)
class ExemplarParams:
    lightness_remap: str = "linear"  # the reference's L onto the photo's: "linear" (Welsh) or "histogram"
    match_side: int = 256        # long side of the grid the matching runs on
    preview_side: int = 128      # long side of the preview's propagation grid
    # Long side of the render's propagation grid; its L is the match grid's, averaged down.
    # 160: the solve (a new factorisation for every photo) is most of what a batch's photo
    # costs after the matching; against 192, 0.045 s of CPU a photo less for 0.018 more mean
    # CIEDE2000 on bench_reference (4.938 against 4.920; 256 gave 0.016 less than 192). A
    # 12-megapixel result differs from 192's by 0.5 CIEDE2000 on average (99th percentile
    # 2.8), nothing visible: composition restores the photo's own edges at full size.
    render_side: int = 160
    scales: tuple = (0.75, 1.1)  # reference sizes, relative to the photo grid's area
    max_samples: int = 30_000    # reference samples per reference (all scales together)
    # k nearest samples per photo pixel: 4 (with 300 regions) measures as well as 5 or 6
    # (bench_reference mean CIEDE2000 4.920 against 4.948 for 5 and 400, both at a render
    # side of 192) and searches less.
    neighbours: int = 4
    region_neighbours: int = 5   # k nearest reference superpixels per photo superpixel
    region_weight: float = 0.5   # the superpixels' votes against the pixels' (1: as much)
    pool: float = 1.0            # a region hears its neighbours' votes this much (its own: 1)
    pool_sigma: float = 8.0      # ... the more the closer their mean L (L* units)
    query_eps: float = 2.0       # approximate search: neighbours within (1 + eps) x the true distance
    query_stride: int = 2        # the photo's pixels that look for matches: every n-th in each direction
    bandwidth: float = 2.0       # vote weight exp(-d^2 / 2 (bandwidth x median distance)^2)
    hedge: float = 1.0           # leans doubtful regions' colour towards the mean of their votes
    confidence_power: float = 2.0  # sharpens the regions' confidence (uncertain ones take their neighbours' colour)
    # Superpixels on the match grid: 300 (larger regions, more votes each) against 400: 5 of
    # the bench's 6 photos as close or closer, one 0.18 further; with 4 neighbours, 10-30 ms
    # less CPU a photo.
    regions: int = 300
    compactness: float = 20.0    # SLIC compactness (L* units)
    bin_size: float = 6.0        # a*, b* histogram bin for the region's vote
    soft_weight: float = 0.3     # weight of a fully confident region's colour in the solve
    hint_strength: float = 50.0  # the user's hints, as in propagation
    hint_reach: float = 0.15     # hint-only confidence at which the reference is fully off
    feature_weights: tuple = tuple(FEATURE_WEIGHTS_DEFAULT)
    inlier_radius: float = 20.0   # a vote within this of its region's colour keeps pixel detail
    position_weight: float = 0.3  # weight of the relative height among the features


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(a, sigma, mode="reflect", truncate=3.0)


def local_features(L: np.ndarray) -> np.ndarray:
    """(h, w, 16) float32 features of local structure of the lightness ``L`` (L* units):
    L, mean and spread of L at sigma 2, mean at sigma 4, gradient magnitude,
    mirror-invariant orientation (coherence x cos 2θ), texture (|LoG| at sigma 1.5),
    spread at sigma 4, mean and spread at sigma 8, then the local jet (see :func:`jet`)."""
    return features_of_planes(local_planes(L))


#: The planes of :func:`local_planes` that move with L (L and its means), and those that
#: scale with L's spread (spreads, gradient, texture, jet); the two of the orientation
#: (jxx - jyy and jxx + jyy) scale with its square.
_SHIFTING = (0, 1, 3, 9)
_SCALING = (2, 4, 7, 8, 10, 11, 12, 13, 14, 15, 16)


def local_planes(L: np.ndarray) -> np.ndarray:
    """(h, w, 17) float32: what :func:`local_features` is made of, before the orientation's
    ratio. Every plane follows an affine map of ``L`` (``L * gain + shift``) exactly in
    arithmetic: the photo's planes are computed once and brought to the references' tones
    (:func:`features_of_planes`) for any linear lightness map, without filtering again."""
    from scipy.ndimage import gaussian_laplace, sobel
    L = np.asarray(L, np.float32)
    feats = [L]
    for s in (2.0, 4.0, 8.0):
        m = _gauss(L, s)
        sd = np.sqrt(np.maximum(_gauss(L * L, s) - m * m, 0.0))
        feats += [m, sd]
    g = _gauss(L, 1.0)
    gx = sobel(g, axis=1) / 8.0
    gy = sobel(g, axis=0) / 8.0
    mag = np.hypot(gx, gy)
    jxx, jyy = _gauss(gx * gx, 2.0), _gauss(gy * gy, 2.0)
    tex = np.abs(gaussian_laplace(L, 1.5))
    L_, m2, sd2, m4, sd4, m8, sd8 = feats
    out = [L_, m2, sd2, m4, mag, jxx - jyy, jxx + jyy, tex, sd4, m8, sd8]
    out += jet(L, JET_SCALES)
    return np.stack(out, axis=-1).astype(np.float32)


def features_of_planes(planes: np.ndarray, gain: float = 1.0, shift: float = 0.0) -> np.ndarray:
    """The (h, w, 16) features of ``L * gain + shift`` from the planes of ``L``."""
    P = planes
    if gain != 1.0 or shift != 0.0:
        g, c = np.float32(gain), np.float32(shift)
        P = P.copy()
        P[..., _SHIFTING] = P[..., _SHIFTING] * g + c
        P[..., _SCALING] *= g
        P[..., 5:7] *= g * g
    # cos 2θ of the dominant orientation times its coherence: unchanged by a mirror image.
    orient = 10.0 * P[..., 5] / (P[..., 6] + 1.0)
    out = np.concatenate([P[..., :5], orient[..., None], P[..., 7:]], axis=-1)
    return out.astype(np.float32, copy=False)


#: Scales (grid pixels) of the first-order local jet among the features.
JET_SCALES = (2.0, 4.0, 8.0)


def jet(L: np.ndarray, scales=JET_SCALES) -> list:
    """The first-order local jet of ``L`` at ``scales`` (Koenderink), scale-normalised
    (sigma x the Gaussian derivative, in L* units): per scale |dL/dx| and dL/dy. The
    horizontal derivative is taken unsigned, so a mirror image has the same features;
    the vertical one keeps its sign (light above dark is not dark above light: a sky over
    ground, a lit top over its shadow)."""
    from scipy.ndimage import gaussian_filter
    out = []
    for s in scales:
        out.append(np.abs(gaussian_filter(L, s, order=(0, 1), mode="reflect", truncate=3.0)) * np.float32(s))
        out.append(gaussian_filter(L, s, order=(1, 0), mode="reflect", truncate=3.0) * np.float32(s))
    return out


#: Feature weights, in the order of ``local_features`` (all in about L* units).
FEATURE_WEIGHTS = np.array(FEATURE_WEIGHTS_DEFAULT, np.float32)


def weighted(features: np.ndarray, weights=None) -> np.ndarray:
    return features * (FEATURE_WEIGHTS if weights is None else np.asarray(weights, np.float32))


def with_position(features: np.ndarray, weight: float) -> np.ndarray:
    """``features`` (h, w, F) with the relative height (0 top .. 100 bottom) times ``weight``:
    a weak prior that skies are above and ground below (a mirror image keeps it)."""
    h, w = features.shape[:2]
    y = np.broadcast_to(((np.arange(h, dtype=np.float32) + 0.5) / h * 100.0 * weight)[:, None, None], (h, w, 1))
    return np.concatenate([features, y], axis=-1)


def remap_lightness(L_ref: np.ndarray, mean: float, std: float) -> np.ndarray:
    """Welsh et al.'s luminance remapping: ``L_ref`` linearly to the photo's mean and spread."""
    m, s = float(L_ref.mean()), float(L_ref.std())
    return ((L_ref - m) * (std / max(s, 1e-3)) + mean).astype(np.float32)


@dataclass
class ReferenceSamples:
    """One reference's samples for a photo: the KD-tree of their features and their chroma."""

    tree: object
    ab: np.ndarray       # (n, 2)
    scale: float         # typical nearest-neighbour distance (for the similarity weights)
    region_tree: object = None   # KD-tree of the reference's superpixels' descriptors
    region_ab: Optional[np.ndarray] = None  # (r, 2) their mean chroma


def region_descriptors(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(k, F + 1) per superpixel: the mean of each (weighted) feature over the region and the
    spread of L within it (a region's texture, which a pixel's window sees only in part)."""
    lab = labels.ravel()
    k = int(lab.max()) + 1
    F = features.reshape(-1, features.shape[-1]).astype(np.float64)
    count = np.maximum(np.bincount(lab, None, k), 1)
    mean = np.stack([np.bincount(lab, F[:, i], k) for i in range(F.shape[1])], axis=1) / count[:, None]
    L = F[:, 0]
    spread = np.sqrt(np.maximum(np.bincount(lab, L * L, k) / count - mean[:, 0] ** 2, 0.0))
    return np.concatenate([mean, spread[:, None]], axis=1).astype(np.float32)


def match_lightness(L_ref: np.ndarray, photo_L: np.ndarray) -> np.ndarray:
    """``L_ref`` mapped monotonically onto the distribution of ``photo_L`` (histogram
    matching): a reference printed lighter, flatter or with another tone curve still
    matches like with like."""
    return lightness_map([L_ref], photo_L, "histogram")(L_ref)


class LightnessMap:
    """One monotone map of a reference's L* onto the photo's, shared by a set of references:
    ``linear``: ``(L - a[0]) * b + a[1]``; ``histogram``: knots ``a`` to ``b``. Callable on an array."""

    def __init__(self, kind: str, a: np.ndarray, b: np.ndarray):
        self.kind, self.a, self.b = kind, a, b

    def __call__(self, L: np.ndarray) -> np.ndarray:
        if self.kind == "linear":
            return ((np.asarray(L, np.float32) - self.a[0]) * self.b + self.a[1]).astype(np.float32)
        return np.interp(L, self.a, self.b).astype(np.float32)

    def inverse_affine(self) -> tuple[float, float]:
        """(gain, shift) of the linear map's inverse, ``L * gain + shift``: the photo's L*
        taken back onto the references' tones."""
        gain = 1.0 / max(float(self.b), 1e-6)
        return gain, float(self.a[0]) - float(self.a[1]) * gain

    @property
    def key(self) -> tuple:
        return (self.kind, np.round(np.atleast_1d(self.a), 4).tobytes(), np.round(np.atleast_1d(self.b), 4).tobytes())


#: The map that changes nothing: the references' samples are kept in their own tones, and
#: the photo is brought to them (its features follow the map exactly, see local_planes).
IDENTITY = LightnessMap("linear", np.array([0.0, 0.0], np.float32), np.float32(1.0))


def _increasing(x: np.ndarray) -> np.ndarray:
    """``x`` (sorted) nudged to strictly increasing, so it can be interpolated from."""
    return np.maximum.accumulate(np.asarray(x, np.float64) + np.arange(len(x)) * 1e-6)


def lightness_map(refs_L, photo_L: np.ndarray, kind: str = "linear") -> LightnessMap:
    """The map of the references' lightness onto the photo's, fitted to all of them at once.

    The references are pooled with equal weight (each a sample of the same scene's tones):
    ``linear`` maps the pool's mean and spread to the photo's (Welsh et al.), ``histogram``
    the pool's distribution to the photo's. One map for all keeps their tones relative to
    each other: a reference of the sky stays lighter than one of the street below it, where
    remapping each alone would give both the whole photo's tones.
    """
    refs_L = [np.asarray(L, np.float32).ravel() for L in refs_L]
    photo_L = np.asarray(photo_L, np.float32).ravel()
    if kind == "histogram":
        q = np.linspace(0.0, 100.0, 257)
        # Quantiles of the equal mixture: each reference's own quantiles, pooled and sorted.
        pool = np.sort(np.concatenate([np.percentile(L, np.linspace(0.0, 100.0, 1025)) for L in refs_L]))
        src = np.percentile(pool, q)
        dst = np.percentile(photo_L, q)
        src = _increasing(src)  # strictly increasing for interp
        return LightnessMap("histogram", src, dst)
    means = np.array([L.mean() for L in refs_L], np.float64)
    var = np.array([L.var() for L in refs_L], np.float64)
    m = float(means.mean())
    sd = float(np.sqrt((var + (means - m) ** 2).mean()))
    gain = float(photo_L.std()) / max(sd, 1e-3)
    return LightnessMap("linear", np.array([m, photo_L.mean()], np.float32), np.float32(gain))


#: Photo grids whose areas are within one step of this ratio of each other share a
#: reference's samples (see :func:`sample_area`).
AREA_STEP = 1.05


def sample_area(pixels: int) -> int:
    """The photo-grid area a reference's samples are built for, for a grid of ``pixels``: the
    nearest power of :data:`AREA_STEP`. Scans cropped by hand all differ a little in size, and
    samples built for each exact area cost 0.1-0.16 s a photo (a quarter to a third of
    reference mode's time); cut for an area at most 2.5 % off, the reference is scaled at
    most 1.2 % differently, far inside the spread of ``params.scales``."""
    return int(round(AREA_STEP ** round(math.log(max(int(pixels), 1)) / math.log(AREA_STEP))))


def reference_samples(lab: np.ndarray, photo_L: np.ndarray, params: ExemplarParams,
                      seed: int = 0, remap: Optional[LightnessMap] = None,
                      pixels: Optional[int] = None) -> ReferenceSamples:
    """Samples of a reference (``lab`` (h, w, 3)) at ``params.scales`` of the photo grid's
    area (``pixels``, by default ``photo_L``'s), L remapped by ``remap`` (by default, fitted to
    this reference alone and the photo's ``photo_L``, the match grid; the engine passes
    :data:`IDENTITY` and maps the photo instead)."""
    photo_pixels = int(pixels) if pixels else photo_L.size
    if remap is None:
        remap = lightness_map([reference_lightness(lab, photo_pixels)], photo_L, params.lightness_remap)
    from scipy.spatial import cKDTree
    H, W = lab.shape[:2]
    feats, abs_, rdesc, rab = [], [], [], []
    for scale in params.scales:
        f = np.sqrt(photo_pixels * scale * scale / (H * W))
        w, h = max(8, int(round(W * f))), max(8, int(round(H * f)))
        if h * w > H * W * 4:  # never blow a tiny reference up beyond recognition
            w, h = W * 2, H * 2
        L = _resize(lab[..., 0], h, w)
        ab = np.stack([_resize(lab[..., 1], h, w), _resize(lab[..., 2], h, w)], axis=-1)
        if remap is not IDENTITY:
            L = remap(L)
        F = with_position(weighted(local_features(L), params.feature_weights), params.position_weight)
        m = 3  # features near the border see reflected context: skip a thin frame
        if h > 4 * m and w > 4 * m:
            F, ab = F[m:-m, m:-m], ab[m:-m, m:-m]
        feats.append(F.reshape(-1, F.shape[-1]))
        abs_.append(ab.reshape(-1, 2))
        if params.region_weight > 0:
            nreg = max(4, int(round(params.regions * F.shape[0] * F.shape[1] / photo_pixels)))
            labels = superpixels(F[..., 0] / params.feature_weights[0], nreg, params.compactness)
            rdesc.append(region_descriptors(F, labels))
            cnt = np.maximum(np.bincount(labels.ravel(), None, rdesc[-1].shape[0]), 1)
            rab.append(np.stack([np.bincount(labels.ravel(), ab[..., i].ravel(), len(cnt)) / cnt
                                 for i in (0, 1)], axis=1))
    F = np.concatenate(feats)
    ab = np.concatenate(abs_)
    if len(F) > params.max_samples:
        idx = np.random.default_rng(seed).choice(len(F), params.max_samples, replace=False)
        F, ab = F[idx], ab[idx]
    tree = cKDTree(F)
    probe = F[np.random.default_rng(seed + 1).choice(len(F), min(len(F), 500), replace=False)]
    d, _ = tree.query(probe, k=2)
    scale = float(np.median(d[:, 1])) + 1e-3
    out = ReferenceSamples(tree, ab.astype(np.float32), scale)
    if rdesc:
        out.region_tree = cKDTree(np.concatenate(rdesc))
        out.region_ab = np.concatenate(rab).astype(np.float32)
    return out


class _SharedCache:
    """A small thread-safe LRU shared by an engine's sessions: the references' samples by
    (reference key, photo grid size), so a batch with one reference builds its samples and
    KD-tree once for all photos of a size, not once a photo."""

    def __init__(self, size: int = 8):
        import threading
        from collections import OrderedDict
        self.size = size
        self._items: "OrderedDict[tuple, object]" = OrderedDict()
        self._lock = threading.Lock()
        self.computed = 0

    def get(self, key: tuple, make):
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit
        value = make()  # outside the lock: two threads may both make it, one is kept
        with self._lock:
            self.computed += 1
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def reference_lightness(lab: np.ndarray, photo_pixels: int) -> np.ndarray:
    """The reference's L* at about the photo grid's area (what its tones are measured on)."""
    H, W = lab.shape[:2]
    f = min(1.0, np.sqrt(photo_pixels / (H * W)))
    return _resize(lab[..., 0], max(1, int(round(H * f))), max(1, int(round(W * f))))


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    if a.shape == (h, w):
        return np.asarray(a, np.float32)
    if h <= a.shape[0] and w <= a.shape[1]:
        return downsample_area(np.asarray(a, np.float32), h, w).astype(np.float32)
    return resize_bilinear(np.asarray(a, np.float32), h, w).astype(np.float32)


def superpixels(L: np.ndarray, n: int, compactness: float) -> np.ndarray:
    """SLIC superpixels of the lightness (labels 0..k-1, contiguous)."""
    from skimage.segmentation import slic
    # slic rescales the picture to 0..1 first: rescale the compactness with it, so it keeps
    # its meaning in L* units (else 8 L* units weigh as 8 x the full range: a plain grid).
    span = max(float(L.max()) - float(L.min()), 1e-3)
    labels = slic(L.astype(np.float64), n_segments=n, compactness=compactness / span, channel_axis=None,
                  start_label=0, enforce_connectivity=True, max_num_iter=5)
    _, inv = np.unique(labels, return_inverse=True)
    return inv.reshape(L.shape).astype(np.int32)


def region_graph(labels: np.ndarray, L_mean: np.ndarray, sigma: float):
    """Row-normalised adjacency of the superpixels: neighbours weighted by the border they
    share and by how alike their mean lightness is (exp(-dL^2 / 2 sigma^2))."""
    from scipy.sparse import coo_matrix, diags
    k = L_mean.shape[0]
    pairs = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        m = a != b
        pairs.append(np.stack([a[m], b[m]], axis=1))
    p = np.concatenate(pairs)
    p = np.concatenate([p, p[:, ::-1]])
    w = np.exp(-0.5 * np.square((L_mean[p[:, 0]] - L_mean[p[:, 1]]) / sigma))
    A = coo_matrix((w, (p[:, 0], p[:, 1])), shape=(k, k)).tocsr()
    deg = np.asarray(A.sum(axis=1)).ravel()
    return diags(1.0 / np.maximum(deg, 1e-9)) @ A


def vote(labels: np.ndarray, ab: np.ndarray, weights: np.ndarray, bin_size: float = 6.0,
         limit: float = 110.0, neighbours=None, pool: float = 0.0,
         regions: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Each region's colour and confidence from per-pixel votes.

    ``labels`` (N,) region of each vote, ``ab`` (N, 2) the voted chroma, ``weights`` (N,).
    The region's colour is the weighted mean of the votes near the mode of its smoothed
    a*, b* histogram; its confidence (0..1) is the share of its vote weight near the mode.
    ``regions``: how many regions there are (by default, as many as ``labels`` names).
    Returns (region ab (k, 2), confidence (k,)).
    """
    k = regions if regions is not None else (int(labels.max()) + 1 if len(labels) else 0)
    nb = int(np.ceil(2 * limit / bin_size))
    ia = np.clip(((ab[:, 0] + limit) / bin_size).astype(np.int64), 0, nb - 1)
    ib = np.clip(((ab[:, 1] + limit) / bin_size).astype(np.int64), 0, nb - 1)
    flat = (labels.astype(np.int64) * nb + ia) * nb + ib
    size = k * nb * nb
    mass = np.bincount(flat, weights, size).reshape(k, nb, nb)
    sa = np.bincount(flat, weights * ab[:, 0], size).reshape(k, nb, nb)
    sb = np.bincount(flat, weights * ab[:, 1], size).reshape(k, nb, nb)

    def box(x):  # 3x3 sum over the histogram's bins
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        return sum(p[:, i:i + nb, j:j + nb] for i in range(3) for j in range(3))

    if neighbours is not None and pool > 0:
        # Each region also hears its neighbours' votes (W: row-normalised, edge-aware
        # adjacency), each region's votes normalised to one first.
        tot = np.maximum(mass.reshape(k, -1).sum(axis=1), 1e-12)[:, None, None]
        mass = mass / tot + pool * (neighbours @ (mass / tot).reshape(k, -1)).reshape(k, nb, nb)
    bm = box(mass)
    best = bm.reshape(k, -1).argmax(axis=1)
    r = np.arange(k)
    top = bm.reshape(k, -1)[r, best]
    # The chroma sums are needed only in each region's winning 3x3 window: gathered there
    # (with the neighbours' shares when pooling) instead of pooled and boxed over every bin.
    di, dj = np.divmod(np.arange(9), 3)
    wi = (best // nb)[:, None] + di            # the window's bins in the padded histogram
    wj = (best % nb)[:, None] + dj

    def at_best(x):
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        if neighbours is None or pool <= 0:
            return p[r[:, None], wi, wj].sum(axis=1)
        t = tot.ravel()
        own = p[r[:, None], wi, wj].sum(axis=1) / t
        W = neighbours.tocoo()
        heard = p[W.col[:, None], wi[W.row], wj[W.row]].sum(axis=1) / t[W.col] * W.data
        return own + pool * np.bincount(W.row, heard, k)

    out = np.stack([at_best(sa), at_best(sb)], axis=1) / np.maximum(top, 1e-12)[:, None]
    total = mass.reshape(k, -1).sum(axis=1)
    conf = top / np.maximum(total, 1e-12)
    return out.astype(np.float32), conf.astype(np.float32)


@dataclass
class _Photo:
    """The photo on the match grid: its lightness, feature planes and superpixels."""

    L: np.ndarray
    planes: np.ndarray     # (h, w, 17) local_planes of L
    labels: np.ndarray     # (h, w) superpixels
    region_L: np.ndarray   # (k,) mean L of each superpixel


class ExemplarSession(EngineSession):
    """Per-photo caches: features and superpixels, reference samples, matched targets."""

    def __init__(self, lightness: np.ndarray, params: ExemplarParams, shared: Optional[_SharedCache] = None):
        self.params = params
        self._shared = shared if shared is not None else _SharedCache()
        self.full_h, self.full_w = lightness.shape
        self.propagation = PropagationSession(lightness, PropagationParams(hint_strength=params.hint_strength))
        self._photo: Optional[_Photo] = None
        self._features: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._targets: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    # -- cached pieces ------------------------------------------------------------------
    def photo(self) -> _Photo:
        if self._photo is None:
            p = self.params
            L = self.propagation.grid(p.match_side).L
            labels = superpixels(L, p.regions, p.compactness)
            k = int(labels.max()) + 1
            region_L = np.bincount(labels.ravel(), L.ravel().astype(np.float64), k) / np.maximum(
                np.bincount(labels.ravel(), None, k), 1)
            self._photo = _Photo(L, local_planes(L), labels, region_L)
        return self._photo

    def remap(self, references) -> LightnessMap:
        """The lightness map shared by ``references`` (fitted to all of them at once)."""
        ph = self.photo()
        Ls = []
        for ref in references:
            lab = np.asarray(ref.lab, np.float32)
            if lab.ndim != 3 or lab.shape[2] != 3 or min(lab.shape[:2]) < 4:
                raise EngineError(f"{_name(ref)} is too small to take colours from")
            Ls.append(reference_lightness(lab, ph.L.size))
        return lightness_map(Ls, ph.L, self.params.lightness_remap)

    def features(self, remap: LightnessMap) -> tuple[np.ndarray, np.ndarray]:
        """The photo's weighted features (h*w, F) and superpixel descriptors (k, F + 1) in the
        tones the references' samples are in (see :meth:`samples`): a linear ``remap`` undone
        on the photo (its features follow an affine map exactly, so the references keep their
        own tones and their samples serve every photo); the photo's own for a histogram map,
        which remaps the references instead (undone on the photo, it matched worse: mean
        CIEDE2000 5.22 against 4.98 on the quality bench)."""
        if remap.key not in self._features:
            p, ph = self.params, self.photo()
            F = features_of_planes(ph.planes, *remap.inverse_affine()) if remap.kind == "linear" else \
                features_of_planes(ph.planes)
            F = with_position(weighted(F, p.feature_weights), p.position_weight)
            self._features[remap.key] = (F.reshape(-1, F.shape[-1]), region_descriptors(F, ph.labels))
            while len(self._features) > 4:
                self._features.pop(next(iter(self._features)))
        return self._features[remap.key]

    def samples(self, ref, remap: Optional[LightnessMap] = None) -> ReferenceSamples:
        """``ref``'s samples for a photo grid of this size: in its own tones under a linear
        ``remap`` (shared by the engine's sessions: a batch builds them once per reference and
        photo area, to within :data:`AREA_STEP`), remapped to the photo's under a histogram
        one. By default the map fitted to ``ref`` alone."""
        ph = self.photo()
        remap = remap if remap is not None else self.remap((ref,))
        if remap.kind == "linear":
            remap = IDENTITY
        area = sample_area(ph.L.size) if remap is IDENTITY else ph.L.size
        key = (ref.key, area) + ((remap.key,) if remap is not IDENTITY else ())
        return self._shared.get(key, lambda: reference_samples(
            np.asarray(ref.lab, np.float32), ph.L, self.params, remap=remap, pixels=area))

    def targets(self, references, should_stop=None) -> tuple[np.ndarray, np.ndarray]:
        """(ab (h, w, 2), confidence (h, w)) on the match grid for these references."""
        key = tuple(r.key for r in references)
        if key in self._targets:
            return self._targets[key]
        p = self.params
        ph = self.photo()
        h, w_ = ph.labels.shape
        # The matches are looked up for one pixel of each query_stride x query_stride block
        # (the nearest-neighbour search is most of the matching's time): the regions' votes
        # need no more, and each pixel's own detail is interpolated between them (below).
        # The pixel is drawn at random in its block (fixed seed): a regular grid would see
        # only one phase of a texture whose period is a multiple of the stride (stripes,
        # a halftone screen) and match it as something else.
        st = max(1, int(p.query_stride))
        qy, qx = _jittered(h, w_, st)
        qh, qw = qy.shape[0], qx.shape[1]
        at = (qy * w_ + qx).ravel()
        remap = self.remap(references)
        features, regions = self.features(remap)
        feats = features[at]
        n = feats.shape[0]
        votes_ab, votes_w = [], []
        for ref in references:
            if should_stop and should_stop():
                raise Cancelled()
            s = self.samples(ref, remap)
            k = min(p.neighbours, s.ab.shape[0])
            d, idx = s.tree.query(feats, k=k, eps=p.query_eps)
            d, idx = d.reshape(n, k), idx.reshape(n, k)
            votes_ab.append(s.ab[idx])                                    # (n, k, 2)
            votes_w.append(d)
        ab = np.concatenate(votes_ab, axis=1)
        d = np.concatenate(votes_w, axis=1)
        # Similarity of a match, relative to how well the photo matches overall (a fixed
        # bandwidth would give a photo unlike every reference no votes at all).
        band = max(float(np.median(d.min(axis=1))), 0.5)
        w = np.exp(-0.5 * np.square(d / (p.bandwidth * band)))
        labels = ph.labels.ravel()[at]
        vl, va, vw = [np.repeat(labels, ab.shape[1])], [ab.reshape(-1, 2)], [w.ravel()]
        if p.region_weight > 0:
            # Superpixels matched as wholes (Gupta et al.): each votes with the weight of
            # its pixels' votes, shared among its nearest reference superpixels.
            nreg = regions.shape[0]
            count = np.bincount(ph.labels.ravel(), None, nreg).astype(np.float64) / (st * st)
            rd, ra = [], []
            for ref in references:
                s = self.samples(ref, remap)
                kr = min(p.region_neighbours, s.region_ab.shape[0])
                d_r, i_r = s.region_tree.query(regions, k=kr)
                rd.append(d_r.reshape(nreg, kr))
                ra.append(s.region_ab[i_r.reshape(nreg, kr)])
            d_r, a_r = np.concatenate(rd, axis=1), np.concatenate(ra, axis=1)
            band_r = max(float(np.median(d_r.min(axis=1))), 0.5)
            w_r = np.exp(-0.5 * np.square(d_r / (2.0 * band_r)))
            w_r = w_r * (p.region_weight * count * ab.shape[1] / d_r.shape[1])[:, None]
            vl.append(np.repeat(np.arange(nreg), d_r.shape[1]))
            va.append(a_r.reshape(-1, 2))
            vw.append(w_r.ravel())
        vl, va, vw = np.concatenate(vl), np.concatenate(va), np.concatenate(vw)
        W = region_graph(ph.labels, ph.region_L, p.pool_sigma) if p.pool > 0 else None
        region_ab, agree = vote(vl, va, vw, p.bin_size, neighbours=W, pool=p.pool,
                               regions=regions.shape[0])
        if p.hedge > 0:
            # Where the votes disagree, lean towards their mean: a doubtful region gets a
            # quieter colour rather than a confident wrong one.
            k = region_ab.shape[0]
            tot = np.maximum(np.bincount(vl, vw, k), 1e-12)
            mean = np.stack([np.bincount(vl, vw * va[:, i], k) / tot for i in (0, 1)], axis=1)
            t = np.clip(agree, 0.0, 1.0)[:, None] ** p.hedge
            region_ab = (t * region_ab + (1 - t) * mean).astype(np.float32)
        # Confidence: agreement of the votes times how alike the matches were.
        nreg = region_ab.shape[0]
        sim = np.bincount(labels, w.mean(axis=1), nreg) / np.maximum(np.bincount(labels, None, nreg), 1)
        conf = (agree * np.clip(sim / max(float(np.median(sim)), 1e-6), 0.0, 1.0)) ** p.confidence_power
        target_ab = region_ab[ph.labels]
        target_conf = conf[ph.labels].astype(np.float32)
        if p.inlier_radius > 0:
            # Keep each pixel's own detail: the mean of its votes that agree with its
            # region's colour (outliers dropped), the region's colour where none agree. The
            # detail (the departure from the region's colour) is measured where the matches
            # were looked up and interpolated between; region borders stay sharp.
            region = region_ab[labels]
            near = np.hypot(*(ab - region.reshape(n, 1, 2)).transpose(2, 0, 1)) < p.inlier_radius
            wi = w * near
            sw = wi.sum(axis=1)
            own = (ab * wi[..., None]).sum(axis=1) / np.maximum(sw, 1e-12)[:, None]
            share = np.clip(sw / np.maximum(w.sum(axis=1), 1e-12) * 2.0, 0.0, 1.0)[:, None]
            detail = (share * (own - region)).reshape(qh, qw, 2)
            if st > 1:
                detail = np.moveaxis(_spread(np.moveaxis(detail, -1, 0), st, h, w_), 0, -1)
            target_ab = target_ab + detail
        target_ab = target_ab.astype(np.float32)
        self._targets[key] = (target_ab, target_conf)
        while len(self._targets) > 4:
            self._targets.pop(next(iter(self._targets)))
        return target_ab, target_conf

    # -- the request ----------------------------------------------------------------------
    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None,
               should_stop=None) -> Chroma:
        p = self.params
        side = p.preview_side if quality == "preview" else p.render_side
        if max_side:
            side = min(side, max_side)
        references = tuple(references or ())
        # The grids this answer solves on take their L from the match grid's (needed anyway),
        # not from another pass over the photo; always, so no answer depends on which came first.
        for s in (side, min(side, p.preview_side)):
            self.propagation.derive_lightness(s, p.match_side)
        for ref in references:
            if not getattr(ref, "was_color", True):
                raise EngineError(f"{_name(ref)} has no colour to take; a reference for reference colours needs colour")
        if not references:
            out = self.propagation.chroma(hints, quality=quality, max_side=side, should_stop=should_stop)
            out.info["message"] = "no reference picture yet: only your hints colour the photo"
            return out
        ab, conf = self.targets(references, should_stop)
        grid = self.propagation.grid(side)
        if (grid.h, grid.w) != conf.shape:
            # Area-average the weighted targets onto the solve grid.
            wab = np.stack([_resize(ab[..., i] * conf, grid.h, grid.w) for i in (0, 1)], axis=-1)
            c = _resize(conf, grid.h, grid.w)
            ab = (wab / np.maximum(c, 1e-6)[..., None]).astype(np.float32)
            conf = c
        weight = conf * np.float32(p.soft_weight)
        if not hints.is_empty:
            # The user's colour wins in the region a hint belongs to: where the hints alone
            # reach with confidence (geodesically, stopping at edges), the reference steps back.
            # (on the preview grid, whose factorisation is cached: cheap at any quality)
            reach = self.propagation.chroma(hints, max_side=min(side, p.preview_side),
                                            should_stop=should_stop).info["confidence"]
            weight = weight * np.clip(1.0 - _resize(reach, grid.h, grid.w) / p.hint_reach, 0.0, 1.0)
        out = self.propagation.soft_chroma(hints, ab, weight, side=side, should_stop=should_stop)
        out.info["references"] = len(references)
        return out


def _jittered(h: int, w: int, stride: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One pixel drawn at random in each ``stride`` x ``stride`` block of an (h, w) grid:
    its row (bh, bw) and column (bh, bw) indices (broadcast), blocks cut short at the edges."""
    if stride <= 1:
        return np.arange(h)[:, None].repeat(w, 1), np.arange(w)[None, :].repeat(h, 0)
    rng = np.random.default_rng(seed)
    bh, bw = -(-h // stride), -(-w // stride)
    y = np.minimum(np.arange(bh)[:, None] * stride + rng.integers(0, stride, (bh, bw)), h - 1)
    x = np.minimum(np.arange(bw)[None, :] * stride + rng.integers(0, stride, (bh, bw)), w - 1)
    return y, x


def _spread(a: np.ndarray, stride: int, h: int, w: int) -> np.ndarray:
    """``a`` (..., bh, bw), one value per ``stride`` x ``stride`` block of an (h, w) grid,
    interpolated bilinearly between the blocks' centres onto the whole grid (the edges hold
    the last): the blocks' grid resized by exactly ``stride``, cut to (h, w)."""
    return resize_bilinear(a, a.shape[-2] * stride, a.shape[-1] * stride)[..., :h, :w]


def _name(ref) -> str:
    from pathlib import Path
    path = getattr(ref, "path", "") or ""
    return Path(path).name if path else "the reference"


class ExemplarEngine(Engine):
    """Reference colours: match like with like, vote within regions, propagate."""

    name = "exemplar"
    label = "Reference colours"
    description = "Takes colours from colour reference pictures, then spreads them along the photo's edges."
    needs_weights = False
    uses_hints = True
    uses_reference = True

    def __init__(self, params: ExemplarParams | None = None, **overrides):
        base = params or ExemplarParams()
        if overrides:
            base = ExemplarParams(**{**base.__dict__, **overrides})
        self.params = base
        self.shared = _SharedCache()   # the references' samples, shared by all photos

    def start(self, lightness: np.ndarray, photo=None) -> ExemplarSession:
        return ExemplarSession(np.asarray(lightness, np.float32), self.params, self.shared)
