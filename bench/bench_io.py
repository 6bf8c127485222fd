"""Time and peak memory of opening and exporting big photos (open_image / write_image).

    python bench/bench_io.py [--megapixels 50] [--dir /tmp/cs-bench]

Each case runs in its own process so its peak RSS (ru_maxrss) is its own; the baseline is the
RSS after imports, so "extra" is what the operation itself needed. Test photos are made once
in --dir (a gradient with grain, so that decoders see real work).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    """Peak RSS of this process in MiB (VmHWM: unlike ru_maxrss it is not inherited on fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _make_inputs(folder: Path, megapixels: float) -> dict[str, Path]:
    import numpy as np
    from PIL import Image

    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(megapixels * 1e6 / w))
    files = {"grey8.png": None, "grey16.png": None, "rgb8.jpg": None, "grey8.jpg": None}
    paths = {k: folder / f"{k.split('.')[0]}_{megapixels:g}mp.{k.split('.')[1]}" for k in files}
    if all(p.exists() for p in paths.values()):
        return paths
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :] * np.linspace(0.3, 1, h, dtype=np.float32)[:, None]
    grain = rng.normal(0, 0.02, size=(h, w)).astype(np.float32)
    g = np.clip(ramp + grain, 0, 1)
    del grain
    g8 = (g * 255).round().astype(np.uint8)
    Image.fromarray(g8).save(paths["grey8.png"], compress_level=1)
    Image.fromarray(g8).save(paths["grey8.jpg"], quality=92)
    Image.fromarray((g * 65535).round().astype(np.uint16)).save(paths["grey16.png"], compress_level=1)
    rgb = np.stack([g8, np.flipud(g8), np.fliplr(g8)], axis=-1)
    Image.fromarray(rgb).save(paths["rgb8.jpg"], quality=92)
    return paths


def _run_case(case: str, arg: str, out_dir: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from colorstudio.core.export import write_image
    from colorstudio.core.image import open_image

    if case == "open":
        base = _rss_mb()
        t = time.perf_counter()
        src = open_image(arg, max_pixels=10 ** 9)
        dt = time.perf_counter() - t
        return {"case": f"open {Path(arg).name}", "seconds": round(dt, 2), "peak_mb": round(_rss_mb(), 0),
                "extra_mb": round(_rss_mb() - base, 0), "result_mb": round(src.lightness.nbytes / 2 ** 20, 0)}
    # write: arg is "fmt:dtype:megapixels"
    fmt, dtype, mp = arg.split(":")
    w = int(round((float(mp) * 1e6 * 1.5) ** 0.5))
    h = int(round(float(mp) * 1e6 / w))
    top = 65535 if dtype == "uint16" else 255
    rgb = np.empty((h, w, 3), dtype=dtype)
    ramp = (np.linspace(0, top, w)).astype(dtype)
    rgb[...] = ramp[None, :, None]
    rgb[::7, :, 1] //= 2
    base = _rss_mb()
    t = time.perf_counter()
    write_image(Path(out_dir) / f"out_{dtype}.{fmt}", rgb, overwrite=True)
    dt = time.perf_counter() - t
    return {"case": f"write {fmt} {dtype} {mp} MP", "seconds": round(dt, 2), "peak_mb": round(_rss_mb(), 0),
            "extra_mb": round(_rss_mb() - base, 0), "input_mb": round(rgb.nbytes / 2 ** 20, 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=50.0)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "colorstudio-bench-io"))
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--arg", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print(json.dumps(_run_case(args.case, args.arg, args.dir)))
        return
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = _make_inputs(folder, args.megapixels)
    cases = [("open", str(p)) for p in paths.values()]
    cases += [("write", f"{fmt}:{dt}:{args.megapixels:g}")
              for fmt, dt in (("png", "uint8"), ("jpeg", "uint8"), ("tiff", "uint8"), ("png", "uint16"))]
    for case, arg in cases:
        out = subprocess.run([sys.executable, __file__, "--case", case, "--arg", arg, "--dir", str(folder)],
                             capture_output=True, text=True)
        print(out.stdout.strip() or out.stderr.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
