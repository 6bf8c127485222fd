"""Opening photos off the GUI thread.

Decoding and hashing a 50-megapixel scan takes a second or more; done on the GUI thread it
freezes the window. Each open runs in its own short-lived QThread (the compute thread owns
engines and models, and an open must not wait behind a render). The latest open wins: a
result for an open that another one has superseded is dropped and never reaches the screen.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedPhoto:
    """A photo opened on a loader thread, with its grey display image already shrunk."""

    path: Path
    photo: Any                  # a SourceImage
    display: np.ndarray         # uint8 grey, long side at most the loader's display side


class _Load(QThread):
    """One open: decode, hash and shrink for display, then report (queued to the GUI thread)."""

    done = Signal(int, object, str)   # generation, LoadedPhoto or None, the error sentence or ""

    def __init__(self, generation: int, path: Path, display_side: int, parent=None):
        super().__init__(parent)
        self._generation, self._path, self._side = generation, path, display_side

    def run(self) -> None:
        from ..core import image   # looked up at run time: keeps start-up light
        try:
            photo = image.open_image(self._path)
            loaded = LoadedPhoto(self._path, photo, photo.gray_u8(max_side=self._side))
        except (image.ImageError, OSError, ValueError) as exc:
            self.done.emit(self._generation, None, str(exc))
            return
        except Exception as exc:  # a bug must still end the wait with a sentence, not hang it
            log.exception("opening %s failed", self._path)
            self.done.emit(self._generation, None, f"{self._path.name} could not be opened ({exc})")
            return
        self.done.emit(self._generation, loaded, "")


class PhotoLoader(QObject):
    """Opens photos on short-lived threads; only the latest open's result is reported."""

    loaded = Signal(object)       # LoadedPhoto of the latest open
    failed = Signal(str, str)     # path, the sentence saying why the latest open failed
    busy_changed = Signal(bool)   # an open is under way (True) or over (False)

    def __init__(self, display_side: int, parent=None):
        super().__init__(parent)
        self._side = display_side
        self._generation = 0
        self._wanted: Optional[int] = None   # the open whose result is still wanted
        self._paths: dict[int, Path] = {}
        self._threads: set[_Load] = set()

    @property
    def busy(self) -> bool:
        """True while the latest open is under way."""
        return self._wanted is not None

    @property
    def running(self) -> bool:
        """True until every loader thread (superseded ones included) has finished and its
        result, queued before its end, has been delivered (and dropped or reported)."""
        return bool(self._threads)

    def open(self, path) -> int:
        """Start opening ``path``; any open under way is superseded. Returns its generation."""
        self._generation += 1
        gen = self._generation
        path = Path(path)
        thread = _Load(gen, path, self._side)
        thread.done.connect(self._done)
        thread.finished.connect(functools.partial(self._reap, thread))
        self._threads.add(thread)
        self._paths = {gen: path}
        was_busy, self._wanted = self.busy, gen
        thread.start()
        if not was_busy:
            self.busy_changed.emit(True)
        return gen

    def cancel(self) -> None:
        """Drop the open under way, if any (its thread ends on its own; its result is ignored)."""
        if self._wanted is not None:
            self._wanted = None
            self._paths.clear()
            self.busy_changed.emit(False)

    def shutdown(self) -> None:
        """Drop any open under way and wait for the loader threads to end (the window is closing)."""
        self.cancel()
        for t in list(self._threads):
            t.wait()
        self._threads.clear()

    @Slot(int, object, str)
    def _done(self, generation: int, loaded, error: str) -> None:
        if generation != self._wanted:
            return   # superseded: the newer open's result is the one to show
        path = self._paths.pop(generation, None)
        self._wanted = None
        self.busy_changed.emit(False)
        if loaded is None:
            self.failed.emit(str(path), error)
        else:
            self.loaded.emit(loaded)

    def _reap(self, thread: _Load) -> None:
        self._threads.discard(thread)
        thread.deleteLater()
