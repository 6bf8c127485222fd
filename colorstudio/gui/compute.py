"""The one compute thread: the Qt adapter between the window and the runtime.

The runtime (:class:`colorstudio.core.runtime.Runtime`, plain Python) owns engines, models
and per-photo sessions; jobs (:mod:`colorstudio.core.jobs`) are frozen snapshots with
``run(runtime, progress, should_stop)``. ``ComputeThread`` runs
:func:`colorstudio.core.scheduler.serve` over them; ``Compute`` is what the window talks
to: it submits jobs to the latest-wins :class:`~colorstudio.core.scheduler.Scheduler` and
re-emits accepted results on the GUI thread. Results cross threads as numpy arrays and
small dataclasses.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal, Slot

from ..core.jobs import (DRAG_PREVIEW_SIDE, FULL_PREVIEW_SIDE, HOUSEKEEPING, QUIET,  # noqa: F401 (re-exported)
                         Cancelled, DetectDevices, Detail, DetailJob, EngineChoice, Exported, ExportJob, PreviewJob,
                         PreviewResult, Reach, ReachJob, SuggestJob, Suggestions, Thumbnail,
                         ThumbnailJob, Tidy)
from ..core.runtime import Runtime, default_engine_factory  # noqa: F401 (re-exported)
from ..core.scheduler import Request, Scheduler, SchedulerClosed, serve
from .workers import WorkerThread, describe_error  # noqa: F401 (describe_error re-exported)

log = logging.getLogger(__name__)


class ComputeRunner:
    """Runs jobs on the compute thread with one Runtime: every method runs there, except
    :meth:`forget`, which the GUI thread calls."""

    def __init__(self, runtime: Runtime, progress: Optional[Callable[[Request, int, int], None]] = None):
        self.runtime = runtime
        self._progress = progress

    def forget(self, name: str) -> None:
        self.runtime.forget(name)

    def cached_engines(self) -> dict:
        return self.runtime.cached_engines()

    @property
    def engines_built(self):
        return self.runtime.engines_built

    def compute(self, req: Request, should_stop: Callable[[], bool], yield_point: Callable[[], None]):
        job = req.payload
        if not getattr(job, "long", False):
            return job.run(self.runtime, None, should_stop)

        def progress(done=None, total=0, note=None) -> None:
            if self._progress is not None and done is not None:
                self._progress(req, int(done), int(total or 0))
            yield_point()   # previews asked for meanwhile run now, between the job's steps
        return job.run(self.runtime, progress, should_stop)

    def close(self) -> None:
        self.runtime.close()


class ComputeThread(WorkerThread):
    """The long-lived worker thread (gui/workers.py) that serves the scheduler with a ComputeRunner."""

    delivered = Signal(object, object)   # Request, result
    failed = Signal(object, str)         # Request, a sentence
    dropped = Signal(object)             # Request that stopped early
    settled = Signal()                   # a request is no longer in flight
    progress = Signal(object, int, int)  # Request, done, total

    def __init__(self, scheduler: Scheduler, workshop: ComputeRunner):
        super().__init__(self._serve, "computeThread")
        self._scheduler = scheduler
        self._workshop = workshop

    def _serve(self) -> None:
        # Each outcome is sent after the request has left the scheduler, ``settled`` first,
        # so that a slot receiving a result already sees an accurate busy state.
        outcome: dict = {}

        def deliver(req: Request, out) -> None:
            outcome[req.generation] = (self.delivered, (req, out))

        def fail(req: Request, exc: BaseException) -> None:
            name = getattr(getattr(req.payload, "engine", None), "name", "")
            if not type(exc).__module__.startswith("colorstudio."):
                log.error("compute request %s failed", req.generation, exc_info=exc)
            outcome[req.generation] = (self.failed, (req, describe_error(exc, name)))

        def dropped(req: Request) -> None:
            outcome[req.generation] = (self.dropped, (req,))

        def finished(req: Request) -> None:
            self.settled.emit()
            signal, args = outcome.pop(req.generation, (None, ()))
            if signal is not None:
                signal.emit(*args)

        try:
            serve(self._scheduler, self._workshop.compute, deliver, fail,
                  cancelled=(Cancelled,), dropped=dropped, finished=finished)
        finally:
            self._workshop.close()


class Compute(QObject):
    """The GUI side of the compute thread: submit snapshots, receive accepted results."""

    preview_ready = Signal(object)        # PreviewResult
    suggestions_ready = Signal(object)    # Suggestions
    devices_found = Signal(list)
    failed = Signal(str)                  # a preview/suggestion failed: one sentence
    export_progress = Signal(int, int)
    export_finished = Signal(object)      # Exported
    export_failed = Signal(str)
    busy_changed = Signal(bool)
    thumbnail_ready = Signal(object)      # Thumbnail
    detail_ready = Signal(object)         # Detail: the export's pixels of the visible region
    thumbnail_failed = Signal(str, str)   # path, a sentence
    reach_ready = Signal(object)          # Reach (the reach overlay)

    def __init__(self, engine=None, session_factory: Optional[Callable] = None, parent=None,
                 engine_factory: Optional[Callable] = None):
        super().__init__(parent)
        self.scheduler = Scheduler(lanes=("preview", "suggest", "detail", "reach"))
        self.runtime = Runtime(engine=engine, engine_factory=engine_factory, session_factory=session_factory)
        self.workshop = ComputeRunner(self.runtime, progress=self._progress_from_thread)
        self._thread = ComputeThread(self.scheduler, self.workshop)
        self._thread.delivered.connect(self._on_delivered)
        self._thread.failed.connect(self._on_failed)
        self._thread.dropped.connect(self._on_dropped)
        self._thread.settled.connect(self._on_settled)
        self._thread.progress.connect(self._on_progress)
        self._busy = False
        self._exports: set[int] = set()
        self._thumbnails: set[int] = set()
        self._latest_preview: Optional[Request] = None
        self._shown_preview: Optional[Request] = None
        self._thread.start()

    # -- requests --------------------------------------------------------------------------
    def new_epoch(self) -> int:
        """Another photo or engine: nothing computed for the previous one is shown."""
        return self.scheduler.new_epoch()

    def models_changed(self, name: str) -> int:
        """Model ``name`` was installed, imported or removed: the compute thread drops its
        cached engine before the next request, and nothing computed with the old one is shown."""
        self.workshop.forget(name)
        epoch = self.new_epoch()
        try:
            self.scheduler.submit_job(Tidy())
        except SchedulerClosed:
            pass
        return epoch

    def preview(self, job: PreviewJob) -> Optional[Request]:
        req = self._submit(lambda: self.scheduler.submit("preview", job))
        if req is not None:
            self._latest_preview = req
        return req

    @property
    def preview_up_to_date(self) -> bool:
        """True when the preview shown is the one for the latest request (nothing newer is coming)."""
        return self._latest_preview is not None and self._shown_preview is self._latest_preview

    def suggest(self, job: SuggestJob) -> Optional[Request]:
        return self._submit(lambda: self.scheduler.submit("suggest", job))

    def detail(self, job: DetailJob) -> Optional[Request]:
        """The visible region at full resolution; a newer request replaces one still waiting."""
        try:
            return self.scheduler.submit("detail", job)   # quiet: the busy indicator stays as it is
        except SchedulerClosed:
            return None

    def reach(self, job: ReachJob) -> Optional[Request]:
        """How far the selected hint's colour reaches; answered by ``reach_ready`` (a newer
        request supersedes an older one)."""
        return self._submit(lambda: self.scheduler.submit("reach", job))

    def detect_devices(self) -> Optional[Request]:
        """Ask (once the window is up) which devices torch can use; answered by ``devices_found``."""
        try:
            return self.scheduler.submit_job(DetectDevices())
        except SchedulerClosed:
            return None

    def thumbnail(self, job: ThumbnailJob) -> Optional[Request]:
        """Decode a reference picture on the compute thread; answered by ``thumbnail_ready``."""
        try:
            req = self.scheduler.submit_job(job)
        except SchedulerClosed:
            return None
        self._thumbnails.add(req.generation)
        return req

    def export(self, job: ExportJob) -> Optional[Request]:
        req = self._submit(lambda: self.scheduler.submit_job(job))
        if req is not None:
            self._exports.add(req.generation)
        return req

    def cancel(self, request: Request) -> None:
        self.scheduler.cancel(request)

    def _submit(self, make: Callable[[], Request]) -> Optional[Request]:
        try:
            req = make()
        except SchedulerClosed:
            return None
        self._set_busy(True)
        return req

    @property
    def busy(self) -> bool:
        return self._busy

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def shutdown(self, timeout_ms: int = 15000) -> bool:
        """Stop the thread (work in progress is told to stop) and wait for it; idempotent."""
        self.scheduler.close()
        if self._thread.isRunning():
            return self._thread.wait(timeout_ms)
        return True

    # -- results (GUI thread) --------------------------------------------------------------
    def _progress_from_thread(self, req: Request, done: int, total: int) -> None:
        self._thread.progress.emit(req, done, total)

    @Slot(object, object)
    def _on_delivered(self, req: Request, out) -> None:
        if not self.scheduler.accept(req):
            if req.generation in self._exports:
                self._exports.discard(req.generation)
                self.export_failed.emit("the export was cancelled")
            return
        job = req.payload
        if isinstance(job, PreviewJob):
            self._shown_preview = req
            self.preview_ready.emit(out)
        elif isinstance(job, SuggestJob):
            self.suggestions_ready.emit(out)
        elif isinstance(job, DetailJob):
            self.detail_ready.emit(out)
        elif isinstance(job, ReachJob):
            self.reach_ready.emit(out)
        elif isinstance(job, ExportJob):
            self._exports.discard(req.generation)
            self.export_finished.emit(out)
        elif isinstance(job, DetectDevices):
            self.devices_found.emit(list(out))
        elif isinstance(job, ThumbnailJob):
            self._thumbnails.discard(req.generation)
            self.thumbnail_ready.emit(out)

    @Slot(object, str)
    def _on_failed(self, req: Request, message: str) -> None:
        if req.generation in self._thumbnails:
            self._thumbnails.discard(req.generation)
            self.thumbnail_failed.emit(req.payload.path, message)
        elif req.generation in self._exports:
            self._exports.discard(req.generation)
            self.export_failed.emit(message)
        elif self.scheduler.accept(req):
            self.failed.emit(message)

    @Slot(object)
    def _on_dropped(self, req: Request) -> None:
        if req.generation in self._exports:
            self._exports.discard(req.generation)
            self.export_failed.emit("the export was cancelled")

    @Slot(object, int, int)
    def _on_progress(self, req: Request, done: int, total: int) -> None:
        if req.generation in self._exports:
            self.export_progress.emit(done, total)

    @Slot()
    def _on_settled(self) -> None:
        # Housekeeping is not colouring: it does not light the busy indicator.
        self._set_busy(self.scheduler.busy(lambda r: not isinstance(r.payload, QUIET)))

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

