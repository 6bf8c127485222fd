"""Files that ship with Colorstudio (sample photo, icons, notices, bundled models), found
wherever it is installed. Qt-free and torch-free.

The repository's ``resources/`` folder is the package ``colorstudio.resources`` (see
pyproject.toml), so ``importlib.resources`` finds it in a wheel, an editable install and a
PyInstaller bundle. A plain source checkout run without installing (``python -m
colorstudio`` from the repository root) has no such package; there the folder beside the
``colorstudio`` package is used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

SAMPLE_PHOTO = "sample_portrait.jpg"
APP_ICON = "icons/colorstudio.svg"


def resource_root() -> Optional[Path]:
    """The folder holding the resources, or None when this installation has none."""
    try:
        from importlib.resources import files
        root = files("colorstudio.resources")
        if root.is_dir():
            return Path(str(root))
    except (ModuleNotFoundError, TypeError, FileNotFoundError, NotADirectoryError):
        pass
    p = Path(__file__).resolve().parents[2] / "resources"
    return p if p.is_dir() else None


def resource_path(name: str) -> Optional[Path]:
    """The path of resource ``name`` (e.g. ``"icons/colorstudio.svg"``), or None when it is not there."""
    root = resource_root()
    if root is None:
        return None
    p = root / name
    return p if p.exists() else None


def sample_photo() -> Optional[Path]:
    return resource_path(SAMPLE_PHOTO)
