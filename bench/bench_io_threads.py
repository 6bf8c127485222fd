"""Decoding photos on threads: 8 files opened one at a time vs on 2 (and 4) threads.

    python bench/bench_io_threads.py [--megapixels 2] [--repeat 3] [--dir /tmp/cs-bench-threads]

``open_image`` holds no process-wide lock, so a threaded batch decodes photos in parallel
wherever the decoders release the GIL (zlib, libjpeg, libtiff and numpy do for most of the
work). The files are a mix that exercises every decoder path: 8-bit grey PNG, 8-bit colour
JPEG, 16-bit colour PNG (the two-pass Pillow decoder) and 16-bit colour TIFF (tifffile).
The reference is the same 8 files decoded one after another in the same run; the table gives
the median wall time of ``--repeat`` runs and the speed-up as a ratio. Writes
bench/results/io_threads.md with the machine and its CPU flags.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_description, table, write_results  # noqa: E402


def cpu_flags() -> str:
    """The SIMD flags that matter for decoders and kernels, as the CPU reports them."""
    wanted = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "amx_bf16")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return ", ".join(f for f in wanted if f in have) or "-"
    except OSError:
        pass
    return "unknown"


def make_files(folder: Path, megapixels: float) -> list[Path]:
    import numpy as np
    from PIL import Image
    import tifffile

    from colorstudio.core.export import write_image

    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(megapixels * 1e6 / w))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(8):
        kind = ("grey8.png", "rgb8.jpg", "rgb16.png", "rgb16.tif")[i % 4]
        path = folder / f"{i}_{megapixels:g}mp_{kind}"
        paths.append(path)
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :] * np.linspace(0.3, 1, h, dtype=np.float32)[:, None]
        g = np.clip(ramp + rng.normal(0, 0.02, size=(h, w)).astype(np.float32), 0, 1)
        if kind == "grey8.png":
            Image.fromarray((g * 255).astype(np.uint8)).save(path, compress_level=3)
        elif kind == "rgb8.jpg":
            g8 = (g * 255).astype(np.uint8)
            Image.fromarray(np.stack([g8, g8[::-1], g8[:, ::-1]], -1)).save(path, quality=92)
        else:
            g16 = (g * 65535).astype(np.uint16)
            rgb = np.stack([g16, g16[::-1], g16[:, ::-1]], -1)
            if kind == "rgb16.png":
                write_image(path, rgb)
            else:
                tifffile.imwrite(path, rgb, photometric="rgb", compression="zlib")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "cs-bench-threads")
    args = ap.parse_args()

    from colorstudio.core.image import open_image

    paths = make_files(args.dir, args.megapixels)
    for p in paths:  # warm the page cache and the lazy imports
        open_image(p)

    def run(workers: int) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process): CPU / wall > 1 means threads ran at once."""
        t, c = time.perf_counter(), time.process_time()
        if workers == 1:
            for p in paths:
                open_image(p)
        else:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(open_image, paths))
        return time.perf_counter() - t, time.process_time() - c

    timings = {1: [], 2: [], 4: []}
    for _ in range(args.repeat):
        for workers in timings:  # interleaved, so a busy moment hits every column alike
            timings[workers].append(run(workers))
    base = statistics.median(w for w, _ in timings[1])
    rows = []
    for workers, ts in timings.items():
        walls = [w for w, _ in ts]
        med = statistics.median(walls)
        busy = statistics.median(c / w for w, c in ts)
        rows.append([f"{workers} threads" if workers > 1 else "one at a time",
                     round(med, 3), round(min(walls), 3), round(base / med, 2), round(busy, 2)])
    load = ""
    try:
        load = Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        pass
    text = table(["8 files decoded", "median s", "best s", "speed-up vs one at a time",
                  "cores busy (CPU s / wall s)"], rows)
    text += f"\n\nLoad average when the run ended: {load or 'unknown'} on {os.cpu_count()} cores."
    body = (f"8 photos of {args.megapixels:g} MP each (grey 8-bit PNG, colour JPEG, 16-bit colour PNG, "
            f"16-bit colour zlib TIFF, twice each), `open_image` to full-resolution L*; "
            f"median of {args.repeat} interleaved runs.\n\nCPU flags: {cpu_flags()}\n\n{text}\n")
    print(f"{machine_description()}\nCPU flags: {cpu_flags()}\n\n{text}")
    path = write_results("io_threads", "Decoding on threads (bench_io_threads.py)", body)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
