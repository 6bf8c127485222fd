"""Benchmark: reference colours (the `exemplar` engine), quality and time.

Quality: each colour photo in ../shared/data/photos is made grey; its reference is the same
photo mirrored left-right and cropped to its central 70 %. Mean CIEDE2000 against the
original (skimage.color.deltaE_ciede2000), per photo, for:

* grey      the grey photo itself (no colour);
* reinhard  a global Reinhard et al. (2001) transfer onto the grey photo: with a neutral
            photo (mean and spread of a*, b* zero) it gives the reference's mean chroma
            everywhere;
* kd-median a plain per-pixel match: luminance remapping, mean and spread of L in a 5x5
            window, one nearest reference sample by KD-tree, a 5x5 median filter of a*, b*;
* exemplar  ours (matching, superpixel voting, soft-hint propagation), full result.

Absolute times are printed with the load average around them; compare the ratios.

Time: a 1-megapixel photo (kodim photo upscaled) with its reference: the first full result
(engine + composition at full size), a preview at max_side 1024 after it (reusing the
session's caches), and a preview after a new hint (only the propagation solve re-runs).

Writes bench/results/reference.md and the contact sheet bench/results/reference_sheet.png
(grey | reference | ours | truth, one row per photo).

    python bench/bench_reference.py [--photos kodim03.png ...] [--no-time]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH, PHOTOS, table, write_results  # noqa: E402
from PIL import Image  # noqa: E402
from skimage.color import deltaE_ciede2000, rgb2lab  # noqa: E402

from colorstudio.core.color import rgb_to_lab  # noqa: E402
from colorstudio.core.compose import chroma_field, compose  # noqa: E402
from colorstudio.core.hints import Hints, PointHint  # noqa: E402
from colorstudio.core.reference import ReferencePicture  # noqa: E402
from colorstudio.core.resample import downsample_area, fit_size  # noqa: E402
from colorstudio.engines._exemplar import ExemplarEngine, remap_lightness  # noqa: E402

COLOUR_PHOTOS = ["kodim03.png", "kodim05.png", "kodim07.png", "kodim14.png", "kodim19.png", "kodim23.png"]


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16")
    return ", ".join(f for f in wanted if f in flags) or "-"


def make_reference(rgb_u8: np.ndarray, name: str) -> ReferencePicture:
    """The photo mirrored left-right, cropped to its central 70 %."""
    h, w, _ = rgb_u8.shape
    m = rgb_u8[:, ::-1]
    ch, cw = int(round(h * 0.7)), int(round(w * 0.7))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = np.ascontiguousarray(m[y0:y0 + ch, x0:x0 + cw]).astype(np.float32) / 255.0
    return ReferencePicture(name, f"bench-{name}", crop, rgb_to_lab(crop).astype(np.float32))


def compose_ab(L_full: np.ndarray, ab: np.ndarray, L_grid: np.ndarray) -> np.ndarray:
    return compose(L_full, chroma_field(ab, L_grid), bit_depth=8)


def reinhard_on_grey(L_full: np.ndarray, ref: ReferencePicture) -> np.ndarray:
    ab = np.broadcast_to(ref.lab[..., 1:].reshape(-1, 2).mean(axis=0), L_full.shape + (2,))
    return compose(L_full, chroma_field(np.ascontiguousarray(ab, np.float32), L_full), bit_depth=8)


def kd_median(L_full: np.ndarray, ref: ReferencePicture, side: int = 256) -> np.ndarray:
    """The plain baseline: per-pixel mean and spread of L (5x5), 1-NN, median filter."""
    from scipy.ndimage import median_filter, uniform_filter
    from scipy.spatial import cKDTree
    w, h = fit_size(L_full.shape[1], L_full.shape[0], side)
    L = downsample_area(L_full, h, w).astype(np.float32)
    rh, rw = ref.lab.shape[:2]
    f = np.sqrt(L.size / (rh * rw))
    Lr = downsample_area(ref.lab[..., 0], max(8, round(rh * f)), max(8, round(rw * f)))
    abr = np.stack([downsample_area(ref.lab[..., i], *Lr.shape) for i in (1, 2)], axis=-1)
    Lr = remap_lightness(Lr, float(L.mean()), float(L.std()))

    def feats(x):
        m = uniform_filter(x, 5)
        sd = np.sqrt(np.maximum(uniform_filter(x * x, 5) - m * m, 0))
        return np.stack([x, m, sd], axis=-1).reshape(-1, 3)

    _, idx = cKDTree(feats(Lr)).query(feats(L), k=1)
    ab = abr.reshape(-1, 2)[idx].reshape(h, w, 2)
    ab = np.stack([median_filter(ab[..., i], 5) for i in (0, 1)], axis=-1).astype(np.float32)
    return compose_ab(L_full, ab, L)


def delta_e(rgb_u8: np.ndarray, truth_lab: np.ndarray) -> float:
    return float(deltaE_ciede2000(rgb2lab(rgb_u8 / 255.0), truth_lab).mean())


def quality(photos: list[str]) -> tuple[list[list], list[np.ndarray]]:
    rows, sheet = [], []
    engine = ExemplarEngine()
    for name in photos:
        truth = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
        truth_lab = rgb2lab(truth / 255.0)
        # The grey photo: the original's own L, no chroma.
        L_full = rgb_to_lab(truth.astype(np.float32) / 255.0)[..., 0].astype(np.float32)
        ref = make_reference(truth, name)
        grey = compose(L_full, chroma_field(np.zeros(L_full.shape + (2,), np.float32), L_full), bit_depth=8)
        t0 = time.perf_counter()
        session = engine.start(L_full)
        c = session.chroma(Hints(), quality="render", references=(ref,))
        ours = compose_ab(L_full, c.ab, c.lightness)
        t_ours = time.perf_counter() - t0
        de_grey = delta_e(grey, truth_lab)
        de_rein = delta_e(reinhard_on_grey(L_full, ref), truth_lab)
        de_kd = delta_e(kd_median(L_full, ref), truth_lab)
        de_ours = delta_e(ours, truth_lab)
        rows.append([name, de_grey, de_rein, de_kd, de_ours, f"{100 * (1 - de_kd / de_grey):.0f} %",
                     f"{100 * (1 - de_ours / de_grey):.0f} %", f"{t_ours:.2f}"])
        refimg = np.zeros_like(truth)
        r8 = (ref.rgb * 255 + 0.5).astype(np.uint8)
        refimg[:r8.shape[0], :r8.shape[1]] = r8
        sheet.append(np.concatenate([grey, refimg, ours, truth], axis=1))
    return rows, sheet


def timing() -> list[list]:
    truth = np.asarray(Image.open(PHOTOS / "kodim23.png").convert("RGB").resize((1155, 866), Image.Resampling.BICUBIC))
    L_full = rgb_to_lab(truth.astype(np.float32) / 255.0)[..., 0].astype(np.float32)
    ref = make_reference(truth, "kodim23-1mp")
    engine = ExemplarEngine()
    rows = []
    compose_ab(L_full[:64, :64], np.zeros((8, 8, 2), np.float32), L_full[:8, :8])  # imports done before timing
    t0 = time.perf_counter()
    session = engine.start(L_full)
    c = session.chroma(Hints(), quality="render", references=(ref,))
    compose_ab(L_full, c.ab, c.lightness)
    rows.append(["full result, first (matching + solve + compose at 1 MP)", time.perf_counter() - t0])
    w, h = fit_size(L_full.shape[1], L_full.shape[0], 1024)
    L_prev = downsample_area(L_full, h, w).astype(np.float32)
    t0 = time.perf_counter()
    c = session.chroma(Hints(), quality="preview", max_side=1024, references=(ref,))
    compose_ab(L_prev, c.ab, c.lightness)
    rows.append(["preview 1024, caches warm", time.perf_counter() - t0])
    hints = Hints((PointHint(300.0, 200.0, "#c03030", 6.0),), image_size=(L_full.shape[1], L_full.shape[0]))
    t0 = time.perf_counter()
    c = session.chroma(hints, quality="preview", max_side=1024, references=(ref,))
    compose_ab(L_prev, c.ab, c.lightness)
    rows.append(["preview 1024 after a new hint", time.perf_counter() - t0])
    hints = hints.with_point(PointHint(700.0, 500.0, "#3050c0", 6.0))
    t0 = time.perf_counter()
    c = session.chroma(hints, quality="preview", max_side=1024, references=(ref,))
    compose_ab(L_prev, c.ab, c.lightness)
    rows.append(["preview 1024 after another hint", time.perf_counter() - t0])
    t0 = time.perf_counter()
    c = session.chroma(hints, quality="render", references=(ref,))
    compose_ab(L_full, c.ab, c.lightness)
    rows.append(["full result after a new hint", time.perf_counter() - t0])
    # A reference measured in the same run: the hints engine (propagation) with 20 hints.
    from colorstudio.engines._propagation import PropagationEngine
    rng = np.random.default_rng(0)
    pts = tuple(PointHint(float(x), float(y), "#806040", 3.0)
                for x, y in zip(rng.uniform(5, L_full.shape[1] - 5, 20), rng.uniform(5, L_full.shape[0] - 5, 20)))
    hints20 = Hints(pts, image_size=(L_full.shape[1], L_full.shape[0]))
    t0 = time.perf_counter()
    c = PropagationEngine().start(L_full).chroma(hints20, quality="render")
    compose_ab(L_full, c.ab, c.lightness)
    t_ref = time.perf_counter() - t0
    rows.append(["reference: propagation full result, 20 hints, new photo", t_ref])
    fresh = engine.start(L_full)
    t0 = time.perf_counter()
    c = fresh.chroma(Hints(), quality="preview", max_side=1024, references=(ref,))
    compose_ab(L_prev, c.ab, c.lightness)
    rows.append(["preview 1024, new photo (cold caches)", time.perf_counter() - t0])
    return [[name, t, f"{t / t_ref:.2f}"] for name, t in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", nargs="+", default=COLOUR_PHOTOS)
    ap.add_argument("--no-time", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows, sheet = quality(args.photos)
    mean = [float(np.mean([r[i] for r in rows])) for i in (1, 2, 3, 4)]
    rows.append(["mean", *mean, f"{100 * (1 - mean[2] / mean[0]):.0f} %", f"{100 * (1 - mean[3] / mean[0]):.0f} %", ""])
    q = table(["photo", "grey", "reinhard", "kd-median", "exemplar", "kd-median below grey",
               "exemplar below grey", "exemplar s"], rows)
    print(q)
    body = (f"CPU flags: {cpu_flags()}\n\nMean CIEDE2000 against the original (lower is better); the reference "
            f"is the photo mirrored and cropped to its central 70 %.\n\n{q}\n")
    if not args.no_time:
        import os
        load0 = os.getloadavg()[0]
        t = table(["1-megapixel photo (1155x866)", "seconds", "x propagation"], timing())
        load1 = os.getloadavg()[0]
        print(t)
        body += (f"\nTime on this CPU (target: full result <= 2 s, preview <= 0.3 s); load average "
                 f"{load0:.2f} before, {load1:.2f} after (2 cores shared with other work):\n\n{t}\n")
    if not args.no_write:
        rows_ = [np.asarray(Image.fromarray(r).resize((r.shape[1] * 240 // r.shape[0], 240), Image.Resampling.LANCZOS))
                 for r in sheet]  # 240 px rows keep the file small enough for the repository
        Image.fromarray(np.concatenate(rows_, axis=0)).save(BENCH / "results" / "reference_sheet.png", optimize=True)
        body += "\nContact sheet: `reference_sheet.png` (grey | reference | ours | truth).\n"
        write_results("reference", "Reference colours (exemplar)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
