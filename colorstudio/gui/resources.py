"""The app's icon, the shipped files (see :mod:`colorstudio.core.resources`), and where Save
and Export propose to write."""
from __future__ import annotations

import os
from pathlib import Path

from ..core.resources import APP_ICON, SAMPLE_PHOTO, resource_path, sample_photo  # noqa: F401


def is_app_folder(folder) -> bool:
    """True for a folder of Colorstudio's own installation (the package or its resources)."""
    try:
        f = Path(folder).resolve()
    except OSError:
        return False
    own = [Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2] / "resources"]
    sample = sample_photo()
    if sample is not None:
        own.append(sample.resolve().parent)
    return any(f == o or o in f.parents for o in own)


def writable_folder(folder) -> bool:
    p = Path(folder) if folder else None
    return p is not None and p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def pictures_folder() -> Path:
    """The user's Pictures folder when there is one, else the home folder."""
    from PySide6.QtCore import QStandardPaths
    pics = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pics) if pics and writable_folder(pics) else Path.home()


def proposed_folder(photo_folder, last_used=None) -> Path:
    """Where Save and Export propose to write: the photo's own folder when it can be written
    and is not Colorstudio's own; else the last folder used; else the user's Pictures."""
    if photo_folder and writable_folder(photo_folder) and not is_app_folder(photo_folder):
        return Path(photo_folder)
    if last_used and writable_folder(last_used) and not is_app_folder(last_used):
        return Path(last_used)
    return pictures_folder()


def app_icon():
    """The application icon (resources/icons/colorstudio.svg), or a drawn fallback."""
    from PySide6.QtGui import QIcon
    p = resource_path(APP_ICON)
    ic = QIcon(str(p)) if p is not None else QIcon()
    if ic.isNull():
        from .icons import icon
        ic = icon("mdi6.palette")
    return ic
