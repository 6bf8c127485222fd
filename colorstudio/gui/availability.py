"""Which engines can run here, decided without importing torch or any engine (no Qt either).

An engine is available when its module exists and, if it needs weights, the model store
says they are installed (``colorstudio.models.is_installed(name)``, provided by the model
manager; until it exists every weight-needing engine counts as not installed).
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from typing import Optional

from ..core.document import MODE_LABELS
from ..engines.registry import ENGINES, engines_by_preference, engines_for_mode  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""         # a sentence when not ok
    needs_models: bool = False


def weights_installed(name: str) -> bool:
    try:
        models = importlib.import_module("colorstudio.models")
    except ImportError:
        return False
    check = getattr(models, "is_installed", None)
    if not callable(check):
        return False
    try:
        return bool(check(name))
    except Exception:  # noqa: BLE001 - a broken store reads as "not installed", never a crash
        return False


def engine_availability(name: str) -> Availability:
    info = ENGINES.get(name)
    if info is None:
        return Availability(False, f"there is no engine called {name!r}")
    if info.needs_weights and not weights_installed(name):
        return Availability(False, f"the {info.label} needs its model weights, which are not installed",
                            needs_models=True)
    return Availability(True)


def best_engine(mode: str, preferred: Optional[str] = None) -> Optional[str]:
    """The engine to use for ``mode``: ``preferred`` if it serves the mode and can run, else
    the best one that can (see :func:`engines_by_preference`), else None."""
    names = engines_by_preference(mode)
    if preferred in names and engine_availability(preferred).ok:
        return preferred
    for name in names:
        if engine_availability(name).ok:
            return name
    return None


def models_for_mode(mode: str) -> list[str]:
    """The models (by name) that would let ``mode`` use a neural engine, best first."""
    return [name for name in engines_by_preference(mode) if ENGINES[name].needs_weights]


def mode_availability(mode: str) -> Availability:
    """Whether any engine can serve ``mode``; otherwise why not and whether models would help."""
    names = engines_for_mode(mode)
    label = MODE_LABELS.get(mode, mode)
    if not names:
        return Availability(False, f"the {label} mode has no engine in this version of Colorstudio yet")
    results = [engine_availability(n) for n in names]
    if any(r.ok for r in results):
        return Availability(True)
    if any(r.needs_models for r in results):
        labels = " or ".join(ENGINES[n].label for n, r in zip(names, results) if r.needs_models)
        return Availability(False, f"the {label} mode needs a neural model ({labels}), which is not installed",
                            needs_models=True)
    return Availability(False, results[0].reason)


def start_mode() -> str:
    """The mode a newly opened photo starts in: Automatic when a model can do it, else Hints."""
    return "auto" if mode_availability("auto").ok else "hints"


@dataclass(frozen=True)
class EngineReadiness:
    name: str
    label: str
    ready: bool                # can run now (weight-free, bundled, or its model is installed)
    installable: bool          # not ready, and installing its model would make it so


def engine_readiness() -> list[EngineReadiness]:
    """Every engine, whether it can run now, and whether a model install would let it (for the
    empty window: what works out of the box and what the Models dialog adds)."""
    out = []
    for name, info in ENGINES.items():
        a = engine_availability(name)
        out.append(EngineReadiness(name, info.label, a.ok, not a.ok and a.needs_models))
    return out
