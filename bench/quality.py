"""Benchmark 1: colorization quality against ground truth.

For each colour photo in ../shared/data/photos: make it grey, draw k random hint points
(radius 2 px, colour = the original's per-channel median under the disk, fixed seed),
colorize, and compare with the original: mean CIEDE2000 (Lab) and RGB PSNR. References in
the same run: the grey photo itself, and the exact Levin et al. solve of the same hints.
Reported for the propagation engine's full result (render) and its preview.

    python bench/quality.py [--k 5 20 100] [--photos kodim03.png ...]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PHOTOS, table, write_results  # noqa: E402
from levin import levin_colorize  # noqa: E402
from PIL import Image  # noqa: E402
from skimage.color import deltaE_ciede2000, rgb2lab  # noqa: E402

from colorstudio.core.compose import lab_to_srgb_keep_l, quantize  # noqa: E402

from colorstudio.core.hints import Hints, PointHint, rasterize  # noqa: E402
from colorstudio.core.image import SourceImage  # noqa: E402
from colorstudio.core.session import ColorizeSession  # noqa: E402

COLOUR_PHOTOS = ["kodim03.png", "kodim05.png", "kodim07.png", "kodim14.png", "kodim19.png", "kodim23.png"]


def random_hints(rgb: np.ndarray, k: int, seed: int, radius: float = 2.0) -> Hints:
    h, w, _ = rgb.shape
    rng = np.random.default_rng(seed)
    pts = []
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(k):
        x, y = rng.uniform(radius, w - radius), rng.uniform(radius, h - radius)
        disk = (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= radius * radius
        c = np.median(rgb[disk], axis=0)
        pts.append(PointHint(float(x), float(y), "#%02x%02x%02x" % tuple(int(round(v)) for v in c), radius))
    return Hints(tuple(pts), image_size=(w, h))


def metrics(rgb_u8: np.ndarray, truth_u8: np.ndarray, truth_lab: np.ndarray) -> tuple[float, float]:
    de = float(deltaE_ciede2000(rgb2lab(rgb_u8 / 255.0), truth_lab).mean())
    mse = float(np.mean((rgb_u8.astype(np.float64) - truth_u8) ** 2))
    return de, 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--k", type=int, nargs="+", default=[5, 20, 100])
    ap.add_argument("--photos", nargs="+", default=COLOUR_PHOTOS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--edge-strength", type=float, default=None,
                    help="the propagation engine's edge strength (0 to 1); default: the engine's own")
    ap.add_argument("--no-write", action="store_true", help="print only; keep bench/RESULTS.md")
    args = ap.parse_args()
    if not PHOTOS.is_dir():
        print(f"no photos at {PHOTOS}; nothing to measure")
        return 1
    rows, summary = [], {}
    for k in args.k:
        acc = {m: [] for m in ("grey", "levin", "render", "preview")}
        for name in args.photos:
            truth = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
            truth_lab = rgb2lab(truth / 255.0)
            photo = SourceImage.from_array(truth)
            L = photo.lightness
            grey = quantize(lab_to_srgb_keep_l(L, np.zeros((2,) + L.shape, np.float32)), 8)
            hints = random_hints(truth, k, seed=args.seed * 1000 + k)
            session = ColorizeSession(photo)
            t0 = time.perf_counter()
            options = {"edge_strength": args.edge_strength} if args.edge_strength is not None else None
            ours = session.render(hints, options=options).rgb
            t_render = time.perf_counter() - t0
            prev = session.preview(hints, max_side=max(truth.shape), options=options)
            h, w = L.shape
            r = rasterize(hints, w, h, w, h)
            t0 = time.perf_counter()
            ab = levin_colorize(L / 100.0, r.ab, r.mask > 0.5)
            t_levin = time.perf_counter() - t0
            # Same L-preserving conversion as ours, so only the chroma solve is compared.
            levin = quantize(lab_to_srgb_keep_l(L, np.moveaxis(ab, -1, 0)), 8)
            for key, img in (("grey", grey), ("levin", levin), ("render", ours), ("preview", prev)):
                de, psnr = metrics(img, truth, truth_lab)
                acc[key].append((de, psnr))
                rows.append([k, name, key, de, psnr, t_render if key == "render" else (t_levin if key == "levin" else "")])
        summary[k] = {m: (np.mean([a[0] for a in v]), np.mean([a[1] for a in v])) for m, v in acc.items()}
        worse = [args.photos[i] for i, (r_, g_) in enumerate(zip(acc["render"], acc["grey"])) if r_[0] > g_[0]]
        summary[k]["worse_than_grey"] = worse
    detail = table(["k", "photo", "method", "mean ΔE00", "PSNR dB", "seconds"], rows)
    srows = []
    for k, s in summary.items():
        ratio = s["render"][0] / s["levin"][0]
        srows.append([k, s["grey"][0], s["levin"][0], s["render"][0], s["preview"][0], f"{ratio:.3f}",
                      s["render"][1], s["levin"][1], ", ".join(s["worse_than_grey"]) or "none"])
    summ = table(["k", "grey ΔE00", "Levin ΔE00", "ours ΔE00", "preview ΔE00", "ours/Levin", "ours PSNR",
                  "Levin PSNR", "photos where ours is worse than grey"], srows)
    print(summ)
    print()
    print(detail)
    if not args.no_write:
        body = ("Target: ours (full result) within 2 % of the exact Levin solve's mean ΔE00 or better "
                "(ours/Levin ≤ 1.02), and never worse than the grey photo at k = 5.\n\n"
                f"Mean over {len(args.photos)} photos:\n\n{summ}\n\n<details><summary>per photo</summary>\n\n{detail}\n\n</details>")
        write_results("quality", "Benchmark 1: quality (propagation engine)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
