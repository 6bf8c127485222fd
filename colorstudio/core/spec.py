"""What an engine is, declared once: modes, devices, options and the model files it needs.

Every engine module in ``colorstudio.engines`` declares one ``SPEC = EngineSpec(...)`` at
module level; ``colorstudio.engines.registry`` finds them, and the CLI's choices and help,
the mode panel, the document's defaults and validation, the Models dialog and the model
store all read them. Nothing else lists engines or models by hand.

Plain data, no torch, no Qt: importing this module (or an engine module for its SPEC) must
stay cheap, so engine modules import torch inside their classes, never at module level.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit


class Mode(str, enum.Enum):
    """How the user colours a photo; each mode is served by one or more engines."""

    HINTS = "hints"
    AUTO = "auto"
    REFERENCE = "reference"
    PALETTE = "palette"
    STYLE = "style"

    @property
    def label(self) -> str:
        return MODE_LABELS[self]

    @classmethod
    def parse(cls, value) -> "Mode":
        """``value`` as a Mode; a ValueError naming the modes when it is none of them."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a mode; choose one of: {', '.join(m.value for m in cls)}") from None

    def __str__(self) -> str:  # "hints", not "Mode.HINTS", in messages and files
        return self.value


MODE_LABELS = {
    Mode.HINTS: "Hints",
    Mode.AUTO: "Automatic",
    Mode.REFERENCE: "Reference colours",
    Mode.PALETTE: "Palette",
    Mode.STYLE: "Style",
}


class Device(str, enum.Enum):
    """Where an engine runs. AUTO means the best device this machine has."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"
    MPS = "mps"

    @classmethod
    def parse(cls, value) -> "Device":
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).split(":")[0])
        except ValueError:
            raise ValueError(f"{value!r} is not a device; choose one of: {', '.join(d.value for d in cls)}") from None

    def __str__(self) -> str:
        return self.value


#: Every device a user may name (the CLI's --device choices, the settings' validation).
DEVICE_NAMES = tuple(d.value for d in Device)
#: Engines that run on the CPU only (the weight-free ones) declare this.
CPU_ONLY = (Device.CPU,)
#: Engines built on torch declare this: the runtime resolves AUTO to the best one present.
TORCH_DEVICES = (Device.AUTO, Device.CPU, Device.CUDA, Device.MPS)


@dataclass(frozen=True)
class ModelFile:
    """One published weights file."""

    filename: str          # the name it is stored under (the published name)
    url: str               # where `models install` downloads it from
    sha256: str            # the full hex SHA-256, or the published leading digits of it
    size: int = 0          # about how many bytes (messages, progress); 0 when unknown
    part: str = ""         # multi-file models: the sub-module of the network it loads into

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url


@dataclass(frozen=True)
class ModelSpec:
    """A named set of weights files an engine needs (one file for most networks)."""

    name: str              # what the user types: `colorstudio models install NAME`
    label: str
    purpose: str           # what it is for, in the user's words
    files: tuple           # ModelFile, ...
    licence: str
    source: str            # the project page the weights come from
    citation: str
    architecture: str      # which network definition reads these weights
    bundled: bool = False  # shipped inside the package (resources/models/NAME/): always installed

    @property
    def multi_file(self) -> bool:
        """Several files, installed together in a folder of their own (models/NAME/)."""
        return len(self.files) > 1

    def __post_init__(self):
        if not self.files:
            raise ValueError(f"model {self.name!r} declares no files")

    # One-file conveniences (most models are one file).
    @property
    def file(self) -> ModelFile:
        return self.files[0]

    @property
    def filename(self) -> str:
        return self.files[0].filename

    @property
    def url(self) -> str:
        return self.files[0].url

    @property
    def sha256_prefix(self) -> str:
        return self.files[0].sha256

    @property
    def approx_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def host(self) -> str:
        return self.files[0].host


@dataclass(frozen=True)
class Option:
    """One setting of an engine: a number in a range, or one of a few choices."""

    name: str
    label: str
    default: Any
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    choices: tuple = ()
    help: str = ""

    def validate(self, value) -> Any:
        """``value`` checked and converted; a ValueError that gives the range otherwise."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, not {value!r}")
            return value
        try:
            x = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name} must be a number from {self.minimum:g} to {self.maximum:g}, "
                             f"not {value!r}") from None
        if not math.isfinite(x) or (self.minimum is not None and x < self.minimum) or (
                self.maximum is not None and x > self.maximum):
            raise ValueError(f"{self.name} must be a number from {self.minimum:g} to {self.maximum:g}, not {value!r}")
        return x


#: Settings every engine's result takes at composition (no engine run): the same ranges
#: for the document, the CLI and the panel.
SATURATION = Option("saturation", "Saturation", 1.0, 0.0, 2.0,
                    help="scales the colour's chroma at composition; 1 leaves it as the engine made it")
STRENGTH = Option("strength", "Strength", 1.0, 0.0, 1.0,
                  help="how much of the reference or style to apply, from none (0) to all of it (1)")


@dataclass(frozen=True)
class EngineSpec:
    """One engine, declared once in its own module as ``SPEC``."""

    name: str                      # what the user types: --engine NAME
    label: str                     # a short human title
    modes: tuple                   # Mode, ...: the modes it serves
    factory: str                   # "module:Class", imported on first use
    description: str = ""
    preference: int = 0            # higher first among the engines of a mode that can run
    models: tuple = ()             # ModelSpec, ...: weights it needs (empty: weight-free)
    devices: tuple = CPU_ONLY      # Device, ...
    options: tuple = ()            # Option, ...: engine-specific settings
    uses_hints: bool = True
    uses_reference: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "modes", tuple(Mode.parse(m) for m in self.modes))
        object.__setattr__(self, "devices", tuple(Device.parse(d) for d in self.devices))

    @property
    def needs_weights(self) -> bool:
        return any(not m.bundled for m in self.models)

    @property
    def runs_on_gpu(self) -> bool:
        return any(d in (Device.CUDA, Device.MPS) for d in self.devices)

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(name)
