"""The reach overlay: how far the selected hint's colour reaches, shown over the canvas.

While the overlay is on, every change of the selection or the document (after a drag ends)
asks the compute thread for a :class:`~colorstudio.core.jobs.ReachJob`; the answer for the
current question, and only that one, is handed to the canvas. A restorer sees a leak (a
point on a cheek that reaches the wall) before it becomes a wrong colour.
"""
from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QObject, Signal, Slot

from ..core.jobs import Reach, ReachJob


class ReachOverlay(QObject):
    message = Signal(str)

    def __init__(self, editor, workspace, compute, canvas, parent=None):
        super().__init__(parent)
        self.editor, self.workspace, self.compute, self.canvas = editor, workspace, compute, canvas
        self._on = False
        self._asked: Optional[tuple] = None
        editor.selection_changed.connect(self._changed)
        editor.document_changed.connect(self._changed)
        editor.interaction_changed.connect(self._changed)
        compute.reach_ready.connect(self._arrived)

    @property
    def enabled(self) -> bool:
        return self._on

    def set_enabled(self, on: bool) -> None:
        self._on = bool(on)
        if not self._on:
            self._asked = None
            self.canvas.set_overlay(None)
        else:
            if self.editor.selection is None:
                self.message.emit("select a hint (click it) to see how far its colour reaches")
            self._changed()

    def _question(self) -> Optional[tuple]:
        sel = self.editor.selection
        if not self._on or sel is None or self.workspace.photo is None:
            return None
        doc = self.editor.document
        return (doc.hints, sel, doc.options, doc.engine)

    @Slot()
    def _changed(self, *_args) -> None:
        if not self._on or self.editor.interacting:
            return
        q = self._question()
        if q is None:
            self._asked = None
            self.canvas.set_overlay(None)
            return
        if q == self._asked:
            return
        self._asked = q
        hints, sel, options, _ = q
        ws = self.workspace
        self.compute.reach(ReachJob(ws.photo, ws.photo_ref.content_hash, ws.engine_choice, hints, sel, options))

    @Slot(object)
    def _arrived(self, out: Reach) -> None:
        if self._asked is None or (out.hints, out.selection) != self._asked[:2]:
            return  # an answer to an older question
        if out.reach is None:
            self.message.emit(out.message)
        self.canvas.set_overlay(out.reach)
