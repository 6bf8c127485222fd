"""Running a batch: walk, plan, overlap decoding, colorizing and encoding, record each photo.

One coordinator (the calling thread) walks SOURCE_DIR, owns the manifest and hands photos to
an executor, a few at a time, so memory stays bounded whatever the folder's size:

* ``LocalPipeline`` (the default): decoding and encoding on a small I/O thread pool,
  colorizing on ``jobs`` compute threads, each with its own runtime (engines built once per
  worker, reused for every photo), or the one runtime given (as the app does).
* ``colorstudio.core.batch.processes.ProcessPipeline`` (``pool="processes"``, the CLI's
  ``--processes``): ``jobs`` worker processes, each doing whole photos with a runtime of its
  own. On the 2-core machine of bench/results/batch.md the threads were faster (no start-up,
  shared memory); processes are for machines with many cores, where one interpreter's lock
  would hold the threads back.
* ``colorstudio.core.batch.cluster.RayPool``: the same per-photo function on a Ray actor pool.

Nothing is written when ``dry_run``; otherwise OUTPUT_DIR is locked for the run.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

from ..machine import available_memory, usable_cores
from . import step
from .manifest import BatchLock, Manifest
from .plan import MANIFEST_NAME, BatchError, Entry, check_folders, output_names, walk
from .step import BatchSettings, EngineCache, PhotoTask

OnRecord = Callable[[dict], None]


#: ``pool="auto"`` runs worker processes from this many photos (with ``jobs`` >= 2): their
#: start (a second or two each, spent once) is then repaid; below it, threads start at once.
AUTO_PROCESSES_FROM = 24


def choose_pool(pool: str, settings, jobs: int, photos: int, runtime=None) -> str:
    """"threads" or "processes" for ``pool`` ("auto", "threads" or "processes").

    Auto picks worker processes for a batch of at least :data:`AUTO_PROCESSES_FROM` photos
    on ``jobs`` >= 2 workers that run on the CPU: on two cores they used 5-10 % less CPU
    than threads on large folders (bench/results/batch.md), and they help more on machines
    with many cores, where one interpreter's lock holds threads back. Threads otherwise:
    for a few photos, with a runtime shared with the app, and where a network may run on a
    GPU (one runtime feeds it several photos at once, see :func:`photos_together`; processes
    would each load the model there).
    """
    if pool not in ("auto", "threads", "processes"):
        raise BatchError(f"the worker pool must be auto, threads or processes, not {pool!r}")
    if runtime is not None:
        return "threads"     # the runtime lives in this process: its threads use it
    if pool != "auto":
        return pool
    if jobs < 2 or photos < AUTO_PROCESSES_FROM:
        return "threads"
    return "threads" if network_may_use_gpu(settings) else "processes"


#: ``--jobs auto`` (the command line's default) starts at most this many workers on one
#: machine, and at most one per this much available memory (a worker holds a photo or two
#: in flight: about 0.35 GB each with 1-12 MP photos, bench/results/batch.md).
AUTO_JOBS_MAX = 8
WORKER_MEMORY = 1 << 30


def default_jobs(settings) -> int:
    """Workers for a batch that did not say how many (``--jobs auto``): one where a network
    may run on a GPU (one runtime feeds it, several photos a pass: see
    :func:`photos_together`), else one per core this process may use, at most
    :data:`AUTO_JOBS_MAX` and one per :data:`WORKER_MEMORY` of available memory."""
    if network_may_use_gpu(settings):
        return 1
    jobs = min(usable_cores(), AUTO_JOBS_MAX)
    memory = available_memory()
    if memory is not None:
        jobs = min(jobs, memory // WORKER_MEMORY)
    return max(1, int(jobs))


def network_may_use_gpu(settings) -> bool:
    """Whether this batch's photos may go through a network on a GPU (told without importing
    torch): its engine runs on GPUs (in document mode, any photo's may) and one may be here."""
    if settings.engine:
        from ...engines.registry import ENGINES
        spec = ENGINES.get(settings.engine)
        on_gpu = spec is None or spec.runs_on_gpu
    else:
        on_gpu = True   # document mode: each photo's document names its engine, which may be a network
    return on_gpu and gpu_may_be_used(settings.device)


def photos_together(settings, pool: str) -> int:
    """How many photos of one size a compute thread puts through a network in one pass: the
    settings' ``together``, else :data:`step.GPU_TOGETHER` on threads where a network may
    run on a GPU (where one pass for several photos keeps the device busy), else 1."""
    if pool != "threads":
        return 1
    return step.together_for(settings, network_may_use_gpu(settings))


def gpu_may_be_used(device: str) -> bool:
    """Whether a neural engine on ``device`` might run on a GPU here, told without importing
    torch (the weight-free path never does): not on "cpu", not without torch, not where no
    GPU driver's device shows (Linux: NVIDIA's /dev/nvidiactl, AMD ROCm's /dev/kfd); Apple
    silicon (MPS) and systems this cannot look into count as maybe."""
    import importlib.util
    import sys
    if device == "cpu" or importlib.util.find_spec("torch") is None:
        return False
    if sys.platform.startswith("linux"):
        cuda_hidden = os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1")
        return (os.path.exists("/dev/nvidiactl") and not cuda_hidden) or os.path.exists("/dev/kfd")
    return True


@dataclass
class Summary:
    """What a batch did. ``counts``: done (colorized now), up_to_date, failed, skipped, and
    planned (a dry run's would-be work)."""

    manifest: Path
    total: int = 0
    counts: dict = field(default_factory=lambda: {"done": 0, "up_to_date": 0, "failed": 0, "skipped": 0,
                                                  "planned": 0})
    seconds: float = 0.0
    dry_run: bool = False
    pool: str = ""           # "threads", "processes" or "ray": what ran the photos
    jobs: int = 0            # how many workers (threads, processes or Ray actors) ran them

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    def add(self, record: dict) -> None:
        if record.get("up_to_date"):
            self.counts["up_to_date"] += 1
        else:
            self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1

    def sentence(self) -> str:
        c = self.counts
        if self.dry_run:
            return (f"dry run: {c['planned']} photos would be colorized, {c['up_to_date']} are up to date, "
                    f"{c['skipped']} would be skipped, {c['failed']} cannot be done; nothing was written")
        kind = {"processes": "worker processes", "threads": "worker threads", "ray": "Ray actors"}.get(self.pool)
        on = f" on {self.jobs} {kind}" if kind and self.jobs > 1 and c["done"] + c["failed"] else ""
        return (f"{c['done']} colorized, {c['up_to_date']} up to date, {c['skipped']} skipped, {c['failed']} failed "
                f"in {self.seconds:.1f} s{on}; the manifest is {self.manifest}")


class LocalPipeline:
    """Decode and encode on ``io_threads`` threads, colorize on ``jobs`` threads with a runtime each.

    ``together`` > 1: a compute thread takes the photo that has waited longest for it with up
    to ``together`` - 1 others waiting (decoded already) that go through its engine's network
    in the same pass (``step.together_key``: same engine and working size), so a GPU gets
    several photos at once; the photos in flight grow by as many."""

    def __init__(self, settings: BatchSettings, *, jobs: int = 1, io_threads: int = 2,
                 runtime_factory: Callable[[], object] = EngineCache, runtime=None, together: int = 1):
        self.settings = settings
        self.jobs = max(1, int(jobs))
        self.together = max(1, int(together))
        self._waiting: list = []    # (work, future) decoded and waiting for a compute thread
        self._local = threading.local()
        self._factory = runtime_factory
        self._shared = runtime
        self._runtimes: list = []
        self._lock = threading.Lock()
        self.io = ThreadPoolExecutor(max(1, io_threads), thread_name_prefix="batch-io")
        self.compute = ThreadPoolExecutor(self.jobs, thread_name_prefix="batch-compute")
        # A driver per photo in flight: it only waits on the stage pools.
        self.in_flight = self.in_flight_for(self.jobs, self.together, io_threads)
        self.drivers = ThreadPoolExecutor(self.in_flight, thread_name_prefix="batch-photo")
        # The cores shared out among the compute threads' BLAS and OpenMP pools, as the worker
        # processes do (processes.py): with a pool of a thread per core behind each compute
        # thread, the pools' threads wait for work spinning, and fight the other photos for
        # the cores (1-1.5 s more CPU in a 12-photo batch on two cores). Pools loaded already
        # (numpy's BLAS) are resized; those the first photos load (SciPy's BLAS under SuperLU,
        # torch's OpenMP) read the environment. Resizing a pool while another thread is inside
        # it is not safe with every BLAS, so it is done now, before any photo. Process-wide,
        # so only for a batch's own runtimes, not the app's, and undone by close().
        self._set_env, self._limits = [], None
        if runtime is None and self.jobs > 1:
            from .processes import _limit_native_threads
            self._set_env, self._limits = _limit_native_threads(max(1, usable_cores() // self.jobs))

    @staticmethod
    def in_flight_for(jobs: int, together: int = 1, io_threads: int = 2) -> int:
        """Photos in flight: one colorizing per job (with the others waiting to go with it),
        one decoding or encoding per I/O thread, and one more decoded and waiting."""
        return max(1, jobs) + max(1, io_threads) + 1 + (max(1, together) - 1)

    def _runtime(self):
        if self._shared is not None:
            return self._shared
        rt = getattr(self._local, "runtime", None)
        if rt is None:
            rt = self._local.runtime = self._factory()
            with self._lock:
                self._runtimes.append(rt)
        return rt

    def _one(self, task: PhotoTask) -> dict:
        s = self.settings
        w = self.io.submit(step.load, task, s).result()
        if not w.done:
            if self.together > 1:
                item = (w, Future())
                with self._lock:
                    self._waiting.append(item)
                job = self.compute.submit(self._colorize_waiting)
                job.add_done_callback(lambda f: self._drop(item) if f.cancelled() else None)
                w = item[1].result()      # CancelledError when the batch was cancelled first
            else:
                w = self.compute.submit(lambda: step.colorize(w, s, self._runtime())).result()
        if not w.done:
            w = self.io.submit(step.save, w, s).result()
        return w.record

    def _drop(self, item) -> None:
        """A cancelled compute call: its photo, if no other call took it, is given up."""
        with self._lock:
            if item in self._waiting:
                self._waiting.remove(item)
                item[1].cancel()

    def _colorize_waiting(self) -> None:
        """On a compute thread (one call per photo waiting): the photo that has waited
        longest, with those waiting that go through the network with it; nothing when
        another call took this call's photo already."""
        with self._lock:
            if not self._waiting:
                return
            group = [self._waiting.pop(0)]
        first = group[0][0]
        try:
            runtime = self._runtime()
            key = step.together_key(first, self.settings, runtime)
            if key is not None:
                with self._lock:     # the same engine, built already: no loading under the lock
                    for item in list(self._waiting):
                        if len(group) >= self.together:
                            break
                        if item[0].engine == first.engine and step.together_key(item[0], self.settings,
                                                                                runtime) == key:
                            self._waiting.remove(item)
                            group.append(item)
            step.colorize_together([w for w, _ in group], self.settings, runtime)
        except BaseException as exc:  # noqa: BLE001 - each photo's driver gets its record
            for w, _ in group:
                if not w.done:
                    step._finish(w, "failed", step.describe_error(exc))
        for w, fut in group:
            fut.set_result(w)

    def submit(self, task: PhotoTask) -> Future:
        return self.drivers.submit(self._one, task)

    @property
    def runtimes(self) -> list:
        return list(self._runtimes)

    def close(self, cancel: bool = False) -> None:
        for pool in (self.drivers, self.compute, self.io):
            pool.shutdown(wait=not cancel, cancel_futures=cancel)
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None
        for name in self._set_env:      # pools loaded meanwhile keep their size; new ones do not
            os.environ.pop(name, None)
        self._set_env = []


def count_photos(source: Path, recursive: bool, avoid: Optional[Path] = None) -> int:
    """How many candidate photos a walk meets (a second, cheap pass for progress totals)."""
    return sum(1 for e in walk(source, recursive=recursive, avoid=avoid) if not e.skip)


def _tasks(entries: Iterator[Entry], src: Path, out: Path, fmt: str, manifest: Optional[Manifest],
           on_skip: Callable[[dict], None], only: Optional[set] = None) -> Iterator[PhotoTask]:
    """Tasks from the walk, folder by folder (so clashing stems in a folder are told apart)."""
    folder: Optional[str] = None
    batch: list[Entry] = []

    def flush():
        names = output_names([e.rel for e in batch], fmt)
        for e in batch:
            if only is not None and e.rel not in only:
                continue
            prior = manifest.get(e.rel) if manifest is not None else None
            yield PhotoTask(str(e.path), e.rel, str(out / names[e.rel]), names[e.rel], prior)

    for e in entries:
        if e.skip:
            if only is None:
                on_skip({"source": e.rel, "status": "skipped", "error": e.skip})
            continue
        parent = e.rel.rpartition("/")[0]
        if parent != folder and batch:
            yield from flush()
            batch = []
        folder = parent
        batch.append(e)
    if batch:
        yield from flush()


def _clean_partials(folder: Path, cleaned: set) -> None:
    """Remove temporaries a killed batch left in an output folder (we hold the lock)."""
    if folder in cleaned:
        return
    cleaned.add(folder)
    if folder.is_dir():
        for part in folder.glob(".*.part"):
            part.unlink(missing_ok=True)


def run_batch(source, output, settings: BatchSettings, *, recursive: bool = False, jobs: Optional[int] = 1,
              dry_run: bool = False, retry_failed: bool = False, on_record: Optional[OnRecord] = None,
              on_start: Optional[Callable[[int], None]] = None, cluster: Optional[str] = None,
              runtime=None, should_stop: Optional[Callable[[], bool]] = None,
              in_flight: Optional[int] = None, pool: str = "auto") -> Summary:
    """Colorize every photo of ``source`` into ``output`` (see the package's docstring).

    ``on_record(record)`` is called as each photo finishes (also for files skipped by the
    walk and photos already up to date); ``on_start(total)`` once the number of candidate
    photos is known. ``cluster``: "ray" or "ray:ADDRESS" to run the photos on Ray.
    ``runtime``: one engine provider shared by the workers (else one is built per worker).
    ``should_stop()`` is asked right before each photo is handed out (after waiting for room
    in the pipeline), so it may also block to pause the batch; True stops it after the photos
    in flight. ``in_flight``: at most this many photos at once (the app's batch uses 1).
    ``pool``: "threads" (``LocalPipeline``), "processes" (``jobs`` worker processes; not with
    a ``runtime``, which lives in this process) or "auto" (see :func:`choose_pool`).
    ``jobs`` None: as many as suit this machine (:func:`default_jobs`), or on a cluster one
    actor per CPU (per GPU where it has GPUs).
    Raises BatchError (a sentence) when the batch cannot start.
    """
    t0 = time.perf_counter()
    src, out = check_folders(source, output)
    settings = step.settings_for_start(settings)
    if runtime is None and not cluster:
        # A runtime handed in provides its own engines; a cluster's machines hold their own models.
        step.check_models_here(settings)
    summary = Summary(out / MANIFEST_NAME, dry_run=dry_run)

    def emit(record: dict) -> None:
        summary.add(record)
        if on_record is not None:
            on_record(record)

    if dry_run:
        manifest = Manifest.open(out, readonly=True) if out.is_dir() else None
        try:
            if manifest is not None:
                manifest.claim(src)
            only = manifest.failed_sources() if (retry_failed and manifest is not None) else (
                set() if retry_failed else None)
            summary.total = count_photos(src, recursive, out) if only is None else len(only)
            if on_start:
                on_start(summary.total)
            for task in _tasks(walk(src, recursive=recursive, avoid=out), src, out, settings.fmt, manifest, emit, only):
                emit(step.load(task, settings, decide_only=True).record)
        finally:
            if manifest is not None:
                manifest.close()
        summary.seconds = time.perf_counter() - t0
        return summary

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"could not create the output folder {out}: {exc.strerror or exc}") from None
    with BatchLock(out):
        manifest = Manifest.open(out)
        try:
            manifest.claim(src)
            only = manifest.failed_sources() if retry_failed else None
            summary.total = count_photos(src, recursive, out) if only is None else len(only)
            if on_start:
                on_start(summary.total)
            if jobs is None and not cluster:
                jobs = 1 if runtime is not None else default_jobs(settings)
            pool = "ray" if cluster else choose_pool(pool, settings, jobs, summary.total, runtime)
            summary.pool = pool
            if cluster:
                from .cluster import RayPool
                executor = RayPool(settings, cluster, jobs=jobs)
            elif pool == "processes":
                from .processes import ProcessPipeline
                executor = ProcessPipeline(settings, jobs=jobs)
            else:
                together = photos_together(settings, pool)
                if in_flight:      # no more photos go together than are in flight (the app's batch: 1)
                    together = min(together, int(in_flight))
                executor = LocalPipeline(settings, jobs=jobs, runtime=runtime, together=together)
            summary.jobs = len(executor.actors) if cluster else jobs
            if in_flight:
                executor.in_flight = max(1, min(executor.in_flight, int(in_flight)))
            cleaned: set = set()

            def skipped(record: dict) -> None:
                manifest.put(record)
                emit(record)

            def finished(fut: Future) -> None:
                record = fut.result()
                if not record.get("up_to_date"):
                    manifest.put(record)
                emit(record)

            pending: set = set()
            stopped = False
            try:
                for task in _tasks(walk(src, recursive=recursive, avoid=out), src, out, settings.fmt, manifest,
                                   skipped, only):
                    while len(pending) >= executor.in_flight:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in done:
                            finished(fut)
                    if should_stop is not None and should_stop():
                        stopped = True
                        break
                    _clean_partials(Path(task.output).parent, cleaned)
                    foreign = Path(task.output).exists() and not settings.overwrite
                    if (task.prior is None or task.prior.get("output") != task.output_rel) and not foreign:
                        # Claim the output name before any file appears under it (a file already
                        # there that this batch did not make is left alone, and the photo fails).
                        manifest.mark_running(task.rel, task.output_rel)
                        task = PhotoTask(task.source, task.rel, task.output, task.output_rel,
                                         manifest.get(task.rel) if task.prior else
                                         {"output": task.output_rel, "status": "running"})
                    pending.add(executor.submit(task))
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        finished(fut)
            except BaseException:
                executor.close(cancel=True)
                raise
            executor.close(cancel=stopped)
        finally:
            manifest.close()
    summary.seconds = time.perf_counter() - t0
    return summary
