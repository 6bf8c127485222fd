"""Benchmark 4: peak memory colorizing a 50-megapixel grey photo end to end.

A Kodak photo from ../shared/data/photos is upscaled (LANCZOS) to 8660 x 5774 (50.0 MP), made
grey and saved as an 8-bit PNG once into --dir, with a hints file of 20 points drawn as in
benchmark 1 (on a small copy; the file's image size makes the CLI scale them). Then:

* the CLI, ``python -m colorstudio colorize big.png -o out.png --hints big.hints.json``, in a
  fresh process: its peak RSS (``/usr/bin/time -v`` where available, and
  ``getrusage(RUSAGE_CHILDREN).ru_maxrss``). Target: <= 2 GB.
* a breakdown, in another fresh process doing the CLI's steps one by one and reading its own
  peak (VmHWM) after each: imports, open, solve, compose, save.

    python bench/memory.py [--dir /tmp/colorstudio-bench] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import PHOTOS, ROOT, table, write_results  # noqa: E402

WIDTH, HEIGHT = 8660, 5774
K = 20


def make_inputs(folder: Path, seed: int) -> tuple[Path, Path]:
    from PIL import Image
    from quality import random_hints

    folder.mkdir(parents=True, exist_ok=True)
    src, hints_path = folder / "kodim05_50mp_grey.png", folder / "kodim05_50mp.hints.json"
    if src.exists() and hints_path.exists():
        return src, hints_path
    with Image.open(PHOTOS / "kodim05.png") as im:
        colour = im.convert("RGB")
    small = np.asarray(colour.resize((WIDTH // 10, HEIGHT // 10), Image.LANCZOS))
    random_hints(small, K, seed=seed * 1000 + K).save(hints_path)  # image size 866x577: scaled on load
    grey = colour.convert("L").resize((WIDTH, HEIGHT), Image.LANCZOS)
    tmp = src.with_suffix(".part.png")
    grey.save(tmp, compress_level=1)
    os.replace(tmp, src)
    return src, hints_path


def _env(models: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLORSTUDIO_")}
    env["PYTHONPATH"] = str(ROOT)
    env["COLORSTUDIO_MODELS"] = models  # no installed model may change the engine
    return env


def run_cli(src: Path, hints: Path, out: Path, models: str) -> dict:
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "colorstudio", "colorize", str(src), "-o", str(out), "--hints", str(hints)]
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    if timer:
        cmd = [timer, "-v", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(models))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"the CLI failed: {proc.stderr.strip()[-2000:]}")
    res = {"wall": wall, "children_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0}
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if m:
        res["time_maxrss_mb"] = int(m.group(1)) / 1024.0
    out.unlink(missing_ok=True)
    return res


_STAGES = r"""
import json, sys, time
from pathlib import Path
def mem():
    s = {l.split(':')[0]: int(l.split()[1]) / 1024.0 for l in Path('/proc/self/status').read_text().splitlines()
         if l.startswith(('VmHWM', 'VmRSS'))}
    return s['VmHWM'], s['VmRSS']
out = []
t0 = time.perf_counter()
def mark(stage):
    global t0
    hwm, rss = mem()
    out.append([stage, time.perf_counter() - t0, hwm, rss])
    t0 = time.perf_counter()
import numpy as np
from colorstudio.core.image import open_image
from colorstudio.core.hints import Hints
from colorstudio.core.session import ColorizeSession
from colorstudio.core.compose import chroma_field, compose
mark('imports')
photo = open_image(sys.argv[1])
hints = Hints.load(sys.argv[2])
mark('open (decode, L*, hash)')
session = ColorizeSession(photo)
chroma = session._engine_session().chroma(hints, quality='render')
mark('solve (working grid, hints)')
field = chroma_field(chroma.ab, chroma.lightness)
rgb = compose(photo.lightness, field, bit_depth=8)
mark('compose (full-size pixels)')
from colorstudio.core.session import ColorizeResult
ColorizeResult(rgb, photo.alpha, photo, 'propagation', hints).save(sys.argv[3], overwrite=True)
mark('save (PNG)')
print(json.dumps(out))
"""


def run_stages(src: Path, hints: Path, out: Path, models: str) -> list:
    out.unlink(missing_ok=True)
    proc = subprocess.run([sys.executable, "-c", _STAGES, str(src), str(hints), str(out)], capture_output=True,
                          text=True, env=_env(models))
    if proc.returncode != 0:
        raise SystemExit(f"the staged run failed: {proc.stderr.strip()[-2000:]}")
    out.unlink(missing_ok=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "colorstudio-bench")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-write", action="store_true", help="print only; keep bench/RESULTS.md")
    args = ap.parse_args()
    if not (PHOTOS / "kodim05.png").is_file():
        print(f"no photos at {PHOTOS}; nothing to measure")
        return 1
    src, hints = make_inputs(args.dir, args.seed)
    out = args.dir / "out_50mp.png"
    with tempfile.TemporaryDirectory() as models:
        cli = run_cli(src, hints, out, models)
        stages = run_stages(src, hints, out, models)
    peak = cli.get("time_maxrss_mb", cli["children_maxrss_mb"])
    mp = WIDTH * HEIGHT / 1e6
    t1 = table(["run", "photo", "wall s", "peak RSS MB (time -v)", "peak RSS MB (getrusage)", "target MB", "met"],
               [["CLI, fresh process", f"{WIDTH}x{HEIGHT} ({mp:.1f} MP) 8-bit grey PNG", cli["wall"],
                 cli.get("time_maxrss_mb", ""), cli["children_maxrss_mb"], 2048, "yes" if peak <= 2048 else "NO"]])
    t2 = table(["step (one process)", "seconds", "peak so far MB", "RSS after MB"], stages)
    one_copy = WIDTH * HEIGHT * 4 / 2**20
    text = (f"{t1}\n\nBreakdown:\n\n{t2}\n\nFor scale: one float32 copy of the photo's L* is {one_copy:.0f} MB, "
            f"the 8-bit RGB result {one_copy * 0.75:.0f} MB.")
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(text)
    print(f"load average {load}")
    if not args.no_write:
        body = ("50-megapixel grey photo colorized end to end with 20 hints. Target: peak RSS <= 2 GB. "
                f"(Load average during the run: {load}; memory figures do not depend on it.)\n\n{text}")
        write_results("memory", "Benchmark 4: peak memory at 50 megapixels", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
