"""Undo commands. Documents are immutable, so each edit keeps the document before and after.

A drag (moving a hint, painting a stroke, the saturation slider) sends many edits with the
same ``merge_key``; consecutive ones merge into a single undo step.
"""
from __future__ import annotations

from typing import Any, Optional

from PySide6.QtGui import QUndoCommand

MERGE_ID = 0x0C5


class EditDocument(QUndoCommand):
    """Replace the editor's document; undo puts the previous one (and selection) back."""

    def __init__(self, editor, before, after, text: str, merge_key: Any = None,
                 selection_before: Optional[tuple] = None, selection_after: Optional[tuple] = None):
        super().__init__(text)
        self._editor = editor
        self.before = before
        self.after = after
        self.merge_key = merge_key
        self.selection_before = selection_before
        self.selection_after = selection_after

    def redo(self) -> None:
        self._editor._apply(self.after, self.selection_after)

    def undo(self) -> None:
        self._editor._apply(self.before, self.selection_before)

    def id(self) -> int:
        return MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, EditDocument) or other.merge_key is None or other.merge_key != self.merge_key:
            return False
        self.after = other.after
        self.selection_after = other.selection_after
        return True
