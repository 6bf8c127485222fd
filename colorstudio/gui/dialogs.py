"""Dialogs: export, keyboard shortcuts, and the unsaved-work question."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMessageBox, QPushButton, QSpinBox, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from .actions import plain_text
from .icons import icon

FORMATS = (("png", "PNG (lossless)", ".png"),
           ("tiff", "TIFF, 16-bit (lossless, keeps all tones)", ".tif"),
           ("jpeg", "JPEG", ".jpg"))


def default_export_path(photo_path: Path, fmt: str = "png") -> Path:
    """``<photo>-colour.<ext>`` beside the photo: never the photo itself."""
    ext = dict((f, e) for f, _, e in FORMATS)[fmt]
    return photo_path.with_name(f"{photo_path.stem}-colour{ext}")


class ExportDialog(QDialog):
    """Choose where and how to export the full-resolution result."""

    def __init__(self, photo_path: Path, size: tuple[int, int], parent=None, fmt: str = "png", quality: int = 95,
                 folder: Optional[Path] = None):
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle("Export colour photo")
        self._photo_path = Path(photo_path)
        self.format_combo = QComboBox(self)
        self.format_combo.setObjectName("exportFormat")
        for key, label, _ in FORMATS:
            self.format_combo.addItem(label, key)
        self.quality = QSpinBox(self)
        self.quality.setObjectName("exportQuality")
        self.quality.setRange(1, 100)
        self.quality.setValue(quality)
        self.quality.setSuffix(" %")
        self.quality.setToolTip("JPEG quality: higher is larger and closer to the original")
        self.path_field = QLineEdit(self)
        self.path_field.setObjectName("exportPath")
        browse = QPushButton(icon("mdi6.folder-open"), "Browse…", self)
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path_field, 1)
        row.addWidget(browse)
        note = QLabel(f"Full resolution, {size[0]}\u00d7{size[1]} pixels. The photo's own tones are kept exactly; "
                      "the source photo is never written.", self)
        note.setWordWrap(True)
        self.error = QLabel(self)
        self.error.setObjectName("exportError")
        self.error.setWordWrap(True)
        self.error.hide()
        form = QFormLayout()
        form.addRow("Format", self.format_combo)
        form.addRow("JPEG quality", self.quality)
        form.addRow("File", row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(note)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self.format_combo.currentIndexChanged.connect(self._format_changed)
        self.format_combo.setCurrentIndex(max(self.format_combo.findData(fmt), 0))
        proposed = default_export_path(self._photo_path, self.fmt)
        if folder is not None:
            proposed = Path(folder) / proposed.name
        self.path_field.setText(str(proposed))
        self._format_changed()

    @property
    def fmt(self) -> str:
        return self.format_combo.currentData()

    @property
    def path(self) -> Path:
        return Path(self.path_field.text().strip()).expanduser()

    def _format_changed(self, *_):
        self.quality.setEnabled(self.fmt == "jpeg")
        text = self.path_field.text().strip()
        if text:
            ext = dict((f, e) for f, _, e in FORMATS)[self.fmt]
            self.path_field.setText(str(Path(text).with_suffix(ext)))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export colour photo", str(self.path),
                                              "Images (*.png *.tif *.tiff *.jpg *.jpeg)")
        if path:
            self.path_field.setText(path)

    def _accept(self) -> None:
        p = self.path
        if not p.name:
            return self._fail("choose a file name for the export")
        if p.exists() and self._photo_path.exists() and p.resolve() == self._photo_path.resolve():
            return self._fail("that is the source photo; exporting never overwrites it, so choose another name")
        if not p.parent.is_dir():
            return self._fail(f"the folder {p.parent} does not exist")
        self.accept()

    def _fail(self, text: str) -> None:
        from .text import as_sentence
        self.error.setText(as_sentence(text) + ".")
        self.error.show()


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts: built from the window's actions, so it is never out of date."""

    MOUSE = (("Zoom around the pointer", "Mouse wheel"),
             ("Pan", "Space + drag, or middle-button drag"),
             ("Move a colour point", "Drag it with the point tool"),
             ("Remove a colour point or stroke", "Right-click it"),
             ("Move the before/after divider", "Drag it in the split view"))

    def __init__(self, actions: Iterable[QAction], parent=None):
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        rows = []
        for a in actions:
            keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts()]
            if keys:
                rows.append((plain_text(a.text()).rstrip("…"), ", ".join(keys), a.icon()))
        rows += [(what, how, None) for what, how in self.MOUSE]
        table = QTableWidget(len(rows), 2, self)
        table.setObjectName("shortcutsTable")
        table.setHorizontalHeaderLabels(["Action", "Keys"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for i, (what, keys, ic) in enumerate(rows):
            item = QTableWidgetItem(what)
            if ic is not None:
                item.setIcon(ic)
            table.setItem(i, 0, item)
            table.setItem(i, 1, QTableWidgetItem(keys))
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(buttons)
        self.table = table
        self.resize(520, 560)


def ask_save_changes(parent: Optional[QWidget], name: str) -> str:
    """Ask what to do with unsaved edits: "save", "discard" or "cancel"."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Unsaved hints")
    box.setText(f"Save the hints of {name} before closing?")
    box.setInformativeText("If you don't, they are still kept in the autosave and come back when you open "
                           "this photo again.")
    save = box.addButton("Save…", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Close without saving", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(save)
    box.exec()
    clicked = box.clickedButton()
    if clicked is save:
        return "save"
    if clicked is discard:
        return "discard"
    return "cancel"



def ask_stop_export(parent: Optional[QWidget]) -> bool:
    """An export is running: True to stop it and close, False to keep the window open."""
    answer = QMessageBox.question(
        parent, "Export running", "An export is still being written. Stop it and close?\n\n"
        "Nothing half-written is left behind; the file is simply not made.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class AboutDialog(QDialog):
    """Help → About: what ``colorstudio --version`` prints (versions, device, folders, installed
    models with licences), the licence texts shipped with bundled models, and Copy for a bug report."""

    def __init__(self, info, parent=None):
        super().__init__(parent)
        from PySide6.QtWidgets import QPlainTextEdit
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Colorstudio")
        title = QLabel(f"<b>Colorstudio {info.version}</b><br>Colorize black-and-white photographs with colour "
                       "hints, reference colours and style. The photo's own tones are always kept.<br>"
                       "MIT licence.", self)
        title.setWordWrap(True)
        text = info.text()
        for m in info.models:
            if m.notice is not None:
                try:
                    notice = m.notice.read_text(encoding="utf-8", errors="replace")
                except OSError as exc:
                    notice = f"(could not read {m.notice}: {exc.strerror or exc})"
                text += f"\n\n{m.label}: licence\n\n{notice.strip()}"
        details = QPlainTextEdit(text, self)
        details.setObjectName("aboutDetails")
        details.setReadOnly(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        copy = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        copy.setObjectName("aboutCopy")
        copy.setToolTip("Copy these details, for a bug report")
        copy.clicked.connect(self._copy)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(title)
        lay.addWidget(details)
        lay.addWidget(buttons)
        self.details, self.copy_button, self.buttons = details, copy, buttons
        self.resize(600, 460)

    def _copy(self) -> None:
        from PySide6.QtWidgets import QApplication
        QApplication.clipboard().setText(self.details.toPlainText())
