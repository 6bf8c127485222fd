"""Building QActions the same way everywhere: icon, shortcuts, and a tooltip that shows them."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

from PySide6.QtGui import QAction, QKeySequence

from .icons import icon


def shortcut_text(keys: Sequence[str]) -> str:
    return ", ".join(QKeySequence(k).toString(QKeySequence.SequenceFormat.NativeText) for k in keys)


def make_action(parent, name: str, text: str, icon_name: str = "", keys: Sequence[str] = (), tip: str = "",
                slot: Optional[Callable] = None, checkable: bool = False) -> QAction:
    """An action named ``name`` whose tooltip ends with its shortcuts, e.g. "Open a photo (Ctrl+O)"."""
    a = QAction(text, parent)
    a.setObjectName(name)
    if icon_name:
        a.setIcon(icon(icon_name))
    if keys:
        a.setShortcuts([QKeySequence(k) for k in keys])
    tip = tip or text.replace("&", "").rstrip("…")
    a.setToolTip(f"{tip} ({shortcut_text(keys)})" if keys else tip)
    a.setStatusTip(tip)
    a.setCheckable(checkable)
    if slot is not None:
        a.triggered.connect(lambda checked=False: slot(checked) if checkable else slot())
    return a


def plain_text(label: str) -> str:
    """A menu label without its mnemonic: "&Reference && style" -> "Reference & style"."""
    return label.replace("&&", "\0").replace("&", "").replace("\0", "&")
