"""Opening photos off the GUI thread.

Decoding and hashing a 50-megapixel scan takes a second or more; done on the GUI thread it
freezes the window. Each open is a :class:`~colorstudio.core.jobs.OpenPhoto` job on a worker
of its own (gui/workers.py; the compute thread owns engines and models, and an open must not
wait behind a render). The latest open wins: a newer open cancels and detaches the one under
way, whose result never reaches the screen.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal, Slot

from ..core.jobs import LoadedPhoto, OpenPhoto  # noqa: F401 (LoadedPhoto re-exported)
from .workers import Latest


class PhotoLoader(QObject):
    """Opens photos on workers; only the latest open's result is reported."""

    loaded = Signal(object)       # LoadedPhoto of the latest open
    failed = Signal(str, str)     # path, the sentence saying why the latest open failed
    busy_changed = Signal(bool)   # an open is under way (True) or over (False)

    def __init__(self, display_side: int, parent=None):
        super().__init__(parent)
        self._side = display_side
        self._generation = 0
        self._opens = Latest(self)
        self._path: Optional[Path] = None   # the open whose result is still wanted

    @property
    def busy(self) -> bool:
        """True while the latest open is under way."""
        return self._path is not None

    @property
    def running(self) -> bool:
        """True until every open's thread (superseded ones included) has ended."""
        return self._opens.running

    def open(self, path) -> int:
        """Start opening ``path``; any open under way is superseded. Returns its generation."""
        self._generation += 1
        was_busy = self.busy
        self._path = Path(path)
        self._opens.start(OpenPhoto(self._path, self._side), name="photoLoader",
                          succeeded=self._loaded, failed=self._failed)
        if not was_busy:
            self.busy_changed.emit(True)
        return self._generation

    def cancel(self) -> None:
        """Drop the open under way, if any (it is told to stop; its result is ignored)."""
        self._opens.supersede()
        if self._path is not None:
            self._path = None
            self.busy_changed.emit(False)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Drop any open under way and wait for the loader threads to end (the window is closing)."""
        self.cancel()
        return self._opens.shutdown(timeout_ms)

    @Slot(object)
    def _loaded(self, loaded: LoadedPhoto) -> None:
        self._path = None
        self.busy_changed.emit(False)
        self.loaded.emit(loaded)

    @Slot(str)
    def _failed(self, error: str) -> None:
        path, self._path = self._path, None
        self.busy_changed.emit(False)
        self.failed.emit(str(path), error)
