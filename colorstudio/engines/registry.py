"""The engine registry: names the user types, mapped to classes imported on first use.

Imports are lazy so that listing engines never loads torch or a model.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from .base import Engine, EngineError


@dataclass(frozen=True)
class EngineInfo:
    name: str
    label: str
    modes: tuple          # which modes it serves: "hints", "auto", "reference", "style"
    target: str           # "module:Class"
    needs_weights: bool


ENGINES: dict[str, EngineInfo] = {
    "propagation": EngineInfo("propagation", "Edge-aware propagation (no weights)", ("hints",),
                              "colorstudio.engines.propagation:PropagationEngine", False),
    "siggraph17": EngineInfo("siggraph17", "SIGGRAPH 2017 user-guided network", ("hints", "auto"),
                             "colorstudio.engines.siggraph17:Siggraph17Engine", True),
    "eccv16": EngineInfo("eccv16", "ECCV 2016 automatic network", ("auto",),
                         "colorstudio.engines.eccv16:Eccv16Engine", True),
}


def engines_for_mode(mode: str) -> list[str]:
    """The engines that serve ``mode``, in registry order."""
    return [name for name, info in ENGINES.items() if mode in info.modes]


def engines_by_preference(mode: str) -> list[str]:
    """The engines of ``mode``, best first: a neural network (where installed) before the
    weight-free engines, otherwise in registry order. The app and the CLI both choose by it."""
    return sorted(engines_for_mode(mode), key=lambda name: not ENGINES[name].needs_weights)


def engine_names() -> list[str]:
    return list(ENGINES)


def engine_class(name: str) -> type[Engine]:
    info = ENGINES.get(name)
    if info is None:
        raise EngineError(f"there is no engine called {name!r}; choose one of: {', '.join(ENGINES)}")
    module, cls = info.target.split(":")
    return getattr(importlib.import_module(module), cls)


def create_engine(name: str, **options) -> Engine:
    """Build the engine ``name``; options go to its constructor (e.g. weights=, device=)."""
    return engine_class(name)(**options)
