"""The one compute thread: engines, sessions and the GPU live here, never on the GUI thread.

``Workshop`` is plain Python: it caches engines (so switching photos never reloads a model)
and one ``ColorizeSession`` per photo and engine, and turns a request's frozen payload into
a plain result. ``ComputeThread`` runs :func:`colorstudio.core.scheduler.serve` over a
Workshop. ``Compute`` is the thin Qt adapter the window talks to: it submits snapshots to
the latest-wins :class:`~colorstudio.core.scheduler.Scheduler` and re-emits accepted
results on the GUI thread. Results cross threads as numpy arrays and small dataclasses.
"""
from __future__ import annotations

import collections
import inspect
import logging
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from ..core.hints import Hints
from ..engines.base import Engine, EngineSession
from ..core.scheduler import Request, Scheduler, SchedulerClosed, serve
from ..core.jobs import Cancelled

log = logging.getLogger(__name__)

DRAG_PREVIEW_SIDE = 384
FULL_PREVIEW_SIDE = 1024


# -- payloads: frozen snapshots built on the GUI thread ----------------------------------

@dataclass(frozen=True)
class EngineChoice:
    """Which engine, on which device ("auto", "cpu", "cuda", "mps")."""

    name: str
    device: str = "auto"


@dataclass(frozen=True)
class PreviewJob:
    photo: Any            # a SourceImage; read-only on both threads
    photo_key: str        # the photo's content hash
    engine: EngineChoice
    hints: Hints
    saturation: float
    max_side: int
    mode: str = "hints"
    reference: Optional[str] = None


@dataclass(frozen=True)
class PreviewResult:
    rgb: Optional[np.ndarray]   # (h, w, 3) uint8, or None: show the photo as it is (no hints yet)
    max_side: int
    seconds: float
    engine: str                 # the engine's label, "" when no engine made this picture
    device: str                 # where it ran: "cpu", "cuda", "mps"
    message: str = ""           # what the engine had to adapt (e.g. fell back to the CPU), or ""
    engine_name: str = ""       # the engine's registry name ("siggraph17")


@dataclass(frozen=True)
class SuggestJob:
    photo: Any
    photo_key: str
    engine: EngineChoice
    hints: Hints
    x: float
    y: float
    count: int = 8


@dataclass(frozen=True)
class Suggestions:
    x: float
    y: float
    colors: tuple  # ((r, g, b), weight) pairs


@dataclass(frozen=True)
class ExportJob:
    photo: Any
    photo_key: str
    engine: EngineChoice
    hints: Hints
    saturation: float
    path: str
    fmt: Optional[str]
    quality: int = 95
    reference: Optional[str] = None


@dataclass(frozen=True)
class Exported:
    path: str
    seconds: float
    width: int
    height: int


@dataclass(frozen=True)
class DetectDevices:
    """Ask which compute devices exist (imports torch, so only on the compute thread)."""


@dataclass(frozen=True)
class Tidy:
    """Drop the engines whose models changed now, rather than at the next preview (memory)."""


#: Housekeeping jobs: they do not light the busy indicator and their results are not shown.
HOUSEKEEPING = (DetectDevices, Tidy)


def default_session_factory(photo, engine):
    """A ColorizeSession for ``photo`` with ``engine``; imported on the compute thread.

    The engine is wrapped in a :class:`Recorder` so that what the engine says about its
    last answer (device, precision, "fell back to the CPU") reaches the status bar.
    """
    from ..core.session import ColorizeSession
    return ColorizeSession(photo, engine=Recorder.wrap(engine))


def default_engine_factory(choice: EngineChoice):
    """The engine for ``choice`` from the registry (neural ones get the chosen device)."""
    from ..engines.registry import engine_class
    cls = engine_class(choice.name)
    kwargs = {}
    if choice.device != "auto" and _accepts(cls, "device"):
        kwargs["device"] = choice.device
    return cls(**kwargs)


def detect_devices() -> list[str]:
    """The devices torch can use here, best first; torch is imported on first call."""
    try:
        from ..engines.neural import available_devices
        return list(available_devices())
    except Exception:  # noqa: BLE001 - no (working) torch means the CPU only
        log.info("could not list the compute devices", exc_info=True)
        return ["cpu"]


class RecordingSession(EngineSession):
    """An engine session that hands its answers through and remembers the last one's info."""

    def __init__(self, owner: "Recorder", inner: EngineSession):
        self._owner = owner
        self._inner = inner

    def chroma(self, hints, **kwargs):
        out = self._inner.chroma(hints, **kwargs)
        self._owner.last_info = dict(getattr(out, "info", None) or {})
        return out

    def __getattr__(self, name):   # suggest_colors and friends, where the engine has them
        return getattr(self._inner, name)


class Recorder(Engine):
    """Wraps an engine for one ColorizeSession and keeps the ``Chroma.info`` of its last
    answer (device, precision, a message), which ``ColorizeSession.preview`` does not pass
    on. It never closes the engine: the Workshop owns that."""

    def __init__(self, inner):
        self.inner = inner
        for attr in ("name", "label", "description", "needs_weights", "uses_hints", "uses_reference"):
            setattr(self, attr, getattr(inner, attr, getattr(Engine, attr)))
        self.last_info: dict = {}

    @classmethod
    def wrap(cls, engine) -> "Recorder":
        return cls(engine)

    def start(self, lightness, photo=None):
        return RecordingSession(self, self.inner.start(lightness, photo))

    def close(self) -> None:
        pass


