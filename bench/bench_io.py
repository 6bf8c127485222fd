"""Time and peak memory of opening and exporting big photos (open_image / write_image).

    python bench/bench_io.py [--megapixels 50] [--dir /tmp/cs-bench]

Each case runs in its own process so its peak RSS (VmHWM) is its own; the baseline is the
RSS after imports, so "extra" is what the operation itself needed. Test photos are made once
in --dir (a gradient with grain, so that decoders see real work). The reference, measured in
the same run (each in its own process too), is Pillow alone: decoding the same file
(``Image.open(...).load()``) for an open, saving the same array for an 8-bit export (Pillow
cannot write 16-bit colour, so that row has none). The table is printed and written, with the
machine and its CPU flags, to bench/results/io.md.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import cpu_flags, machine_description, table, write_results  # noqa: E402


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
        return {"case": f"open {Path(arg).name}", "seconds": round(dt, 3), "peak_mb": int(round(_rss_mb())),
                "extra_mb": int(round(_rss_mb() - base)), "result_mb": int(round(src.lightness.nbytes / 2 ** 20))}
    if case == "pillow-open":
        from PIL import Image
        Image.MAX_IMAGE_PIXELS = None
        base = _rss_mb()
        t = time.perf_counter()
        with Image.open(arg) as im:
            im.load()
        dt = time.perf_counter() - t
        return {"seconds": round(dt, 3), "extra_mb": int(round(_rss_mb() - base))}
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
    if case == "pillow-write":
        from PIL import Image
        Image.fromarray(rgb).save(Path(out_dir) / f"ref_{dtype}.{fmt}", format=fmt.upper())
    else:
        write_image(Path(out_dir) / f"out_{dtype}.{fmt}", rgb, overwrite=True)
    dt = time.perf_counter() - t
    return {"case": f"write {fmt} {dtype} {mp} MP", "seconds": round(dt, 3), "peak_mb": int(round(_rss_mb())),
            "extra_mb": int(round(_rss_mb() - base)), "input_mb": int(round(rgb.nbytes / 2 ** 20))}


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

    def run(case: str, arg: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--case", case, "--arg", arg, "--dir", str(folder)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            lines = out.stderr.strip().splitlines()
            return {"error": lines[-1] if lines else f"exit status {out.returncode}"}
        return json.loads(out.stdout.strip().splitlines()[-1])

    def ratio(a, b) -> str:
        return f"{a / b:.2f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else "-"

    rows = []
    for case, arg in cases:
        got = run(case, arg)
        if "error" in got:
            name = f"{case} {Path(arg).name if case == 'open' else arg}"
            rows.append([name, "failed", "-", "-", "-", "-", got["error"]])
            print(rows[-1])
            continue
        ref = None
        if case == "open":
            ref = run("pillow-open", arg)
        elif arg.split(":")[1] == "uint8":
            ref = run("pillow-write", arg)
        ref_s = ref.get("seconds") if ref else None
        rows.append([got["case"], got["seconds"], ref_s if ref_s is not None else "-", ratio(got["seconds"], ref_s),
                     got["peak_mb"], got["extra_mb"], got.get("result_mb", got.get("input_mb"))])
        print(rows[-1])
    load = ""
    try:
        load = Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        pass
    text = table(["case", "seconds", "Pillow alone s", "ratio to Pillow", "peak MiB", "extra MiB",
                  "image MiB"], rows)
    text += f"\n\nLoad average when the run ended: {load or 'unknown'} on {os.cpu_count()} cores."
    body = (f"Photos of {args.megapixels:g} MP: `open_image` (full-resolution L*, `max_pixels` lifted) and "
            f"`write_image`, each in its own process; \"extra\" is the peak RSS above the RSS after imports; "
            f"\"image\" is the L* result (open) or the RGB input (write). The reference is Pillow alone on the "
            f"same file or array (its default settings), measured in the same run; a ratio above 1 is the "
            f"cost of Colorstudio's own work (conversion to L*, colour check, atomic write)."
            f"\n\nCPU flags: {cpu_flags()}\n\n{text}\n")
    print(f"\n{machine_description()}\n\n{text}")
    path = write_results("io", f"Opening and exporting big photos (bench_io.py, {args.megapixels:g} MP)", body)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
