"""Files the app loads at run time (sample photo, icons), wherever Colorstudio is installed.

In a wheel the repository's ``resources/`` folder ships as the package
``colorstudio.resources``; in a source checkout it is the folder beside the package.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

SAMPLE_PHOTO = "sample_portrait.jpg"


def resource_path(name: str) -> Optional[Path]:
    """The path of resource ``name``, or None when it is not there."""
    try:
        from importlib.resources import files
        p = files("colorstudio.resources") / name
        if p.is_file():
            return Path(str(p))
    except (ModuleNotFoundError, TypeError, FileNotFoundError):
        pass
    p = Path(__file__).resolve().parents[2] / "resources" / name
    return p if p.is_file() else None


def sample_photo() -> Optional[Path]:
    return resource_path(SAMPLE_PHOTO)


def app_icon():
    """The application icon (resources/icons/colorstudio.svg), or a drawn fallback."""
    from PySide6.QtGui import QIcon
    p = resource_path("icons/colorstudio.svg")
    ic = QIcon(str(p)) if p is not None else QIcon()
    if ic.isNull():
        from .icons import icon
        ic = icon("mdi6.palette")
    return ic
