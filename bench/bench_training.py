"""Training benchmarks: steps per second per architecture, and "does it learn".

    python bench/bench_training.py [--steps 3] [--learn-minutes 5] [--photos FOLDER] [--skip-speed]

1. Speed: each architecture at 256x256, batch 8, on this CPU (float32; after one warm-up
   step, the mean of a few steps), with the U-Net's rate as the reference measured in the same run.
2. Does it learn: the U-Net trained for a fixed wall-clock budget on FOLDER (default: the
   colour photos in ../shared/data/photos, random crops), then the held-out photos colorized;
   mean CIEDE2000 and PSNR against the ground truth for the model, the grey photo and the
   propagation engine with the same simulated hints; a contact sheet of held-out results.
Results go to bench/results/training.md (and training_contact_sheet.png), with the CPU flags.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
PHOTOS = ROOT / ".." / "shared" / "data" / "photos"


def cpu_flags() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return " ".join(f for f in flags if f.startswith(("avx", "amx", "fma", "sse4")))
    except OSError:
        pass
    return "unknown"


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def speed(steps: int) -> list:
    import torch

    from colorstudio.training.archs import get_architecture
    from colorstudio.training.data import CropDataset, scan_folder
    from colorstudio.training.loop import _loader
    col = scan_folder(PHOTOS)
    rows = []
    for name in ("unet", "pix2pix", "vae", "restore", "siggraph17"):
        arch = get_architecture(name)
        module, cls = arch.trainer.split(":")
        import importlib
        trainer = getattr(importlib.import_module(module), cls)(arch, dict(arch.options), torch.device("cpu"),
                                                                  arch.learning_rate)
        loader = iter(_loader(CropDataset(col.train, 256, 0, arch.needs), 8, 0, 0, 1, 0, 0))
        batches = [next(loader) for _ in range(steps + 1)]
        trainer.step(batches[0])
        t0 = time.perf_counter()
        for b in batches[1:]:
            trainer.step(b)
        dt = (time.perf_counter() - t0) / steps
        params = sum(p.numel() for p in trainer.model.parameters())
        rows.append((name, params, 1.0 / dt))
        print(f"{name:<11} {params / 1e6:6.2f} M parameters  {1 / dt:7.3f} steps/s  ({dt:.2f} s/step)", flush=True)
        del trainer
    return rows


def learn(minutes: float, folder: Path, size: int):
    from colorstudio.training.loop import TrainConfig, train
    os.environ["COLORSTUDIO_MODELS"] = tempfile.mkdtemp(prefix="bench-train-")
    cfg = TrainConfig(str(folder), arch="unet", minutes=minutes, size=size, batch=8, workers=1, seed=0,
                      checkpoint_every=10 ** 9, evaluate=False, name="bench", held_out_share=0.2)
    result = train(cfg)
    import torch

    from colorstudio.training.archs import get_architecture
    from colorstudio.training.data import scan_folder
    from colorstudio.training.evaluate import evaluate
    from colorstudio.training.loop import read_checkpoint
    arch = get_architecture("unet")
    from colorstudio.training._trainers import RegressionTrainer
    trainer = RegressionTrainer(arch, dict(arch.options), torch.device("cpu"), 2e-4)
    trainer.load_state(read_checkpoint(result.checkpoint)["trainer"])
    ev = evaluate(trainer, arch, scan_folder(folder, 0.2).held_out, size, keep_pictures=True)
    return result, ev


def contact_sheet(pictures, path: Path) -> None:
    from PIL import Image, ImageDraw
    cols = ("truth", "grey", "propagation", "model")
    s = pictures[0]["truth"].shape[0]
    sheet = Image.new("RGB", (len(cols) * s, len(pictures) * s + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for j, c in enumerate(cols):
        draw.text((j * s + 4, 2), c, fill="black")
    for i, pic in enumerate(pictures):
        for j, c in enumerate(cols):
            im = Image.fromarray((np.clip(pic[c], 0, 1) * 255).round().astype(np.uint8))
            if c == "propagation":
                d = ImageDraw.Draw(im)
                for p in pic["points"]:
                    d.rectangle((p.x - 1, p.y - 1, p.x + p.side, p.y + p.side), outline="white")
            sheet.paste(im, (j * s, i * s + 16))
    sheet.save(path)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--learn-minutes", type=float, default=5.0)
    ap.add_argument("--learn-size", type=int, default=128)
    ap.add_argument("--photos", default=str(PHOTOS))
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    import torch
    lines = ["# Training benchmarks", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
             f"(shared with other jobs); torch {torch.__version__}, {torch.get_num_threads()} threads.",
             f"CPU flags: {cpu_flags()}", ""]
    if not args.skip_speed:
        rows = speed(args.steps)
        ref = rows[0][2]
        lines += [f"## Speed: 256x256 crops, batch 8, float32 on the CPU ({args.steps} steps after a warm-up)", "",
                  "| architecture | parameters | steps/s | s/step | vs unet |", "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {n} | {p / 1e6:.2f} M | {r:.3f} | {1 / r:.2f} | {r / ref:.2f}x |" for n, p, r in rows]
        lines += ["", "No GPU was lent to this task, so there is no GPU row.", ""]
    result, ev = learn(args.learn_minutes, Path(args.photos), args.learn_size)
    contact_sheet(ev.pictures, RESULTS / "training_contact_sheet.png")
    s = ev.summary
    lines += [f"## Does it learn: U-Net, {args.learn_minutes:g} minutes on this CPU", "",
              f"Data: {args.photos} (the colour photos of the shared test set: Kodak Lossless True Colour Image "
              f"Suite pictures; random {args.learn_size}-px crops and flips), 20 % held out by file hash; "
              f"{result.step} steps of batch 8 (final training loss {np.mean([l for _, l in result.losses[-20:]]):.4f}).",
              f"Held-out: {s['photos']} photos, centred {args.learn_size}-px squares; the propagation engine gets "
              f"3-10 simulated points per photo (the U-Net gets none).", "",
              "| colorization | mean ΔE00 | PSNR (dB) |", "| --- | ---: | ---: |"]
    for k in ("grey", "propagation", "model"):
        lines.append(f"| {k if k != 'model' else 'U-Net (trained)'} | {s[k]['delta_e00']:.2f} | {s[k]['psnr_db']:.2f} |")
    lines += ["", "Contact sheet (truth, grey, propagation with its points outlined, U-Net): "
              "training_contact_sheet.png", ""]
    (RESULTS / "training.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
