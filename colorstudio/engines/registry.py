"""The engine registry: every engine module's ``SPEC``, found, not listed.

Each non-private module of ``colorstudio.engines`` that defines ``SPEC`` (an
:class:`~colorstudio.core.spec.EngineSpec`) is an engine. A module may instead (or also)
define ``engine_specs()``, a function returning the specs of engines that come and go at run
time (networks a user trained, see ``engines/user.py``); it is asked each time the registry
is read, so it must be cheap (it may cache), and a name it gives that a static engine already
has is ignored. Engine modules are cheap to import
(torch is imported inside their classes), so listing engines and models never loads torch
or a model. The CLI, the app, the document and the model store all read this registry.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from typing import Iterator, Mapping

from ..core.spec import EngineSpec, Mode, ModelSpec
from .base import Engine, EngineError

#: Modules of this package that are machinery, not engines.
_NOT_ENGINES = {"base", "registry", "neural"}  # neural: shared machinery of the networks

_lock = threading.Lock()
_specs: dict[str, EngineSpec] | None = None
_dynamic: list = []   # the modules' engine_specs functions


def _discover() -> dict[str, EngineSpec]:
    global _specs
    with _lock:
        if _specs is None:
            from .. import engines as package
            found: dict[str, EngineSpec] = {}
            for mod in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
                if mod.name.startswith("_") or mod.name in _NOT_ENGINES or mod.ispkg:
                    continue
                module = importlib.import_module(f"{package.__name__}.{mod.name}")
                # vars(), not getattr: an engine module's __getattr__ would import its torch half.
                if callable(vars(module).get("engine_specs")):
                    _dynamic.append(module.engine_specs)
                spec = getattr(module, "SPEC", None)
                if isinstance(spec, EngineSpec):
                    if spec.name in found:
                        raise RuntimeError(f"two engines are called {spec.name!r}")
                    found[spec.name] = spec
            # Registry order: by preference (best first), then name, so every list agrees.
            _specs = dict(sorted(found.items(), key=lambda kv: (-kv[1].preference, kv[0])))
        specs = _specs
    extra = {s.name: s for provide in _dynamic for s in provide() if s.name not in specs}
    if not extra:
        return specs
    return dict(sorted({**specs, **extra}.items(), key=lambda kv: (-kv[1].preference, kv[0])))


class _Specs(Mapping):
    """``ENGINES``: name -> EngineSpec, discovered on first use."""

    def __getitem__(self, name: str) -> EngineSpec:
        return _discover()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_discover())

    def __len__(self) -> int:
        return len(_discover())

    def __repr__(self) -> str:
        return f"ENGINES({', '.join(self)})"


ENGINES: Mapping[str, EngineSpec] = _Specs()


def get_spec(name: str) -> EngineSpec:
    """The spec of engine ``name``, or an EngineError that lists the engines."""
    spec = _discover().get(str(name))
    if spec is None:
        raise EngineError(f"there is no engine called {name!r}; choose one of: {', '.join(ENGINES)}")
    return spec


def engines_for_mode(mode) -> list[str]:
    """The engines that serve ``mode``, in registry order (best first)."""
    mode = Mode.parse(mode)
    return [name for name, spec in ENGINES.items() if mode in spec.modes]


def engines_by_preference(mode) -> list[str]:
    """The engines of ``mode``, best first: a network (bundled, or downloaded where
    installed) before the weight-free engines, then by declared preference. The app and
    the CLI both choose by it."""
    return sorted(engines_for_mode(mode), key=lambda name: not ENGINES[name].models)


def default_engine(mode) -> str:
    """The engine a new document of ``mode`` starts with: the best one that needs no
    download (a weight-free or bundled engine), else the best of the mode."""
    names = engines_for_mode(mode)
    if not names:
        raise EngineError(f"no engine serves the {Mode.parse(mode)} mode")
    for name in names:
        if not ENGINES[name].needs_weights:
            return name
    return names[0]


def model_specs() -> dict[str, ModelSpec]:
    """Every model any engine declares, by name (the model store's catalogue)."""
    out: dict[str, ModelSpec] = {}
    for spec in ENGINES.values():
        for model in spec.models:
            out.setdefault(model.name, model)
    return out


def engine_class(name: str) -> type[Engine]:
    module, cls = get_spec(name).factory.split(":")
    return getattr(importlib.import_module(module), cls)


def create_engine(name: str, **options) -> Engine:
    """Build the engine ``name``; options go to its constructor (e.g. weights=, device=)."""
    return engine_class(name)(**options)
