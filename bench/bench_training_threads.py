"""What the CPU thread settings do to a training step (the U-Net at 256x256, batch 8).

    python bench/bench_training_threads.py [--steps 3] [--rounds 2]

Each setting runs in its own process (OMP_WAIT_POLICY is read when torch loads), all of them
in turns, ``rounds`` times, so that they share the machine's load alike; the table gives the
median seconds per step and the ratio to the old default (two torch threads beside one
DataLoader worker process on this two-core machine, OpenMP's default spinning wait).
Results go to bench/results/training_threads.md (bench_training.py rewrites training.md whole).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"

SETTINGS = [
    # label, env, torch threads, DataLoader workers
    ("old default: 2 threads + 1 worker, OpenMP spinning", {}, 2, 1),
    ("2 threads, no worker, OpenMP spinning", {}, 2, 0),
    ("2 threads, no worker, OMP_WAIT_POLICY=PASSIVE (new default)", {"OMP_WAIT_POLICY": "PASSIVE"}, 2, 0),
    ("1 thread, no worker, PASSIVE (--threads 1)", {"OMP_WAIT_POLICY": "PASSIVE"}, 1, 0),
    ("1 thread + 1 worker, PASSIVE (--workers 1)", {"OMP_WAIT_POLICY": "PASSIVE"}, 1, 1),
]

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import torch
from colorstudio.training.archs import get_architecture
from colorstudio.training._trainers import RegressionTrainer
from colorstudio.training.data import CropDataset, scan_folder
from colorstudio.training.loop import _loader
threads, workers, steps = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
arch = get_architecture("unet")
torch.manual_seed(0)
trainer = RegressionTrainer(arch, dict(arch.options), torch.device("cpu"), arch.learning_rate)
col = scan_folder(sys.argv[5])
it = iter(_loader(CropDataset(col.train, 256, 0, arch.needs), 8, 0, 0, 1, workers, 0))
trainer.step(next(it))
times = []
for _ in range(steps):
    t = time.perf_counter()
    trainer.step(next(it))        # the batch is fetched inside the timing, as in training
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


def main() -> int:
    from bench_training import PHOTOS, cpu_flags, cpu_name
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    times: dict = {s[0]: [] for s in SETTINGS}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for label, env, threads, workers in SETTINGS:
            child_env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            child_env.update(env)
            out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(threads), str(workers),
                                  str(args.steps), str(PHOTOS)], env=child_env, capture_output=True, text=True,
                                 check=True).stdout
            times[label] += json.loads(out.strip().splitlines()[-1])
            loads.append(os.getloadavg()[0])
            print(f"{label:<62} {statistics.median(times[label]):6.2f} s/step (median so far)", flush=True)
    ref = statistics.median(times[SETTINGS[0][0]])
    lines = ["# Training thread settings", "", "## Thread settings: the U-Net at 256x256, batch 8 (bench_training_threads.py)", "",
             f"{cpu_name()}, {os.cpu_count()} cores; load average {min(loads):.1f} to {max(loads):.1f} during the "
             f"run (other jobs); {args.rounds} rounds of {args.steps} steps per setting, in turns.",
             f"CPU flags: {cpu_flags()}", "",
             "| setting | median s/step | speed vs old default |", "| --- | ---: | ---: |"]
    for label, *_ in SETTINGS:
        med = statistics.median(times[label])
        lines.append(f"| {label} | {med:.2f} | {ref / med:.2f}x |")
    lines.append("")
    # A file of its own: bench_training.py rewrites training.md whole.
    (RESULTS / "training_threads.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
