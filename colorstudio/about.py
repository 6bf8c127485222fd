"""What ``colorstudio --version`` and Help → About show: versions, the device, folders, and
the installed models with their licences.

Cheap parts first; torch is imported only to name the device (and a torch that fails to
import is reported, not raised). Qt's version is read from PySide6's package metadata, never by importing Qt.
"""
from __future__ import annotations

import importlib.metadata
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import __version__


@dataclass(frozen=True)
class InstalledModel:
    name: str
    label: str
    licence: str
    where: str                 # "bundled" or the installed file
    notice: Optional[Path]     # the licence text shipped beside a bundled model


@dataclass(frozen=True)
class About:
    version: str
    python: str
    torch: str
    qt: str
    device: str
    data_folder: str
    models_folder: str
    models: tuple              # InstalledModel, ...

    def text(self) -> str:
        lines = [f"colorstudio {self.version}",
                 f"Python {self.python}",
                 f"torch {self.torch}",
                 f"Qt {self.qt}",
                 f"device: {self.device}",
                 f"data folder: {self.data_folder}",
                 f"models folder: {self.models_folder}",
                 "models installed:" if self.models else "models installed: none"]
        for m in self.models:
            notice = f"; licence text: {m.notice}" if m.notice else ""
            lines.append(f"  {m.name} ({m.label}): licence {m.licence or 'not stated'}; {m.where}{notice}")
        return "\n".join(lines)


def _dist_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def torch_version() -> str:
    try:
        import torch
        return torch.__version__
    except Exception as exc:  # noqa: BLE001 - no (working) torch is a fact to show, not a crash
        v = _dist_version("torch")
        return f"{v}, but it does not load ({type(exc).__name__})" if v else "not installed"


def qt_version() -> str:
    """Qt's version as installed (PySide6's wheels carry the Qt of their own version); read
    from the package metadata, so asking never imports Qt outside the GUI."""
    v = _dist_version("PySide6-Essentials") or _dist_version("PySide6")
    return f"{v} (PySide6 {v})" if v else "not installed"


def device() -> str:
    """The device neural engines use under the saved setting, and the others this machine has."""
    from .core.settings import load_settings
    chosen = load_settings()[0].device
    try:
        from .engines.neural import available_devices
        found = list(available_devices())
    except Exception:  # noqa: BLE001 - without torch only the weight-free engines run, on the CPU
        return "cpu (torch is not available)"
    in_use = found[0] if chosen == "auto" else chosen
    others = [d for d in found if d != in_use]
    out = f"{in_use} (setting: {chosen})"
    return out + (f"; also available: {', '.join(others)}" if others else "")


_NOTICE_NAMES = ("LICENSE", "LICENCE", "NOTICE", "COPYING")


def _notice(folder: Path) -> Optional[Path]:
    """The licence text shipped in a model's folder, if any."""
    if not folder.is_dir():
        return None
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.upper().startswith(_NOTICE_NAMES))
    return found[0] if found else None


def installed_models() -> list[InstalledModel]:
    """The models that can run now: bundled ones, and those in the models folder."""
    from .models.store import list_models
    out = []
    for status in list_models():
        if not status.installed:
            continue
        info = status.info
        where = "bundled with Colorstudio" if status.bundled else str(status.path)
        # A model's own folder (multi-file models, and every bundled one) may hold its licence text.
        folder = status.path if status.path.is_dir() else status.path.parent if status.bundled else None
        out.append(InstalledModel(info.name, info.label, info.licence, where,
                                  _notice(folder) if folder is not None else None))
    return out


def about() -> About:
    from .core.paths import data_dir, models_dir
    try:
        models = tuple(installed_models())
    except Exception as exc:  # noqa: BLE001 - a broken catalogue must not hide the rest
        models = (InstalledModel("?", f"the model list could not be read: {exc}", "", "", None),)
    return About(version=__version__, python=f"{platform.python_version()} on {platform.platform(terse=True)}",
                 torch=torch_version(), qt=qt_version(), device=device(), data_folder=str(data_dir()),
                 models_folder=str(models_dir()), models=models)
