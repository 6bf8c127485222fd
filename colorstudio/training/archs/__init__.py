"""The architectures a user can train, each declared once in its own module as ``ARCH``.

Like the engines: every non-private module of this package that defines ``ARCH`` (an
:class:`Architecture`) is found, not listed. Declarations are plain data (no torch); the
training code is in :mod:`.._trainers`, imported when training starts.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field

from ...core.spec import Mode


@dataclass(frozen=True)
class Architecture:
    name: str                 # --arch NAME
    label: str
    modes: tuple              # Mode, ...: the modes the trained model serves as an engine
    network: str              # colorstudio.models.trainable.build(network, options)
    trainer: str              # "module:Class" of its training step
    description: str = ""
    needs: tuple = ()         # what each sample carries beyond L and ab: "hints", "faded"
    options: dict = field(default_factory=dict)   # the network's default options
    learning_rate: float = 2e-4
    reference: str = ""       # the paper it follows

    def __post_init__(self):
        object.__setattr__(self, "modes", tuple(Mode.parse(m) for m in self.modes))


_archs: dict | None = None


def architectures() -> dict[str, Architecture]:
    """Every architecture, by name, in a stable order."""
    global _archs
    if _archs is None:
        found = {}
        for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if mod.name.startswith("_"):
                continue
            arch = getattr(importlib.import_module(f"{__name__}.{mod.name}"), "ARCH", None)
            if isinstance(arch, Architecture):
                found[arch.name] = arch
        _archs = found
    return _archs


def get_architecture(name: str) -> Architecture:
    from ..errors import TrainingError
    archs = architectures()
    if name not in archs:
        raise TrainingError(f"there is no architecture called {name!r}; choose one of: {', '.join(archs)}")
    return archs[name]
