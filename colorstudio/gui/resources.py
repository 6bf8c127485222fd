"""The app's icon and the shipped files (see :mod:`colorstudio.core.resources`)."""
from __future__ import annotations

from ..core.resources import APP_ICON, SAMPLE_PHOTO, resource_path, sample_photo  # noqa: F401


def app_icon():
    """The application icon (resources/icons/colorstudio.svg), or a drawn fallback."""
    from PySide6.QtGui import QIcon
    p = resource_path(APP_ICON)
    ic = QIcon(str(p)) if p is not None else QIcon()
    if ic.isNull():
        from .icons import icon
        ic = icon("mdi6.palette")
    return ic
