"""Background work in the app: the one mechanism for everything off the GUI thread.

A job is a plain-Python object with ``run(runtime, progress, should_stop)`` (previews and
exports in :mod:`colorstudio.core.jobs`, opening a photo there too, installing a model in
:mod:`colorstudio.models.jobs`, a batch run in :mod:`colorstudio.core.batch.jobs`, a training
in :mod:`colorstudio.training.job`). The GUI runs every one of them here:

- :class:`WorkerThread` is the app's only kind of thread (the only ``QThread`` subclass in
  ``gui/``). It has no parent, so closing a widget never deletes a running thread, and it is
  tracked, so tests and the app can see what still runs.
- :class:`Worker` runs one job on a thread of its own and reports on the GUI thread:
  ``progressed(done, total)`` (thinned to a few a second; the last one held back is shown
  an interval later even if the job then stalls), ``noted(note)`` (plain data the job
  reports as it goes: a batch record, losses, a thumbnail), then exactly one of ``succeeded``,
  ``failed`` (one sentence) and ``cancelled``, and last ``finished``. ``cancel()`` makes the
  job's ``should_stop()`` true; a job that notices raises
  :class:`~colorstudio.core.jobs.Cancelled`. A running worker is kept alive by a registry
  until its thread has ended, whoever dropped it.
- :class:`Latest` is one owner of one kind of task (Orange3's ``concurrent.py``): starting a
  job cancels and detaches the one before, whose reports can never arrive any more.

The compute thread (:class:`colorstudio.gui.compute.ComputeThread`) is a long-lived
:class:`WorkerThread` that serves the latest-wins scheduler; every other job runs on a worker
of its own, so a download, a batch or a training never holds up a preview.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QThread, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import QDialog

log = logging.getLogger(__name__)

#: ``progressed`` reaches the GUI at most this often (seconds); a job's last step always does.
PROGRESS_INTERVAL = 0.05

_local = threading.local()


def describe_error(exc: BaseException, engine: str = "") -> str:
    """A sentence for the user: our own errors already are one; others get a short prefix."""
    if type(exc).__module__.startswith("colorstudio.") and isinstance(exc, (ValueError, RuntimeError, OSError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "there is not enough memory for this photo; try a smaller photo or close other programs"
    where = f"the {engine} engine" if engine else "the computation"
    return f"{where} failed: {type(exc).__name__}: {exc}"


def _expected(exc: BaseException) -> bool:
    """Errors a user can cause (they are reported, not logged with a traceback)."""
    return type(exc).__module__.startswith("colorstudio.") or isinstance(exc, (OSError, MemoryError))


def _running(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:   # its C++ object is gone: it does not run
        return False


class WorkerThread(QThread):
    """The app's one kind of background thread: runs ``body()`` once.

    No parent (a closing dialog never deletes it while it runs); every one is listed by
    :meth:`running_threads` while it runs.
    """

    _all: "weakref.WeakSet[WorkerThread]" = weakref.WeakSet()

    def __init__(self, body: Callable[[], None], name: str = "worker"):
        super().__init__()
        self.setObjectName(name)
        self._body = body
        WorkerThread._all.add(self)

    def run(self) -> None:
        self._body()

    @classmethod
    def running_threads(cls) -> list:
        """Threads of this class (subclasses included) that still run."""
        return [t for t in list(WorkerThread._all) if isinstance(t, cls) and _running(t)]


def current_worker() -> Optional["Worker"]:
    """The worker whose job runs on this thread (None elsewhere): code deep inside a job can
    ask it whether to stop."""
    return getattr(_local, "worker", None)


class Worker(QObject):
    """Runs one job on a :class:`WorkerThread`; every signal arrives on the GUI thread.

    Connect first, then :meth:`start`. ``runtime`` is handed to ``job.run`` (None for jobs
    that need no engines, or build their own).
    """

    progressed = Signal(object, object)   # done, total (0 when unknown); numbers, thinned
    noted = Signal(object)                # plain data the job reports as it goes
    succeeded = Signal(object)            # what ``run`` returned
    failed = Signal(str)                  # one sentence
    cancelled = Signal()                  # the job stopped because it was asked to
    finished = Signal()                   # the thread has ended; always last

    # Emitted on the worker thread; relayed by the slots below, which run on the GUI thread.
    _t_progressed = Signal(object, object)
    _t_noted = Signal(object)
    _t_succeeded = Signal(object)
    _t_failed = Signal(str)
    _t_cancelled = Signal()

    _live: "set[Worker]" = set()   # started and not yet finished: kept alive here

    def __init__(self, job, *, runtime=None, name: Optional[str] = None,
                 progress_interval: float = PROGRESS_INTERVAL):
        super().__init__()
        self.job = job
        self._runtime = runtime
        self._interval = progress_interval
        self._stop = threading.Event()
        self._detached = False
        self._last = 0.0
        self._held = None        # the newest (done, total) thinning held back, until the timer shows it
        self._held_lock = threading.Lock()
        self._started = False
        self._ended = False
        self._thread = WorkerThread(self._run, name or f"worker_{type(job).__name__}")
        q = Qt.ConnectionType.QueuedConnection
        self._t_progressed.connect(self._relay_progressed, q)
        self._t_noted.connect(self._relay_noted, q)
        self._t_succeeded.connect(self._relay_succeeded, q)
        self._t_failed.connect(self._relay_failed, q)
        self._t_cancelled.connect(self._relay_cancelled, q)
        self._thread.finished.connect(self._thread_finished, q)
        # A report held back by the thinning is shown a moment later even if no other follows
        # (a download stalled at 47 % must not sit at 45 %).
        self._flush = QTimer(self)
        self._flush.setInterval(max(1, int(progress_interval * 1000)))
        self._flush.timeout.connect(self._show_held)

    # -- the GUI thread's side -------------------------------------------------------------------
    def on(self, **slots: Callable) -> "Worker":
        """``worker.on(succeeded=..., failed=...)``: connect public signals by name."""
        for name, slot in slots.items():
            if slot is not None:
                getattr(self, name).connect(slot)
        return self

    def start(self) -> "Worker":
        if self._started:
            raise RuntimeError("a worker runs its job once")
        self._started = True
        Worker._live.add(self)
        self._thread.start()
        if self._interval > 0:
            self._flush.start()
        return self

    def cancel(self) -> None:
        """Ask the job to stop (its ``should_stop()`` turns true); it reports ``cancelled``
        when it stops early, or its result when it was already done."""
        self._stop.set()

    def detach(self) -> None:
        """Cancel, and report nothing any more but ``finished`` (the job was superseded)."""
        self._detached = True
        self.cancel()

    @property
    def cancelling(self) -> bool:
        return self._stop.is_set()

    @property
    def detached(self) -> bool:
        return self._detached

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def isRunning(self) -> bool:   # noqa: N802 - reads like QThread's
        """True while the job's thread runs."""
        return self._thread.isRunning()

    @property
    def done(self) -> bool:
        """True once ``finished`` has been emitted."""
        return self._ended

    def wait(self, timeout_ms: Optional[int] = None) -> bool:
        """Block until the thread has ended (at most ``timeout_ms``); True when it has."""
        if not self._started:
            return True
        return self._thread.wait() if timeout_ms is None else self._thread.wait(int(timeout_ms))

    @classmethod
    def live(cls) -> list:
        """Workers started and not yet finished (their ``finished`` not yet delivered)."""
        return list(cls._live)

    @classmethod
    def shutdown_all(cls, timeout_ms: int = 30000) -> bool:
        """Cancel every live worker and wait for their threads, within ``timeout_ms`` in all."""
        workers = cls.live()
        for w in workers:
            w.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for w in workers:
            left = max(0, int(1000 * (deadline - time.monotonic())))
            ok = w.wait(left) and ok
        return ok

    @Slot(object, object)
    def _relay_progressed(self, done, total) -> None:
        if not self._detached:
            self.progressed.emit(done, total)

    @Slot()
    def _show_held(self) -> None:
        with self._held_lock:
            held, self._held = self._held, None
        if held is not None and not self._detached:
            self.progressed.emit(*held)

    @Slot(object)
    def _relay_noted(self, note) -> None:
        if not self._detached:
            self.noted.emit(note)

    @Slot(object)
    def _relay_succeeded(self, out) -> None:
        if not self._detached:
            self.succeeded.emit(out)

    @Slot(str)
    def _relay_failed(self, text: str) -> None:
        if not self._detached:
            self.failed.emit(text)

    @Slot()
    def _relay_cancelled(self) -> None:
        if not self._detached:
            self.cancelled.emit()

    @Slot()
    def _thread_finished(self) -> None:
        # QThread.finished is sent just before the thread returns: wait the last instant, so
        # that dropping the worker now can never destroy a thread that still runs.
        self._thread.wait()
        self._flush.stop()
        self._ended = True
        try:
            self.finished.emit()
        finally:
            # Let go of it from an event of its own: an object must not be deleted inside its own slot.
            QTimer.singleShot(0, functools.partial(Worker._live.discard, self))

    # -- the worker thread's side ---------------------------------------------------------------
    def _progress(self, done=None, total=0, note: Any = None) -> None:
        """``progress(done, total, note=None)``: counts, and/or a note of plain data."""
        if note is not None:
            self._t_noted.emit(note)
        if done is None:
            return
        now = time.monotonic()
        with self._held_lock:
            if now - self._last >= self._interval or (total and done >= total):
                self._last = now
                self._held = None
                self._t_progressed.emit(done, total or 0)
            else:
                self._held = (done, total or 0)   # shown by the GUI thread's timer if nothing newer comes

    def _run(self) -> None:
        from ..core.jobs import Cancelled
        _local.worker = self
        try:
            out = self.job.run(self._runtime, self._progress, self.should_stop)
        except Cancelled:
            self._t_cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure is a sentence; none kills the app
            if not _expected(exc):
                log.error("the background job %r failed", self.job, exc_info=exc)
            describe = getattr(self.job, "describe_error", None)
            try:
                text = describe(exc) if describe is not None else describe_error(exc)
            except Exception:  # noqa: BLE001
                text = describe_error(exc)
            self._t_failed.emit(str(text))
        else:
            self._t_succeeded.emit(out)
        finally:
            _local.worker = None


