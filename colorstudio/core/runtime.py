"""The runtime: the one owner of engines, per-photo sessions, models and devices.

The app's compute thread, the CLI, the Python API, batch runs and training all go through
a :class:`Runtime`; none of them builds engines on its own. A model is loaded once and
serves every photo; an engine session (the engine's per-photo state) is kept per photo,
engine and device, so switching back to a photo costs nothing, and the session caches the
work that depends on a reference by the reference's content hash.

Plain Python: no Qt, and no torch until a neural engine is built. A Runtime is used from one
thread at a time (the compute thread, a batch worker); :meth:`Runtime.forget` may be called
from any thread.
"""
from __future__ import annotations

import collections
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

from .spec import Device

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineChoice:
    """Which engine, on which device ("auto", "cpu", "cuda", "mps")."""

    name: str
    device: str = "auto"

    def __post_init__(self):
        object.__setattr__(self, "device", Device.parse(self.device).value)


def default_engine_factory(choice: EngineChoice):
    """The engine for ``choice``, built from its SPEC (engines that run on a GPU get the
    chosen device; weight-free engines run on the CPU)."""
    from ..engines.registry import engine_class, get_spec
    spec = get_spec(choice.name)
    kwargs = {}
    if choice.device != "auto" and spec.runs_on_gpu:
        kwargs["device"] = choice.device
    return engine_class(choice.name)(**kwargs)


def detect_devices() -> list[str]:
    """The devices torch can use here, best first (torch is imported on first call)."""
    try:
        from ..engines.neural import available_devices
        return list(available_devices())
    except Exception:  # noqa: BLE001 - no (working) torch means the CPU only
        log.info("could not list the compute devices", exc_info=True)
        return ["cpu"]


def close_quietly(obj) -> None:
    close = getattr(obj, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # noqa: BLE001 - closing must never take the app down
            log.exception("closing %r failed", obj)


class Runtime:
    """Engines (one per name: another device replaces it rather than holding a second copy
    of a network) and per-photo sessions (the ``max_sessions`` most recently used).

    ``engine_factory(choice)`` builds an engine (default: from the registry); ``engine``
    injects one Engine instance used for every choice (tests, embedding);
    ``session_factory(photo, engine)`` builds a session (default: ColorizeSession).
    """

    def __init__(self, *, engine_factory: Optional[Callable[[EngineChoice], Any]] = None,
                 engine=None, max_sessions: int = 3, session_factory: Optional[Callable] = None):
        self._injected = engine
        self._session_factory = session_factory
        self._engine_factory = engine_factory or default_engine_factory
        self._engines: dict[EngineChoice, Any] = {}
        self._sessions: "collections.OrderedDict[tuple, Any]" = collections.OrderedDict()
        self._max_sessions = max(1, int(max_sessions))
        self._forget_lock = threading.Lock()
        self._forgotten: set[str] = set()
        self._engines_lock = threading.Lock()   # cached_engines() reads from another thread
        #: How many engines were built, per name (a model load each, for neural engines).
        self.engines_built: collections.Counter = collections.Counter()

    # -- engines ---------------------------------------------------------------------------
    def forget(self, name: str) -> None:
        """Drop the engine ``name`` (and its sessions) before the next request: its model
        was installed, replaced or removed. Safe to call from any thread."""
        with self._forget_lock:
            self._forgotten.add(name)

    def tidy(self) -> None:
        """Let go of the engines :meth:`forget` named (called before each request)."""
        with self._forget_lock:
            names, self._forgotten = self._forgotten, set()
        if not names:
            return
        for choice in [c for c in self._engines if c.name in names or self._uses_model(c.name, names)]:
            self._drop_engine(choice)

    @staticmethod
    def _uses_model(engine: str, models: set) -> bool:
        try:
            from ..engines.registry import ENGINES
            return any(m.name in models for m in ENGINES[engine].models)
        except KeyError:
            return False

    def _drop_engine(self, choice: EngineChoice) -> None:
        for key in [k for k in self._sessions if k[1] == choice]:
            close_quietly(self._sessions.pop(key))
        with self._engines_lock:
            engine = self._engines.pop(choice, None)
        close_quietly(engine)

    def engine(self, choice, device: Optional[str] = None) -> Any:
        """The engine for ``choice`` (an EngineChoice, or an engine name and a device), built once."""
        if isinstance(choice, str):
            choice = EngineChoice(choice, device or "auto")
        self.tidy()
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
        """{EngineChoice: engine} of the engines kept now (tests and diagnostics)."""
        with self._engines_lock:
            return dict(self._engines)

    # -- sessions --------------------------------------------------------------------------
    def session(self, photo, choice, photo_key: Optional[str] = None):
        """The :class:`~colorstudio.core.session.ColorizeSession` of ``photo`` with the
        engine ``choice``; kept, so its per-photo work is done once."""
        from .session import ColorizeSession
        if isinstance(choice, str):
            choice = EngineChoice(choice)
        key = (photo_key or getattr(photo, "content_hash", "") or id(photo), choice)
        s = self._sessions.get(key)
        engine = self.engine(choice)
        if s is not None and s.engine is engine:
            self._sessions.move_to_end(key)
            return s
        if self._session_factory is not None:
            s = self._session_factory(photo, engine)
        else:
            s = ColorizeSession(photo, engine, runtime=self, engine_name=choice.name)
        self._sessions[key] = s
        while len(self._sessions) > self._max_sessions:
            _, old = self._sessions.popitem(last=False)
            close_quietly(old)
        return s

    def describe(self, choice: EngineChoice, info: Optional[dict] = None) -> tuple[str, str]:
        """(label, device) of the engine for ``choice``; ``info`` is its last answer's info,
        which says where a neural engine actually ran ("auto" resolved)."""
        eng = self.engine(choice)
        label = ""
        if self._injected is None:
            try:
                from ..engines.registry import get_spec
                label = get_spec(choice.name).label
            except Exception:  # noqa: BLE001 - an engine made by a custom factory may have no spec
                pass
        label = label or getattr(eng, "label", "") or getattr(eng, "name", "") or choice.name
        device = (info or {}).get("device") or getattr(eng, "device", "")
        if not device:
            runner = getattr(eng, "runner", None)
            device = getattr(getattr(runner, "device", None), "type", "")
        if not device:
            device = choice.device if getattr(eng, "needs_weights", False) else "cpu"
        return label, str(device)

    def devices(self) -> list[str]:
        return detect_devices()

    def close(self) -> None:
        for s in self._sessions.values():
            close_quietly(s)
        self._sessions.clear()
        with self._engines_lock:
            engines = list(self._engines.values())
            self._engines.clear()
        for eng in engines:
            close_quietly(eng)


_default: Optional[Runtime] = None
_default_lock = threading.Lock()


def default_runtime() -> Runtime:
    """The process's shared runtime (the Python API and the CLI use it): engines and
    models are loaded once per process, however many photos are colorized."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Runtime()
        return _default
