"""Training benchmarks: steps per second per architecture, and "does it learn".

    python bench/bench_training.py [--steps 2] [--photos FOLDER --photos-note TEXT] [--skip-speed]

1. Speed: each architecture at 256x256, batch 8, on this CPU (float32; after one warm-up
   step, the mean of a few steps), with the U-Net's rate as the reference measured in the same run.
2. Does it learn (with --photos): the U-Net, then siggraph17 from random weights, each trained
   for a fixed wall-clock budget on FOLDER (public photos brought in at benchmark time), then
   the folder's held-out photos and the Kodak photos of ../shared/data/photos colorized; mean
   CIEDE2000 and PSNR against the ground truth for each model, the grey photo and the
   propagation engine with the same simulated points; a contact sheet to look at.
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


def _trainer(name: str, options=None, learning_rate=None):
    import importlib

    import torch

    from colorstudio.training.archs import get_architecture
    arch = get_architecture(name)
    module, cls = arch.trainer.split(":")
    return arch, getattr(importlib.import_module(module), cls)(
        arch, {**arch.options, **(options or {})}, torch.device("cpu"), learning_rate or arch.learning_rate)


def _bf16_autocast():
    import torch
    return torch.autocast("cpu", dtype=torch.bfloat16)


def speed(steps: int, threads: int) -> tuple[list, str]:
    """Each architecture at 256x256, batch 8: one warm-up step, then ``steps`` timed steps, in
    float32; then with bfloat16 autocast where the CPU has native bfloat16 (the capability probe of
    engines/_neural/precision.py; COLORSTUDIO_CPU_CAPS can take it away), never elsewhere."""
    import torch

    from colorstudio.engines._neural.precision import cpu_caps
    from colorstudio.training.data import CropDataset, scan_folder
    from colorstudio.training.loop import _loader
    caps = cpu_caps()
    col = scan_folder(PHOTOS)
    rows = []
    for name in ("unet", "pix2pix", "vae", "restore", "siggraph17"):
        arch, trainer = _trainer(name)
        loader = iter(_loader(CropDataset(col.train, 256, 0, arch.needs), 8, 0, 0, 1, 0, 0))
        batches = [next(loader) for _ in range(steps + 1)]
        precisions = [("float32", None)] + ([("bfloat16 autocast", _bf16_autocast)] if caps.bfloat16 else [])
        for label, autocast in precisions:
            if autocast is not None:
                trainer.autocast = autocast
            torch.set_num_threads(threads)
            try:
                trainer.step(batches[0])
                t0 = time.perf_counter()
                for b in batches[1:]:
                    trainer.step(b)
            except Exception as exc:  # noqa: BLE001 - a refused kernel is a row, not a crash
                rows.append((name, label, None, None, f"failed: {type(exc).__name__}"))
                continue
            dt = (time.perf_counter() - t0) / steps
            params = sum(p.numel() for p in trainer.model.parameters())
            rows.append((name, label, params, 1.0 / dt, f"load {os.getloadavg()[0]:.1f}"))
            print(f"{name:<11} {label:<18} {params / 1e6:6.2f} M  {1 / dt:7.3f} steps/s  ({dt:.2f} s/step) "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        del trainer
    # Threads: the U-Net again on one thread, to show what a second thread brings.
    arch, trainer = _trainer("unet")
    loader = iter(_loader(CropDataset(col.train, 256, 0, arch.needs), 8, 0, 0, 1, 0, 0))
    batches = [next(loader) for _ in range(steps + 1)]
    torch.set_num_threads(1)
    trainer.step(batches[0])
    t0 = time.perf_counter()
    for b in batches[1:]:
        trainer.step(b)
    dt = (time.perf_counter() - t0) / steps
    rows.append(("unet", "float32, 1 thread", sum(p.numel() for p in trainer.model.parameters()), 1 / dt,
                 f"load {os.getloadavg()[0]:.1f}"))
    torch.set_num_threads(threads)
    print(f"unet        float32 1 thread   {1 / dt:7.3f} steps/s", flush=True)
    return rows, caps.describe()


def learn(arch_name: str, minutes: float, folder: Path, size: int, learning_rate=None):
    """Train ``arch_name`` for ``minutes`` on ``folder`` (random init); the trainer, the result."""
    from colorstudio.training.loop import TrainConfig, read_checkpoint, train
    os.environ["COLORSTUDIO_MODELS"] = tempfile.mkdtemp(prefix="bench-train-")
    cfg = TrainConfig(str(folder), arch=arch_name, minutes=minutes, size=size, batch=8, seed=0,
                      checkpoint_every=10 ** 9, evaluate=False, name=f"bench-{arch_name}", held_out_share=0.1,
                      learning_rate=learning_rate)
    t0 = time.monotonic()
    result = train(cfg)
    wall = time.monotonic() - t0
    ckpt = read_checkpoint(result.checkpoint)
    arch, trainer = _trainer(arch_name, learning_rate=learning_rate)
    trainer.load_state(ckpt["trainer"])
    return arch, trainer, result, ckpt.get("warmup"), wall


def contact_sheet(columns: dict, path: Path) -> None:
    """``columns``: {title: [RGB float pictures, one per row]}; hint points outlined where given."""
    from PIL import Image, ImageDraw
    titles = list(columns)
    rows = len(columns[titles[0]])
    s = columns[titles[0]][0]["pic"].shape[0]
    sheet = Image.new("RGB", (len(titles) * s, rows * s + 16), "white")
    draw = ImageDraw.Draw(sheet)
    for j, t in enumerate(titles):
        draw.text((j * s + 4, 2), t, fill="black")
    for i in range(rows):
        for j, t in enumerate(titles):
            item = columns[t][i]
            im = Image.fromarray((np.clip(item["pic"], 0, 1) * 255).round().astype(np.uint8))
            d = ImageDraw.Draw(im)
            for p in item.get("points") or ():
                d.rectangle((p.x - 1, p.y - 1, p.x + p.side, p.y + p.side), outline="white")
            sheet.paste(im, (j * s, i * s + 16))
    sheet.save(path, optimize=True)


def _table(ev_by_model: dict, photos: int, title: str) -> list:
    first = next(iter(ev_by_model.values())).summary
    lines = [f"{title} ({photos} photos, centred squares at {first['size']} px):", "",
             "| colorization | mean ΔE00 | PSNR (dB) |", "| --- | ---: | ---: |"]
    for k in ("grey", "propagation"):
        lines.append(f"| {k}{' (same points)' if k == 'propagation' else ''} | {first[k]['delta_e00']:.2f} | "
                     f"{first[k]['psnr_db']:.2f} |")
    for label, ev in ev_by_model.items():
        m = ev.summary["model"]
        lines.append(f"| {label} | {m['delta_e00']:.2f} | {m['psnr_db']:.2f} |")
    return lines + [""]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2, help="timed steps per architecture (after one warm-up)")
    ap.add_argument("--photos", default=None,
                    help="a folder of public colour photos to learn from (brought in at benchmark time)")
    ap.add_argument("--photos-note", default="", help="what the photos are and their licence, for the report")
    ap.add_argument("--unet-minutes", type=float, default=9.0)
    ap.add_argument("--siggraph17-minutes", type=float, default=7.0)
    ap.add_argument("--siggraph17-lr", type=float, default=1e-4)
    ap.add_argument("--learn-size", type=int, default=64)
    ap.add_argument("--eval-size", type=int, default=128)
    ap.add_argument("--skip-speed", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as the train command does
    import torch

    from colorstudio.training.loop import TrainConfig, _threads
    threads = _threads(TrainConfig("."), 0)
    torch.set_num_threads(threads)
    lines = ["# Training benchmarks", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
             f"(shared with other jobs); torch {torch.__version__}, {threads} threads, "
             f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}.",
             f"CPU flags: {cpu_flags()}", ""]
    if args.photos:
        from colorstudio.training.data import scan_folder
        from colorstudio.training.evaluate import evaluate
        folder = Path(args.photos)
        held = scan_folder(folder, 0.1).held_out
        kodak = scan_folder(PHOTOS, 0.1).photos
        runs = [("unet", args.unet_minutes, None, "U-Net (no points)"),
                ("siggraph17", args.siggraph17_minutes, args.siggraph17_lr, "siggraph17 from random init (same points)")]
        evs_held, evs_kodak, notes = {}, {}, []
        for arch_name, minutes, lr, label in runs:
            if minutes <= 0:
                continue
            arch, trainer, result, warmup, wall = learn(arch_name, minutes, folder, args.learn_size, lr)
            tail = np.mean([x for _, x in result.losses[-50:]])
            head = np.mean([x for _, x in result.losses[:50]])
            notes.append(f"- {label}: {minutes:g} min budget, {result.step} steps of batch 8 at {args.learn_size} px "
                         f"({result.step / wall:.2f} steps/s, load {os.getloadavg()[0]:.1f} at its end), learning rate "
                         f"{lr or arch.learning_rate:g} after a {warmup}-step warm-up (a tenth of the steps the "
                         f"budget was estimated to hold, at most 100); training loss {head:.4f} over the first 50 "
                         f"steps, {tail:.4f} over the last 50.")
            evs_held[label] = evaluate(trainer, arch, held, args.eval_size, limit=40, keep_pictures=True)
            evs_kodak[label] = evaluate(trainer, arch, kodak, args.eval_size, limit=40, keep_pictures=True)
            print("\n".join(notes[-1:]), evs_held[label].summary, evs_kodak[label].summary, flush=True)
        lines += [f"## Does it learn ({sum(r[1] for r in runs):g} minutes of nice'd CPU in all)", "",
                  f"Training photos: {folder} — {args.photos_note or 'see the report'} (none of them in the "
                  f"repository); random {args.learn_size}-px crops (of the photo at most {2 * args.learn_size} px "
                  f"on its short side) and flips; a tenth held out by file hash. Both networks start from random "
                  f"weights (no published siggraph17 weights are on this machine, so this is not a fine-tune).", ""]
        lines += notes + [""]
        lines += _table(evs_held, len(held), "Held out from the training set")
        lines += _table(evs_kodak, len(kodak), "The Kodak photos of ../shared/data/photos (never trained on)")
        # The sheet: Kodak rows then held-out rows.
        cols: dict = {"truth": [], "grey": [], "propagation": []}
        for evs in (evs_kodak, evs_held):
            first = next(iter(evs.values()))
            for pic in first.pictures[:4]:
                cols["truth"].append({"pic": pic["truth"]})
                cols["grey"].append({"pic": pic["grey"]})
                cols["propagation"].append({"pic": pic["propagation"], "points": pic["points"]})
            for label, ev in evs.items():
                key = label.split(" ")[0]
                cols.setdefault(key, [])
                for pic in ev.pictures[:4]:
                    cols[key].append({"pic": pic["model"], "points": pic["points"] if "siggraph17" in label else ()})
        contact_sheet(cols, RESULTS / "training_contact_sheet.png")
        lines += ["Contact sheet (first the Kodak photos, then held-out ones; points outlined where the "
                  "colorization got them): training_contact_sheet.png", ""]
        (RESULTS / "training.md").write_text("\n".join(lines))
    if not args.skip_speed:
        rows, caps = speed(args.steps, threads)
        ref = rows[0][3]
        lines += [f"## Speed: 256x256 crops, batch 8, on the CPU ({args.steps} timed steps after a warm-up step)", "",
                  f"CPU probe: {caps}", "",
                  "| architecture | precision | parameters | steps/s | s/step | vs unet float32 | load |",
                  "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
        for n, prec, p, r, note in rows:
            if r is None:
                lines.append(f"| {n} | {prec} | | | | | {note} |")
            else:
                lines.append(f"| {n} | {prec} | {p / 1e6:.2f} M | {r:.3f} | {1 / r:.2f} | {r / ref:.2f}x | {note} |")
        lines += ["", "No GPU was lent to this task, so there is no GPU row.", ""]
    (RESULTS / "training.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