class Latest(QObject):
    """One owner of one kind of background task: the latest job wins.

    :meth:`start` cancels and detaches the job under way (its reports never arrive), and
    keeps it tracked until its thread ends; :meth:`shutdown` cancels all and waits.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.current: Optional[Worker] = None
        self._workers: set[Worker] = set()

    def start(self, job, *, runtime=None, name: Optional[str] = None, **slots: Callable) -> Worker:
        """Run ``job``, superseding the one under way; ``slots`` are connected before it starts."""
        self.supersede()
        w = Worker(job, runtime=runtime, name=name).on(**slots)
        w.finished.connect(self._reap)
        self.current = w
        self._workers.add(w)
        return w.start()

    def supersede(self) -> None:
        """Cancel and detach the job under way, if any."""
        w, self.current = self.current, None
        if w is not None:
            w.detach()

    def is_current(self, worker: Worker) -> bool:
        return worker is self.current

    @property
    def running(self) -> bool:
        """True while any job's thread (superseded ones included) still runs."""
        return any(w.isRunning() for w in self._workers)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel every job and wait for their threads (at most ``timeout_ms`` in all)."""
        self.supersede()
        workers = list(self._workers)
        for w in workers:
            w.detach()
        deadline = time.monotonic() + timeout_ms / 1000
        ok = True
        for w in workers:
            ok = w.wait(max(0, int(1000 * (deadline - time.monotonic())))) and ok
        return ok

    @Slot()
    def _reap(self) -> None:
        worker = self.sender()
        self._workers.discard(worker)
        if self.current is worker:
            self.current = None


class JobDialog(QDialog):
    """A dialog that runs one :class:`Worker` at a time (``self.job``): the Models, Batch and
    Train dialogs.

    Closing it while its job runs cancels the job and hides the dialog; it closes for good
    when the job has stopped (its ``_job_finished`` calls :meth:`_close_if_asked`).
    :meth:`reopen` shows it again meanwhile. :meth:`shutdown` (the window is closing) cancels
    and waits, bounded. Subclasses provide ``cancel()`` and may release their own helpers in
    :meth:`_release`.
    """

    #: How long :meth:`shutdown` waits for the job to stop (milliseconds).
    SHUTDOWN_MS = 60000

    def __init__(self, parent=None):
        super().__init__(parent)
        self.job: Optional[Worker] = None
        self._close_when_done: Optional[int] = None

    def cancel(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _release(self) -> None:
        """Stop what the dialog runs besides its job (closing or shutting down)."""

    def _close_if_asked(self) -> None:
        """The job has stopped: close now if the user closed the dialog while it ran."""
        if self._close_when_done is not None:
            result, self._close_when_done = self._close_when_done, None
            self._release()
            QDialog.done(self, result)

    def done(self, result: int) -> None:
        """Close; a running job is cancelled first and the dialog closes when it has stopped."""
        if self.job is not None and self.job.isRunning():
            self.cancel()
            self._close_when_done = result
            self.hide()
            return
        self._release()
        super().done(result)

    def reopen(self) -> None:
        """Show again (e.g. the user asked for the dialog while a cancelled job winds down)."""
        self._close_when_done = None
        self.show()
        self.raise_()
        self.activateWindow()

    def shutdown(self, timeout_ms: Optional[int] = None) -> bool:
        """Stop a running job and wait for it (the window is closing); True when none runs."""
        self._release()
        job = self.job
        if job is None:
            return True
        self._stopping()
        job.cancel()
        return job.wait(self.SHUTDOWN_MS if timeout_ms is None else timeout_ms)

    def _stopping(self) -> None:
        """Unblock anything the job may be waiting on before it is cancelled at shutdown."""
