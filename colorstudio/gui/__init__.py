"""The PySide6 desktop application. Only this package imports Qt."""
from __future__ import annotations

import sys


def _keep_none_alive() -> None:
    """Work around PySide6 6.12 returning None from void methods without a new reference.

    Every call such as ``widget.update()`` then takes one reference from None; on Python
    3.11 (where None is not yet immortal) the count runs out after a few thousand calls and
    the interpreter aborts with "none_dealloc". Giving None a huge count makes it as
    immortal as Python 3.12 does. Nothing here imports Qt.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    import ctypes
    count = ctypes.c_ssize_t.from_address(id(None))
    if count.value < (1 << 40):
        count.value += 1 << 40


_keep_none_alive()