def describe_error(exc: BaseException, engine: str = "") -> str:
    """A sentence for the user: our own errors already are one; others get a short prefix."""
    if type(exc).__module__.startswith("colorstudio.") and isinstance(exc, (ValueError, RuntimeError, OSError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "there is not enough memory for this photo; try a smaller photo or close other programs"
    where = f"the {engine} engine" if engine else "the computation"
    return f"{where} failed: {type(exc).__name__}: {exc}"


class Workshop:
    """Engines and per-photo sessions; every method runs on the compute thread, except
    :meth:`forget`, which the GUI thread calls.

    ``engine`` injects one Engine instance used for every request (tests, embedding).
    ``engine_factory(choice)`` builds the engine for an EngineChoice; the default takes it
    from the registry. ``session_factory(photo, engine)`` builds a session; the default is
    ColorizeSession. Engines are kept: a model is loaded once and serves every photo. There
    is one engine per name: choosing another device replaces it rather than holding a
    second copy of the network.
    """

    def __init__(self, engine=None, session_factory: Optional[Callable] = None, max_sessions: int = 3,
                 progress: Optional[Callable[[Request, int, int], None]] = None,
                 engine_factory: Optional[Callable[[EngineChoice], Any]] = None):
        self._injected = engine
        self._factory = session_factory or default_session_factory
        self._engine_factory = engine_factory or default_engine_factory
        self._engines: dict[EngineChoice, Any] = {}
        self._sessions: "collections.OrderedDict[tuple, Any]" = collections.OrderedDict()
        self._max_sessions = max_sessions
        self._progress = progress
        self._forget_lock = threading.Lock()
        self._forgotten: set[str] = set()
        self._engines_lock = threading.Lock()   # cached_engines() reads from another thread
        #: How many engines were built, per name (a model load each, for neural engines).
        self.engines_built: collections.Counter = collections.Counter()

    # -- caches ----------------------------------------------------------------------------
    def forget(self, name: str) -> None:
        """Drop the cached engine ``name`` (and its sessions) before the next request: its
        model was installed, replaced or removed. Safe to call from any thread."""
        with self._forget_lock:
            self._forgotten.add(name)

    def _drop_forgotten(self) -> None:
        with self._forget_lock:
            names, self._forgotten = self._forgotten, set()
        for choice in [c for c in self._engines if c.name in names]:
            self._drop_engine(choice)

    def _drop_engine(self, choice: EngineChoice) -> None:
        for key in [k for k in self._sessions if k[1] == choice]:
            _close_quietly(self._sessions.pop(key))
        with self._engines_lock:
            engine = self._engines.pop(choice, None)
        _close_quietly(engine)

    def engine(self, choice: EngineChoice):
        if self._injected is not None:
            return self._injected
        eng = self._engines.get(choice)
        if eng is None:
            for other in [c for c in self._engines if c.name == choice.name]:
                self._drop_engine(other)
            eng = self._engine_factory(choice)
            self.engines_built[choice.name] += 1
            with self._engines_lock:
                self._engines[choice] = eng
        return eng

    def cached_engines(self) -> dict:
        """{EngineChoice: engine} of the engines kept now (for tests and diagnostics)."""
        with self._engines_lock:
            return dict(self._engines)

    def session(self, photo, photo_key: str, choice: EngineChoice):
        key = (photo_key, choice)
        s = self._sessions.get(key)
        if s is not None:
            self._sessions.move_to_end(key)
            return s
        s = self._factory(photo, self.engine(choice))
        self._sessions[key] = s
        while len(self._sessions) > self._max_sessions:
            _, old = self._sessions.popitem(last=False)
            _close_quietly(old)
        return s

    def engine_label(self, choice: EngineChoice, info: Optional[dict] = None) -> tuple[str, str]:
        """(label, device) of the engine for ``choice``; ``info`` is its last Chroma.info,
        which says where a neural engine actually ran ("auto" resolved)."""
        eng = self.engine(choice)
        label = getattr(eng, "label", "") or getattr(eng, "name", "") or choice.name
        device = (info or {}).get("device") or getattr(eng, "device", "")
        if not device:
            runner = getattr(eng, "runner", None)
            device = getattr(getattr(runner, "device", None), "type", "")
        if not device:
            device = choice.device if getattr(eng, "needs_weights", False) else "cpu"
        return label, str(device)

    def close(self) -> None:
        for s in self._sessions.values():
            _close_quietly(s)
        self._sessions.clear()
        with self._engines_lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for eng in engines:
            _close_quietly(eng)

    # -- work ------------------------------------------------------------------------------
    def compute(self, req: Request, should_stop: Callable[[], bool]):
        self._drop_forgotten()
        job = req.payload
        if isinstance(job, PreviewJob):
            return self._preview(job, should_stop)
        if isinstance(job, SuggestJob):
            s = self.session(job.photo, job.photo_key, job.engine)
            colors = s.suggest_colors(job.hints, job.x, job.y, count=job.count) or []
            return Suggestions(job.x, job.y, tuple(colors))
        if isinstance(job, ExportJob):
            return self._export(req, job, should_stop)
        if isinstance(job, DetectDevices):
            return detect_devices()
        if isinstance(job, Tidy):
            return None   # the forgotten engines went at the top of this method
        raise TypeError(f"the compute thread does not know how to do {type(job).__name__}")

    def _preview(self, job: PreviewJob, should_stop) -> PreviewResult:
        t0 = time.perf_counter()
        s = self.session(job.photo, job.photo_key, job.engine)
        neural = bool(getattr(self.engine(job.engine), "needs_weights", False))
        if job.mode == "hints" and job.hints.is_empty and not neural:
            # Nothing to colour yet: the canvas shows the photo itself. Running the engine
            # once anyway warms it up (imports, per-photo caches) so the first click is quick.
            # (A network's answer without hints is a picture of its own, so it is shown.)
            s.preview(job.hints, max_side=job.max_side, saturation=job.saturation, should_stop=should_stop)
            return PreviewResult(None, job.max_side, 0.0, "", "")
        rgb = s.preview(job.hints, max_side=job.max_side, saturation=job.saturation, should_stop=should_stop)
        rgb = np.ascontiguousarray(rgb)
        info = getattr(getattr(s, "engine", None), "last_info", None) or {}
        label, device = self.engine_label(job.engine, info)
        return PreviewResult(rgb, job.max_side, time.perf_counter() - t0, label, device,
                             str(info.get("message", "") or ""), job.engine.name)

    def _export(self, req: Request, job: ExportJob, should_stop) -> Exported:
        t0 = time.perf_counter()
        s = self.session(job.photo, job.photo_key, job.engine)
        progress = None
        if self._progress is not None:
            progress = lambda done, total: self._progress(req, int(done), int(total))  # noqa: E731
        result = s.render(job.hints, saturation=job.saturation, progress=progress, should_stop=should_stop)
        if should_stop():
            raise Cancelled()
        if job.fmt == "tiff" and result.rgb.dtype == np.uint8:
            # The export dialog promises 16-bit TIFF; 8-bit values scale exactly (v * 257).
            result.rgb = result.rgb.astype(np.uint16) * np.uint16(257)
        result.save(job.path, fmt=job.fmt, quality=job.quality, overwrite=True)
        h, w = result.rgb.shape[:2]
        return Exported(job.path, time.perf_counter() - t0, int(w), int(h))


def _accepts(cls, name: str) -> bool:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _close_quietly(obj) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must never take the app down
            log.exception("closing %r failed", obj)


class ComputeThread(QThread):
    """The long-lived thread that serves the scheduler with a Workshop."""

    delivered = Signal(object, object)   # Request, result
    failed = Signal(object, str)         # Request, a sentence
    dropped = Signal(object)             # Request that stopped early
    settled = Signal()                   # a request is no longer in flight
    progress = Signal(object, int, int)  # Request, done, total

    _live: "weakref.WeakSet[ComputeThread]" = weakref.WeakSet()

    def __init__(self, scheduler: Scheduler, workshop: Workshop, parent=None):
        super().__init__(parent)
        self.setObjectName("computeThread")
        self._scheduler = scheduler
        self._workshop = workshop
        ComputeThread._live.add(self)

    @classmethod
    def running_threads(cls) -> list["ComputeThread"]:
        """Compute threads still running (tests use this to catch leaks)."""
        return [t for t in list(cls._live) if t.isRunning()]

    def run(self) -> None:
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

    def __init__(self, engine=None, session_factory: Optional[Callable] = None, parent=None,
                 engine_factory: Optional[Callable] = None):
        super().__init__(parent)
        self.scheduler = Scheduler(lanes=("preview", "suggest"))
        self.workshop = Workshop(engine, session_factory, progress=self._progress_from_thread,
                                 engine_factory=engine_factory)
        self._thread = ComputeThread(self.scheduler, self.workshop)
        self._thread.delivered.connect(self._on_delivered)
        self._thread.failed.connect(self._on_failed)
        self._thread.dropped.connect(self._on_dropped)
        self._thread.settled.connect(self._on_settled)
        self._thread.progress.connect(self._on_progress)
        self._busy = False
        self._exports: set[int] = set()
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

    def detect_devices(self) -> Optional[Request]:
        """Ask (once the window is up) which devices torch can use; answered by ``devices_found``."""
        try:
            return self.scheduler.submit_job(DetectDevices())
        except SchedulerClosed:
            return None

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
        elif isinstance(job, ExportJob):
            self._exports.discard(req.generation)
            self.export_finished.emit(out)
        elif isinstance(job, DetectDevices):
            self.devices_found.emit(list(out))

    @Slot(object, str)
    def _on_failed(self, req: Request, message: str) -> None:
        if req.generation in self._exports:
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
        self._set_busy(self.scheduler.busy(lambda r: not isinstance(r.payload, HOUSEKEEPING)))

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

