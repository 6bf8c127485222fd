"""The training job: ``train(config, progress, should_stop)``.

One function, Qt-free, the same for the CLI (a progress bar) and the app (a worker):

1. The folder is scanned (:mod:`.data`): colour photos split into training and held-out by
   file hash; grey, toned and unreadable files counted.
2. The architecture's trainer (:mod:`.archs`, :mod:`._trainers`) runs on the chosen device.
   Batches come from a DataLoader with workers; sample k of the stream is a pure function of
   (seed, k), so the data order needs no state beyond the step.
3. Every ``checkpoint_every`` steps, on a stop request, and at the end, a checkpoint is
   written atomically (temporary file, then rename): model(s), optimizer(s), scheduler(s),
   the mixed-precision scaler, the step, the seed, the random states and the loss history.
   ``resume`` continues from it; with a fixed seed on the CPU a resumed run reaches the same
   weights as an uninterrupted one.
4. At the end the held-out photos are colorized with simulated hints; mean CIEDE2000 and PSNR
   against the ground truth are measured for the model, the grey photo and the propagation
   engine given the same hints. The model file (a plain state_dict) and its manifest are
   written to the user models folder, where the ``user`` engine module finds them.

Several processes (GPUs, or CPU processes with the gloo backend): start with
``torchrun --nproc_per_node=N -m colorstudio train ...``. The loop sees torchrun's
WORLD_SIZE / RANK / LOCAL_RANK, joins the process group (NCCL on CUDA, gloo otherwise), wraps
the modules in DistributedDataParallel and gives each process its own shard of the stream
(rank r takes batches r, r + N, r + 2N, ... : the sharding of a DistributedSampler, kept a pure
function of the step so that resuming needs no sampler state). The ranks agree on when to stop;
rank 0 alone writes checkpoints, the model and the manifest, which records each rank's final
weights digest (they must be equal).

CPU threads: torch gets the cores the data workers leave free (never more threads than cores:
an oversubscribed OpenMP team waits at every barrier for a descheduled thread, which made a
step about 3x slower on a busy two-core machine); ``--threads`` chooses fewer on a busy
machine. The CLI also sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set) before torch loads.
"""
from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..core.atomic import WriteError, atomic_path
from ..core.machine import usable_cores
from .archs import Architecture, get_architecture
from .errors import TrainingError

log = logging.getLogger(__name__)

Progress = Optional[Callable[[int, int], None]]
ShouldStop = Optional[Callable[[], bool]]
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
#: The warm-up of a --minutes run until its second step tells how many steps the budget holds.
PROVISIONAL_WARMUP = 100


@dataclass
class TrainConfig:
    """What to train. ``steps`` or ``minutes`` bounds the run (steps wins when both)."""

    folder: str
    arch: str = "unet"
    steps: Optional[int] = None
    minutes: Optional[float] = None
    size: int = 256
    batch: int = 8
    device: str = "auto"
    name: Optional[str] = None
    resume: bool = False
    seed: int = 0
    start_from: Optional[str] = None          # "siggraph17" (installed published weights) or a file
    checkpoint_every: int = 200
    workers: Optional[int] = None             # DataLoader workers; None: see _workers
    threads: Optional[int] = None             # torch CPU threads; None: the cores the workers leave
    held_out_share: float = 0.1
    learning_rate: Optional[float] = None
    options: dict = field(default_factory=dict)   # the network's options over the architecture's
    evaluate: bool = True
    eval_limit: int = 16
    samples_every: Optional[int] = None       # re-colorize held-out samples (``on_samples``) every N steps
    samples_minutes: Optional[float] = None   # ... or every M minutes (whichever comes first)
    samples_count: int = 3


@dataclass
class TrainResult:
    name: str
    finished: bool                 # False when stopped early (the checkpoint allows --resume)
    step: int
    total_steps: Optional[int]
    losses: list                   # [(step, loss), ...] of this training, from the start
    model_path: Optional[Path] = None
    manifest_path: Optional[Path] = None
    manifest: Optional[dict] = None
    checkpoint: Optional[Path] = None


@dataclass
class StepReport:
    """What ``on_step`` receives after each step (for a progress line or a loss plot)."""

    step: int
    total_steps: Optional[int]
    losses: dict
    steps_per_second: float
    eta_seconds: Optional[float]


