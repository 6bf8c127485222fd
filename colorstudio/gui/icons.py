"""qtawesome icons, tinted for the current light or dark palette, cached."""
from __future__ import annotations

import logging
from functools import lru_cache

from PySide6.QtGui import QGuiApplication, QIcon, QPalette

log = logging.getLogger(__name__)


def icon(name: str) -> QIcon:
    """The icon ``name`` (e.g. "mdi6.brush"); an empty icon if qtawesome cannot draw it."""
    pal = QGuiApplication.palette()
    fg = pal.color(QPalette.ColorRole.WindowText).name()
    disabled = pal.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText).name()
    active = pal.color(QPalette.ColorRole.Highlight).name()
    return _icon(name, fg, disabled, active)


@lru_cache(maxsize=256)
def _icon(name: str, fg: str, disabled: str, active: str) -> QIcon:
    try:
        import qtawesome as qta
        return qta.icon(name, color=fg, color_disabled=disabled, color_on=active)
    except Exception:  # noqa: BLE001 - a missing glyph must not stop the app
        log.warning("no icon %s", name)
        return QIcon()
