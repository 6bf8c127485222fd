"""The first preview of a 1-megapixel photo in a fresh process, weight-free (issue 7).

A fresh interpreter imports colorstudio, opens a 1000 x 1000 PNG (made from a Kodak photo),
places one hint as soon as the photo is open and gets the settled preview at 1024 px, as
the app's compute thread answers it: at the photo's warm-up's first step (the render grid
factorised), before the drag grid is built. Reported: the time from starting the
interpreter to that preview, split into imports, opening, the render grid's warm-up and
the click's preview, then the drag grid's warm-up that follows; and whether torch was imported (it must not be). The
reference in the same run is a bare ``python -c "import numpy, scipy"`` start.

The package's bytecode is compiled first, as ``pip install`` does (this machine sets
PYTHONDONTWRITEBYTECODE, so an editable checkout would otherwise recompile colorstudio's
modules in every fresh process, which no installed copy does).

    python bench/first_preview.py [--runs 5] [--no-write]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PHOTOS, ROOT, table, write_results  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import colorstudio as cs
from colorstudio.core.session import ColorizeSession
t1 = time.perf_counter()
photo = cs.open_image(sys.argv[1])
t2 = time.perf_counter()
s = ColorizeSession(photo)
got = {}

def progress(done, total):
    # The click, made as the photo shows: the app's compute thread answers it at the
    # warm-up's first step (the render grid ready), before the drag grid is built.
    if done == 1:
        got["warm"] = time.perf_counter() - t2
        t = time.perf_counter()
        pic = s.preview(cs.Hints.of(points=[(300, 400, "#c86432", 4)]), max_side=1024)
        got["click"] = time.perf_counter() - t
        got["at"] = time.time()
        got["shape"] = list(pic.shape)

s.warm_up(1024, progress=progress)
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "open": t2 - t1, "warm": got["warm"], "click": got["click"],
                  "rest": t3 - t2 - got["warm"] - got["click"], "at": got["at"],
                  "torch": "torch" in sys.modules, "shape": got["shape"]}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from PIL import Image
    tmp = Path(tempfile.mkdtemp())
    src = PHOTOS / "kodim05.png"
    if src.is_file():
        with Image.open(src) as im:
            im.convert("L").resize((1000, 1000), Image.LANCZOS).save(tmp / "photo.png")
    else:
        g = np.tile(np.linspace(20, 230, 1000), (1000, 1)).astype(np.uint8)
        Image.fromarray(g).save(tmp / "photo.png")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    import compileall
    compileall.compile_dir(str(ROOT / "colorstudio"), quiet=1)
    rows, base = [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import numpy, scipy.sparse"], check=True, env=env)
        base.append(time.perf_counter() - t)
        t = time.perf_counter()
        started = time.time()
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "photo.png")], capture_output=True, text=True,
                             env=env, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append([r["at"] - started, r["imports"], r["open"], r["warm"], r["click"], r["torch"], r["rest"]])
    med = lambda i: float(np.median([r[i] for r in rows]))  # noqa: E731
    body = table(["process start to first preview s", "imports s", "open s", "warm-up: render grid s",
                  "first click s", "then the drag grid s", "torch imported"],
                 [[med(0), med(1), med(2), med(3), med(4), med(6), any(r[5] for r in rows)]])
    body += "\n\n" + table(["reference: python -c 'import numpy, scipy.sparse' s", "ours / reference"],
                           [[float(np.median(base)), f"{med(0) / float(np.median(base)):.1f}x"]])
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print(body)
    print(f"load average {load}")
    if not args.no_write:
        write_results("first_preview", "First preview of a 1 MP photo in a fresh process (weight-free)",
                      f"Median of {args.runs} fresh processes; target: the first click's preview <= 0.5 s and no "
                      f"torch import. Load average {load} (the machine is shared).\n\n" + body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
