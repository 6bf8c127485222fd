"""Photos on worker processes (``--jobs N`` with N > 1): the whole per-photo step in each.

Threads share one interpreter, and the step still has stretches of Python that hold the GIL
(the solve's set-up, metadata, the PNG filter's many numpy calls), so two compute threads do
not keep two cores busy. Here each of ``jobs`` worker processes runs
``step.process_photo`` for whole photos, decode to rename, with a runtime built once per
process (engines and models loaded once per worker, reused for every photo it is given).

* Spawned, never forked: the app and the coordinator hold threads and locks, which a fork
  would copy in whatever state they were.
* Memory is bounded: a worker holds one photo at a time; the coordinator queues at most
  ``in_flight`` tasks, and a task is only paths.
* Only the coordinator touches the manifest: workers return records, in the order they finish.
* A worker dies with the coordinator (Linux: ``PR_SET_PDEATHSIG``), so a killed batch never
  leaves a process writing behind it; what it was writing is a hidden ``.part`` file that the
  next run removes. Ctrl+C goes to the coordinator only; it lets the photos in flight finish.
* A worker that dies (the system ran out of memory) fails its photo with a sentence; the pool
  is rebuilt and the batch goes on.
* Each worker's native thread pools (OpenBLAS, OpenMP: the solve's and torch's) get the cores
  divided by the workers, as Ray does for its actors: N workers each spinning up as many BLAS
  threads as there are cores only fight over them (measured: 20-25 % slower with 2 workers on
  2 cores).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Optional

from ..machine import usable_cores
from . import step
from .step import BatchSettings, EngineCache, PhotoTask

_worker: dict = {}   # in a worker process only: its settings and its runtime


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - no prctl: the pipe's EOF ends the worker
            pass
    if os.getppid() != parent:  # the coordinator died before the line above took effect
        os._exit(1)


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _limit_native_threads(threads: int) -> tuple:
    """At most ``threads`` threads in this process's native pools: for libraries loaded later
    through the environment (unless the user set it), for those loaded already through
    threadpoolctl where it is installed. Returns (the variables it set, threadpoolctl's
    limiter or None), so that a caller sharing its process can undo it."""
    set_here = [name for name in _THREAD_VARIABLES if name not in os.environ]
    for name in set_here:
        os.environ[name] = str(threads)
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - an optional refinement
            return set_here, None
        return set_here, threadpool_limits(threads)
    return set_here, None


def _start_worker(settings: BatchSettings, parent: int, threads: int = 1) -> None:
    """A worker's initializer: one runtime for its life; Ctrl+C is the coordinator's business."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    _limit_native_threads(threads)
    _worker["settings"] = settings
    _worker["runtime"] = EngineCache()


def _photo(task: PhotoTask) -> tuple[dict, int, int]:
    """(record, this worker's process id, engines it has built so far)."""
    runtime = _worker["runtime"]
    return step.process_photo(task, _worker["settings"], runtime), os.getpid(), runtime.built


class ProcessPipeline:
    """An executor with ``submit(task) -> Future[record]``, ``in_flight`` and ``close``, like
    ``run.LocalPipeline``, on ``jobs`` spawned worker processes."""

    def __init__(self, settings: BatchSettings, *, jobs: int = 2):
        self.settings = settings
        self.jobs = max(1, int(jobs))
        self.in_flight = 2 * self.jobs   # one photo in each worker and one waiting for it
        #: Engines built so far by each worker process, by its process id.
        self.engines_built: dict[int, int] = {}
        #: Native threads (BLAS, OpenMP) each worker may use: the cores shared out.
        self.threads_per_worker = max(1, usable_cores() // self.jobs)
        self._pool: Optional[ProcessPoolExecutor] = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(self.settings, os.getpid(), self.threads_per_worker))
        return self._pool

    def submit(self, task: PhotoTask) -> Future:
        out: Future = Future()
        pool = self._executor()
        try:
            inner = pool.submit(_photo, task)
        except (BrokenProcessPool, RuntimeError):   # broke (or was shut down) since its last photo
            if self._pool is pool:
                self._pool = None
            pool = self._executor()
            inner = pool.submit(_photo, task)

        def done(f: Future) -> None:
            try:
                record, pid, built = f.result()
                self.engines_built[pid] = built
            except BrokenProcessPool:
                record = dict(step._record(task), status="failed",
                              error="the worker process colorizing it stopped (out of memory?); "
                                    "try again with fewer --jobs or use --retry-failed")
                if self._pool is pool:
                    self._pool = None   # the next photo gets a fresh pool
                    pool.shutdown(wait=False, cancel_futures=True)
            except BaseException as exc:  # noqa: BLE001 - the coordinator records it, the batch goes on
                record = dict(step._record(task), status="failed", error=step.describe_error(exc))
            out.set_result(record)
        inner.add_done_callback(done)
        return out

    def close(self, cancel: bool = False) -> None:
        if self._pool is not None:
            # Wait even when cancelling: the photos being written finish and are renamed into place.
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
