"""Benchmark 1b: the propagation engine's edge strength, against ground truth.

Benchmark 1's recipe (bench/quality.py: the colour photos made grey, k random hint points with
the original's colour, fixed seed), rendered at several edge strengths. Reported as mean
CIEDE2000 and RGB PSNR, with each strength's ΔE00 as a ratio to the default's in the same run
(lower is better) and the grey photo as the floor. The default is the strength with the lowest
ΔE00 over k = 5, 20 and 100.

    python bench/edge_strength.py [--values 0.3 0.4 0.5 0.6 0.7] [--k 5 20 100]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PHOTOS, table, write_results  # noqa: E402
from PIL import Image  # noqa: E402
from quality import COLOUR_PHOTOS, metrics, random_hints  # noqa: E402
from skimage.color import rgb2lab  # noqa: E402

from colorstudio.core.image import SourceImage  # noqa: E402
from colorstudio.core.session import ColorizeSession  # noqa: E402
from colorstudio.engines.propagation import EDGE_STRENGTH  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", type=float, nargs="+", default=[0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7])
    ap.add_argument("--k", type=int, nargs="+", default=[5, 20, 100])
    ap.add_argument("--photos", nargs="+", default=COLOUR_PHOTOS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not PHOTOS.is_dir():
        print(f"no photos at {PHOTOS}; nothing to measure")
        return 1
    default = EDGE_STRENGTH.default
    values = sorted(set(args.values) | {default})
    de = {(v, k): [] for v in values for k in args.k}
    psnr = {(v, k): [] for v in values for k in args.k}
    for name in args.photos:
        truth = np.asarray(Image.open(PHOTOS / name).convert("RGB"))
        truth_lab = rgb2lab(truth / 255.0)
        session = ColorizeSession(SourceImage.from_array(truth))
        for k in args.k:
            hints = random_hints(truth, k, seed=args.seed * 1000 + k)
            for v in values:
                rgb = session.render(hints, options={"edge_strength": v}).rgb
                d, p = metrics(rgb, truth, truth_lab)
                de[v, k].append(d)
                psnr[v, k].append(p)
    rows = []
    for v in values:
        row = [f"{v:g}" + (" (default)" if v == default else "")]
        for k in args.k:
            m = float(np.mean(de[v, k]))
            row += [m, f"{m / float(np.mean(de[default, k])):.3f}", float(np.mean(psnr[v, k]))]
        row.append(float(np.mean([np.mean(de[v, k]) for k in args.k])))
        rows.append(row)
    headers = ["edge strength"]
    for k in args.k:
        headers += [f"ΔE00 k={k}", f"/default k={k}", f"PSNR k={k}"]
    headers.append("mean ΔE00")
    out = table(headers, rows)
    best = min(values, key=lambda v: np.mean([np.mean(de[v, k]) for k in args.k]))
    print(out)
    print(f"\nlowest mean ΔE00 at edge strength {best:g}; the default is {default:g}")
    if not args.no_write:
        body = (f"Mean over {len(args.photos)} photos (render), benchmark 1's hints. Lowest mean ΔE00 at edge "
                f"strength {best:g}; the default is {default:g} (sigma 2 L*, the engine's value before the "
                f"setting existed), so benchmark 1's figures do not change; hints without protect strokes solve "
                f"exactly as before.\n\n{out}")
        write_results("quality_edge", "Benchmark 1b: edge strength (propagation engine)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
