"""Photos through a network together: one pass for several photos of one size against a pass each.

    python bench/bench_together.py [--photos 8] [--rounds 3] [--device auto] [--side 512]

What a batch does when a network may run on a GPU (``--together``, see README): the engine's
``chroma_together`` for N photos of one working size, in passes of 4 and of 8, against
``chroma`` for each photo alone, on the device and in the precision the engine chooses (on a
GPU: float16 where it stays within 1 ab of float32). Interleaved rounds (alone, together 4,
together 8, ...), so a busy machine slows each alike; the ratios are medians of the per-round
ratios. Weights are random, in the published layout (bench_neural.random_net); the time does
not depend on them. Each photo's answer together is checked against its answer alone.

On a CPU the network already keeps the cores busy with one photo, so little is to be gained;
the pass for several photos is for GPUs, where one small photo leaves most of the device idle.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PHOTOS, table, write_results  # noqa: E402


def photos(count: int) -> list[np.ndarray]:
    """``count`` different 1536x1024 lightness planes made from the shared colour photos."""
    from PIL import Image

    from colorstudio.core.color import rgb_to_lab
    bases = sorted(PHOTOS.glob("kodim*.png"))
    out = []
    for i in range(count):
        im = Image.open(bases[i % len(bases)]).convert("RGB").resize((1536, 1024), Image.BILINEAR)
        if i >= len(bases):
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(rgb_to_lab(np.asarray(im, np.float32) / 255.0)[..., 0].astype(np.float32))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--side", type=int, default=512, help="the render's working side (the engines' default: 512)")
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    args = ap.parse_args(argv)

    import torch
    from bench_neural import random_net

    from colorstudio.core.hints import Hints
    from colorstudio.engines.eccv16 import Eccv16Engine
    from colorstudio.engines.siggraph17 import Siggraph17Engine
    from colorstudio.models.networks import Eccv16Net, Siggraph17Net

    Ls = photos(args.photos)
    rows, notes = [], []
    for cls, net_cls in ((Siggraph17Engine, Siggraph17Net), (Eccv16Engine, Eccv16Net)):
        engine = cls.from_network(random_net(net_cls, 0), device=args.device, render_side=args.side)
        engine.load()
        runner = engine.runner

        def sync():
            if runner.device.type == "cuda":
                torch.cuda.synchronize()

        def alone():
            out = [engine.start(L).chroma(Hints(), quality="render") for L in Ls]
            sync()
            return out

        def together(n):
            def run():
                engine.max_together = n
                out = engine.chroma_together([(engine.start(L), Hints()) for L in Ls])
                sync()
                return out
            return run

        variants = {"alone": alone, "together 4": together(4), "together 8": together(8)}
        answers = {k: fn() for k, fn in variants.items()}          # warm-up, and the check below
        worst = max(float(np.abs(a.ab - b.ab).max()) for k in ("together 4", "together 8")
                    for a, b in zip(answers["alone"], answers[k]))
        times = {k: [] for k in variants}
        for _ in range(args.rounds):
            for k, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        for k in variants:
            med = statistics.median(times[k])
            ratio = statistics.median(t / r for t, r in zip(times[k], times["alone"]))
            rows.append([engine.name, k, f"{runner.device.type} {runner.precision}", args.photos,
                         round(args.photos / med, 2), round(med, 2), round(ratio, 2)])
        notes.append(f"{engine.name}: working size {answers['alone'][0].ab.shape[1]}x{answers['alone'][0].ab.shape[0]}; "
                     f"largest difference of a photo's answer together from its answer alone: {worst:.2g} ab")
        engine.close()
    body = table(["network", "run", "device, precision", "photos", "photos/s", "seconds", "time vs alone"], rows)
    body += "\n\n" + "\n".join(f"- {n}" for n in notes)
    body += (f"\n\n{args.rounds} rounds, interleaved; each ratio is the median of the per-round ratios. "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads.")
    print(body)
    if not args.no_write:
        write_results("together", "Photos through a network together (bench_together.py)", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
