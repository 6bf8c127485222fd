"""`colorstudio train FOLDER --arch ...`: train a colorization network on your own photos.

The main CLI registers this with ``add_parser(subparsers)`` and calls ``args.train_run(args)``.
Exit codes: 0 trained (or stopped with a checkpoint to resume), 2 something the user can fix
(one sentence on stderr), 1 an internal error. Ctrl-C stops after the current step and keeps
a checkpoint (``--resume`` continues).
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import time
from typing import Optional, TextIO

EXIT_OK, EXIT_INTERNAL, EXIT_USER = 0, 1, 2

EPILOG = """\
examples:
  colorstudio train ~/slides --arch unet --minutes 60 --name town1960
  colorstudio train ~/uniforms --arch siggraph17 --from siggraph17 --steps 2000 --name regiment
  colorstudio train ~/slides --arch unet --steps 20000 --name town1960 --resume
  colorstudio colorize scan.tif -o colour.tif --engine town1960

several processes: torchrun --nproc_per_node=N -m colorstudio train FOLDER ... (DistributedDataParallel;
  NCCL on GPUs, gloo on the CPU; rank 0 writes the checkpoints and the model)
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .archs import architectures
    archs = architectures()
    p = subparsers.add_parser(
        "train", help="train a colorization network on a folder of your colour photos",
        description="Train (or fine-tune) a colorization network on the colour photos in FOLDER "
                    "(read recursively; grey and unreadable files are skipped). A tenth of the photos, "
                    "chosen by file hash, is held out to measure the result. Checkpoints are written as it "
                    "goes; --resume continues after a stop or a crash. The trained model becomes an "
                    "engine called NAME. Architectures: " + "; ".join(f"{a.name}: {a.description}" for a in archs.values()),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", metavar="FOLDER", help="a folder of colour photos")
    p.add_argument("--arch", choices=list(archs), default="unet", help="the network to train (default unet)")
    p.add_argument("--from", dest="start_from", metavar="WEIGHTS", default=None,
                   help="start from these weights: 'siggraph17' (the installed published network) or a .pth file "
                        "(siggraph17 only)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, metavar="N", help="train this many steps (in all, counting resumed ones)")
    length.add_argument("--minutes", type=float, metavar="M", help="train for this many minutes")
    p.add_argument("--size", type=int, default=256, metavar="PX", help="crop size in pixels (default 256)")
    p.add_argument("--batch", type=int, default=8, metavar="B", help="photos per step (default 8)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                   help="where to train (default: auto = CUDA, then MPS, then CPU)")
    p.add_argument("--name", metavar="NAME", help="the trained engine's name (default: ARCH-FOLDERNAME)")
    p.add_argument("--resume", action="store_true", help="continue the training NAME from its last checkpoint")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--checkpoint-every", type=int, default=200, metavar="N", help="steps between checkpoints (default 200)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="data loading processes (default: none on 2 cores, up to 4 on many)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for the network (default: the cores the data workers leave; fewer on a busy "
                        "machine)")
    p.add_argument("--lr", type=float, default=None, metavar="RATE", help="learning rate (default: the architecture's)")
    p.add_argument("--width", type=int, default=None, help=argparse.SUPPRESS)   # small networks for tests
    p.add_argument("--depth", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(train_run=run)
    return p


def _duration(seconds: Optional[float]) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class StepLine:
    """The progress line: step, loss, rate, ETA; redrawn in place on a terminal, a line every
    10 % (or 30 s) into a file or pipe."""

    def __init__(self, stream: TextIO, width: int = 24):
        self.stream, self.width = stream, width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._decile = -1
        self.drawn = 0

    def __call__(self, report) -> None:
        now = time.monotonic()
        total = report.total_steps
        done = total is not None and report.step >= total
        if not done and now - self._last < (0.2 if self.tty else 30.0):
            decile = int(10 * report.step / total) if total else -1
            if self.tty or decile == self._decile or total is None:
                return
            self._decile = decile
        self._last = now
        if total:
            filled = int(self.width * min(report.step, total) / total)
            head = f"step {report.step}/{total} [{'#' * filled}{'.' * (self.width - filled)}]"
        else:
            head = f"step {report.step}"
        text = (f"{head} loss {report.losses['loss']:.4f} (|ab| error {report.losses.get('l1_ab', 0):.1f}) "
                f"{report.steps_per_second:.2f} steps/s ETA {_duration(report.eta_seconds)}")
        self.stream.write(("\r" + text + "  ") if self.tty else text + "\n")
        self.stream.flush()
        self.drawn += 1

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def run(args: argparse.Namespace, *, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Carry out a parsed ``train`` command; returns the exit code."""
    if "torch" not in sys.modules:
        # OpenMP threads that sleep at a barrier instead of spinning: a spinning thread takes the
        # core its late partner needs whenever the machine has other work (read when torch loads).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from ..core.jobs import Cancelled
    from .errors import TrainingError
    from .loop import TrainConfig, train
    out = out or sys.stdout
    err = err or sys.stderr
    options = {k: getattr(args, k) for k in ("width", "depth") if getattr(args, k, None) is not None}
    config = TrainConfig(folder=args.folder, arch=args.arch, steps=args.steps, minutes=args.minutes, size=args.size,
                         batch=args.batch, device=args.device, name=args.name, resume=args.resume, seed=args.seed,
                         start_from=args.start_from, checkpoint_every=args.checkpoint_every, workers=args.workers,
                         threads=args.threads,
                         learning_rate=args.lr, options=options)
    stop = {"asked": False}

    def on_interrupt(signum, frame):
        if stop["asked"]:
            raise KeyboardInterrupt
        stop["asked"] = True
        err.write("\nstopping after this step (Ctrl-C again to quit at once)...\n")

    previous = signal.signal(signal.SIGINT, on_interrupt) if _main_thread() else None
    # Under torchrun every process runs this command; rank 0 alone speaks.
    quiet = os.environ.get("RANK", "0") not in ("", "0")
    line = StepLine(io.StringIO() if quiet else err)
    try:
        if args.arch == "siggraph17" and not args.start_from and not args.resume:
            err.write("training siggraph17 from random weights; --from siggraph17 fine-tunes the published network\n")
        result = train(config, should_stop=lambda: stop["asked"], on_step=line)
    except (TrainingError, Cancelled) as exc:
        line.close()
        print(f"colorstudio: {exc}" if str(exc) else "colorstudio: training cancelled", file=err)
        return EXIT_USER
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    line.close()
    if quiet:
        return EXIT_OK
    if not result.finished:
        print(f"stopped at step {result.step}; the checkpoint is saved: continue with the same command and --resume "
              f"(--name {result.name})", file=out)
        return EXIT_OK
    m = result.manifest
    print(f"trained {result.name} ({m['architecture']}, {m['steps']} steps, {_duration(m['seconds'])}): "
          f"{result.model_path}", file=out)
    held = m.get("held_out")
    if held:
        parts = [f"{k} {held[k]['delta_e00']:.2f}" for k in ("model", "grey", "propagation", "input") if k in held]
        print(f"held-out mean \u0394E00 ({held['photos']} photos): " + ", ".join(parts), file=out)
    print(f"use it: colorstudio colorize PHOTO -o OUT --engine {result.name}", file=out)
    return EXIT_OK


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()