def warmup_steps(steps: float) -> int:
    """The learning-rate warm-up for a run of ``steps``: a tenth of it, 1 to 100 steps."""
    return int(max(1, min(100, int(steps) // 10)))


def default_name(arch: str, folder) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(folder).expanduser().resolve().name)
    return f"{arch}-{stem.strip('-.') or 'photos'}"[:64]


def _validate(config: TrainConfig, arch: Architecture) -> None:
    if config.steps is None and config.minutes is None:
        raise TrainingError("say how long to train: --steps N or --minutes M")
    if config.steps is not None and int(config.steps) < 1:
        raise TrainingError("--steps must be at least 1")
    if config.minutes is not None and not (config.minutes > 0 and math.isfinite(config.minutes)):
        raise TrainingError("--minutes must be a positive number")
    if config.batch < 1:
        raise TrainingError("--batch must be at least 1")
    if config.threads is not None and int(config.threads) < 1:
        raise TrainingError("--threads must be at least 1")
    if config.workers is not None and int(config.workers) < 0:
        raise TrainingError("--workers cannot be negative")
    if config.checkpoint_every < 1:
        raise TrainingError("the checkpoint interval must be at least 1 step")
    if not 16 <= config.size <= 2048:
        raise TrainingError("--size must be between 16 and 2048 pixels")
    if config.start_from and arch.name != "siggraph17":
        raise TrainingError(f"--from starts from published weights of the siggraph17 network; the {arch.name} "
                            f"architecture trains from scratch")


def _device(name: str):
    from ..engines.base import EngineError
    from ..engines.neural import resolve_device
    try:
        return resolve_device(name)
    except EngineError as exc:
        raise TrainingError(str(exc)) from None


def _initial_weights(config: TrainConfig):
    if not config.start_from:
        return None
    from ..models import ModelError
    from ..models.checkpoint import load_network
    from ..models.store import installed_path, not_installed_message
    src = config.start_from
    if src == "siggraph17":
        path = installed_path("siggraph17")
        if path is None:
            raise TrainingError(not_installed_message("siggraph17"))
    else:
        path = Path(src).expanduser()
    try:
        return load_network("siggraph17", path).state_dict()
    except ModelError as exc:
        raise TrainingError(str(exc)) from None


def _rng_state() -> dict:
    import torch
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()[1].tolist(),
             "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    import torch
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(("MT19937", np.array(state["numpy"], dtype=np.uint32), 0, 0, 0.0))
    random.setstate((3, tuple(state["python"]), None))


def write_checkpoint(path: Path, payload: dict) -> None:
    """``payload`` to ``path`` atomically (old checkpoint kept until the new one is whole)."""
    import torch
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())


def read_checkpoint(path: Path) -> dict:
    import torch

    from ..core.files import FileError, open_regular
    try:
        fh = open_regular(path, what="training checkpoint")  # never a FIFO or a device
    except FileError as exc:
        raise TrainingError(str(exc)) from None
    try:
        with fh:
            data = torch.load(fh, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - an unreadable checkpoint is a sentence
        raise TrainingError(f"the checkpoint {path} cannot be read ({type(exc).__name__}); start again without "
                            f"--resume, or with another --name") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"{path} is not a Colorstudio training checkpoint")
    return data


def _workers(config: TrainConfig, world: int = 1) -> int:
    """DataLoader worker processes: given, else half of this process's share of the cores
    beyond one, at most 4 (none on two cores: decoding a batch takes a few per cent of a step,
    and a worker would take a core from the network)."""
    if config.workers is not None:
        return max(0, int(config.workers))
    share = max(1, usable_cores() // max(1, world))
    return max(0, min(4, (share - 1) // 2))


def _threads(config: TrainConfig, workers: int, world: int = 1) -> int:
    """torch's CPU threads: given, else this process's share of the cores less the workers."""
    if config.threads is not None:
        return max(1, int(config.threads))
    return max(1, usable_cores() // max(1, world) - workers)


def _distributed_env() -> tuple[int, int, int]:
    """(world size, rank, local rank) from torchrun's environment; (1, 0, 0) without it."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise TrainingError("WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers (set by torchrun)") from None
    return world, rank, local


def _join_group(device) -> bool:
    """Join torchrun's process group when there is one to join; True when this call joined it
    (and so must leave it)."""
    import torch.distributed as dist
    world, _, _ = _distributed_env()
    if world <= 1 or not dist.is_available() or dist.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    try:
        dist.init_process_group(backend=backend)
    except Exception as exc:  # noqa: BLE001 - a missing backend or a bad address is a sentence
        raise TrainingError(f"could not join the {world} training processes ({backend}): "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return True


def _agree(flag: bool, distributed: bool, device=None) -> bool:
    """True on every rank when any rank says True (so that all ranks stop at the same step)."""
    if not distributed:
        return flag
    import torch
    import torch.distributed as dist
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)   # NCCL wants it on the GPU
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _from_rank0(value: int, distributed: bool, device=None) -> int:
    if not distributed:
        return value
    import torch
    import torch.distributed as dist
    t = torch.tensor([int(value)], dtype=torch.int64, device=device)
    dist.broadcast(t, src=0)
    return int(t.item())


def weights_digest(state: dict) -> str:
    """SHA-256 of a state_dict's tensors (names, shapes, dtypes, bytes): equal digests, equal weights."""
    import hashlib

    import torch
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}{tuple(v.shape)}{v.dtype}".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _loader(dataset, batch: int, start_step: int, rank: int, world: int, workers: int, seed: int):
    import torch
    from torch.utils.data import DataLoader

    class Stream(torch.utils.data.Sampler):
        def __iter__(self):
            step = start_step
            while True:
                first = (step * world + rank) * batch
                yield from range(first, first + batch)
                step += 1

    def init(_):
        torch.set_num_threads(1)

    # Its own generator: a DataLoader iterator otherwise draws its worker seed from torch's
    # global generator, which would shift the training's random stream on every resume.
    return DataLoader(dataset, batch_size=batch, sampler=Stream(), num_workers=workers,
                      generator=torch.Generator().manual_seed(seed),
                      worker_init_fn=init if workers else None, persistent_workers=False,
                      prefetch_factor=2 if workers else None, pin_memory=False)


def train(config: TrainConfig, progress: Progress = None, should_stop: ShouldStop = None,
          on_step: Optional[Callable[[StepReport], None]] = None,
          on_samples: Optional[Callable[[int, list], None]] = None) -> TrainResult:
    """Train (or continue training) a network; see the module notes.

    ``progress(done, total)``: steps (with ``steps``) or seconds (with ``minutes``).
    ``should_stop()``: checked between steps; on a stop the checkpoint is written and the
    result says ``finished=False``. ``on_samples(step, samples)``: a few held-out crops
    colorized with the current weights (:func:`.samples.held_out_strip`), at the start, every
    ``samples_every`` steps or ``samples_minutes`` minutes, and at the end. Raises TrainingError with a sentence for anything the user
    can fix; nothing already written is lost.
    """
    import torch

    from ..models import user as store

    arch = get_architecture(config.arch)
    _validate(config, arch)
    name = config.name or default_name(arch.name, config.folder)
    problem = store.name_problem(name)
    if problem:
        raise TrainingError(problem)
    from ..engines.registry import ENGINES
    model_path, manifest_path = store.model_paths(name)
    work = store.training_folder(name)
    ckpt_path = work / CHECKPOINT
    static = ENGINES.get(name)
    if static is not None and "trained_model" not in static.extra:
        raise TrainingError(f"{name!r} is the name of a built-in engine; choose another --name")
    if not config.resume:
        if manifest_path.exists():
            raise TrainingError(f"a trained model called {name!r} already exists ({manifest_path.parent}); choose "
                                f"another --name, or --resume to train it further")
        if ckpt_path.exists():
            raise TrainingError(f"an unfinished training called {name!r} exists; continue it with --resume, or "
                                f"choose another --name")
    elif not ckpt_path.exists():
        raise TrainingError(f"there is no training called {name!r} to resume (no checkpoint in {work})")

    device = _device(config.device)
    joined = _join_group(device)
    world, rank = 1, 0
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    if distributed:
        world, rank = torch.distributed.get_world_size(), torch.distributed.get_rank()
        if device.type == "cuda":
            device = torch.device("cuda", _distributed_env()[2] % max(1, torch.cuda.device_count()))
            torch.cuda.set_device(device)
    workers = _workers(config, world)
    threads_before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(_threads(config, workers, world))
    try:
        result = _run(config, arch, name, device, progress, should_stop, on_step, on_samples, world, rank,
                      distributed, workers, ckpt_path, work)
        if joined:
            # Every rank done before any leaves the group: a rank that tore its gloo group down
            # while rank 0 was still evaluating was seen to abort at exit ("terminate called
            # without an active exception"), failing the run. (A rank that raised is ended by
            # torchrun, so only a successful rank waits here.)
            torch.distributed.barrier()
        return result
    finally:
        torch.set_num_threads(threads_before)
        if joined:
            torch.distributed.destroy_process_group()


def _run(config, arch, name, device, progress, should_stop, on_step, on_samples, world, rank, distributed,
         workers, ckpt_path, work) -> TrainResult:
    import torch

    from ..models.store import ensure_models_path
    from .data import CropDataset, scan_folder

    checkpoint = read_checkpoint(ckpt_path) if config.resume else None
    if checkpoint is not None:
        if checkpoint["arch"] != arch.name:
            raise TrainingError(f"the training {name!r} is a {checkpoint['arch']} network, not {arch.name}; resume it "
                                f"with --arch {checkpoint['arch']}, or choose another --name")
        saved = checkpoint["config"]
        # The run's shape is the checkpoint's; only its length may change.
        for key in ("size", "batch", "seed"):
            setattr(config, key, saved[key])
        options = dict(checkpoint["options"])
        learning_rate = float(checkpoint["learning_rate"])
    else:
        options = {**arch.options, **config.options}
        learning_rate = float(config.learning_rate or arch.learning_rate)

    collection = scan_folder(config.folder, config.held_out_share, should_stop=should_stop)
    if checkpoint is not None and checkpoint.get("data", {}).get("file_list_sha256") != collection.list_hash():
        log.warning("the photos in %s are not the ones this training started with; it continues on the new set",
                    config.folder)

    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2 ** 32)
    random.seed(config.seed)
    initial = _initial_weights(config) if checkpoint is None else None
    from ..models.trainable import build, multiple
    if config.size % multiple(build(arch.network, options)) and arch.network != "siggraph17":
        raise TrainingError(f"--size must be a multiple of {multiple(build(arch.network, options))} for this network")
    if arch.network == "siggraph17" and config.size % 8:
        raise TrainingError("--size must be a multiple of 8 for the siggraph17 network")
    total = int(config.steps) if config.steps is not None else None
    # The learning-rate warm-up: a tenth of the run, at most 100 steps. With --minutes the number
    # of steps is not known: it is estimated from the second step's time (PROVISIONAL until then).
    # A resumed run keeps the warm-up it started with (its schedule must not change).
    warmup_known = True
    if checkpoint is not None and checkpoint.get("warmup") is not None:
        warmup = int(checkpoint["warmup"])
    elif total is not None:
        warmup = warmup_steps(total)
    else:
        warmup, warmup_known = PROVISIONAL_WARMUP, checkpoint is not None
    import importlib
    module, cls = arch.trainer.split(":")
    trainer = getattr(importlib.import_module(module), cls)(arch, options, device, learning_rate, warmup,
                                                               initial_state=initial, distributed=distributed)
    step = 0
    losses: list = []
    elapsed_before = 0.0
    if checkpoint is not None:
        trainer.load_state(checkpoint["trainer"])
        step = int(checkpoint["step"])
        losses = [tuple(x) for x in checkpoint["losses"]]
        elapsed_before = float(checkpoint.get("seconds", 0.0))
        _set_rng_state(checkpoint["rng"])

    if rank == 0:
        try:
            ensure_models_path()
            work.mkdir(parents=True, exist_ok=True)
        except (OSError, Exception) as exc:  # noqa: BLE001
            raise TrainingError(f"could not create {work}: {getattr(exc, 'strerror', None) or exc}") from None

    def save(at: int) -> None:
        if rank != 0:
            return
        payload = {"format": CHECKPOINT_FORMAT, "arch": arch.name, "name": name, "step": at,
                   "options": options, "learning_rate": learning_rate,
                   "config": {k: v for k, v in asdict(config).items() if isinstance(v, (int, float, str, bool, type(None)))},
                   "trainer": trainer.state(), "rng": _rng_state(), "losses": [list(x) for x in losses],
                   "seconds": elapsed_before + (time.monotonic() - t0), "data": collection.summary(),
                   "warmup": trainer.warmup}
        try:
            write_checkpoint(ckpt_path, payload)
        except WriteError as exc:
            last = ""
            if ckpt_path.exists():
                last = " The last checkpoint is intact; free some space and continue with --resume."
            raise TrainingError(f"{exc} (training stopped at step {at}).{last}") from None

    start_step = step
    dataset = CropDataset(collection.train, config.size, config.seed, arch.needs)
    loader = _loader(dataset, config.batch, step, rank, world, workers, config.seed)
    t0 = time.monotonic()
    budget = config.minutes * 60.0 if config.minutes is not None and total is None else None
    finished = False
    rate_t, rate_step = t0, step
    rate = 0.0
    it = iter(loader)
    sample_photos = collection.held_out or collection.train
    last_sample = {"step": None, "t": t0}

    def samples(at: int) -> None:
        if on_samples is None or rank != 0 or last_sample["step"] == at:
            return
        from .samples import held_out_strip
        last_sample["step"], last_sample["t"] = at, time.monotonic()
        on_samples(at, held_out_strip(trainer, arch, sample_photos, config.size, config.samples_count))

    def samples_due(at: int) -> bool:
        if config.samples_every and at % int(config.samples_every) == 0:
            return True
        return bool(config.samples_minutes) and time.monotonic() - last_sample["t"] >= config.samples_minutes * 60.0

    try:
        samples(step)
        while True:
            if total is not None and step >= total:
                finished = True
                break
            # Every rank must take the same number of steps (each one's gradients wait for the others').
            if _agree(budget is not None and time.monotonic() - t0 >= budget, distributed and budget is not None, device):
                finished = True
                break
            if _agree(should_stop is not None and should_stop(), distributed, device):
                break
            batch = next(it)
            t_step = time.monotonic()
            report = trainer.step(batch)
            step += 1
            if not warmup_known and step - start_step == 2:
                # The budget's steps, estimated from this step's time (the first one is slower).
                trainer.warmup = _from_rank0(warmup_steps(budget / max(time.monotonic() - t_step, 1e-6)), distributed,
                                            device)
                warmup_known = True
            loss = report["loss"]
            if not math.isfinite(loss):
                raise TrainingError(f"the loss became {loss} at step {step} (the training diverged); lower the "
                                    f"learning rate or resume from the last checkpoint")
            losses.append((step, round(loss, 6)))
            now = time.monotonic()
            if now - rate_t >= 2.0 or rate == 0.0:
                rate = (step - rate_step) / max(now - rate_t, 1e-9)
                rate_t, rate_step = now, step
            if step % config.checkpoint_every == 0:
                save(step)
            if progress is not None:
                if total is not None:
                    progress(step, total)
                else:
                    progress(int(now - t0), int(budget))
            if on_step is not None:
                eta = (total - step) / rate if total is not None and rate > 0 else (
                    budget - (now - t0) if budget is not None else None)
                on_step(StepReport(step, total, report, rate, eta))
            if on_samples is not None and samples_due(step):
                samples(step)
    finally:
        del it, loader
    save(step)
    samples(step)
    result = TrainResult(name, finished, step, total, losses, checkpoint=ckpt_path)
    ranks = None
    if distributed and finished:
        # Each rank's final weights: DistributedDataParallel keeps them equal; the manifest shows it.
        digests = [None] * world
        torch.distributed.all_gather_object(digests, weights_digest(trainer.model_state()))
        ranks = {"world_size": world, "backend": torch.distributed.get_backend(), "weights_sha256": digests}
    if not finished or rank != 0:
        return result
    seconds = elapsed_before + (time.monotonic() - t0)
    scores = None
    if config.evaluate and collection.held_out:
        from .evaluate import evaluate
        scores = evaluate(trainer, arch, collection.held_out, config.size, limit=config.eval_limit).summary
    result.model_path, result.manifest_path, result.manifest = export(
        name, arch, trainer, options, collection, step, seconds, scores, config, device, distributed=ranks)
    return result


def export(name, arch, trainer, options, collection, step, seconds, scores, config, device, distributed=None):
    """Write the model file, then its manifest (the registration); both atomically."""
    import torch

    from .. import __version__
    from ..models import user as store
    from ..models.checkpoint import sha256_file
    model_path, manifest_path = store.model_paths(name)
    state = trainer.model_state()
    try:
        with atomic_path(model_path) as tmp:
            with open(tmp, "wb") as fh:
                torch.save(state, fh)
                fh.flush()
                os.fsync(fh.fileno())
        manifest = {
            "manifest_version": store.MANIFEST_VERSION, "name": name, "architecture": arch.name,
            "label": arch.label, "network": arch.network, "modes": [str(m) for m in arch.modes],
            "options": options, "model_file": model_path.name, "model_sha256": sha256_file(model_path),
            "model_bytes": model_path.stat().st_size, "data": collection.summary(), "steps": step,
            "seconds": round(seconds, 1), "size": config.size, "batch": config.batch, "seed": config.seed,
            "device": device.type, "started_from": config.start_from or "random weights",
            "held_out": scores, "software": f"Colorstudio {__version__}", "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "reference": arch.reference,
            "warmup_steps": trainer.warmup,
        }
        if distributed:
            manifest["distributed"] = distributed
        path = store.write_manifest(name, manifest)
    except WriteError as exc:
        raise TrainingError(f"{exc}; the training's checkpoint is intact: free some space and run the same "
                            f"command with --resume to write the model") from None
    return model_path, path, manifest
