"""The Models dialog: which neural models there are, and installing, importing and removing them.

Downloads and imports are :class:`~colorstudio.models.jobs.InstallModel` jobs (over
``colorstudio.models.install`` / ``import_model``, plain functions with ``progress`` and
``should_stop``) on a worker of their own (gui/workers.py), never on the compute thread, which
stays free for previews. One job at a time. A cancelled download keeps its ``.part`` file, so
Install resumes it later. Every failure is the model manager's one sentence, shown once in the dialog.

The dialog is not modal: the photo can be edited while a model downloads. ``models_changed``
tells the window which model was installed, imported or removed, so that the mode panel and
the compute thread's cached engine follow.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QUrl, Qt, Signal, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (QAbstractItemView, QDialogButtonBox, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QMessageBox, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout)

from .icons import icon
from .workers import JobDialog, Worker

log = logging.getLogger(__name__)

WEIGHTS_FILTER = "PyTorch weights (*.pth *.pt);;All files (*)"
COLUMNS = ("Model", "Purpose", "Status", "Size", "File")


def choose_weights_file(parent, name: str) -> Optional[str]:
    """Ask for the downloaded file of model ``name``; None when the user cancels."""
    path, _ = QFileDialog.getOpenFileName(parent, f"Import the {name} model from a file", str(Path.home()),
                                          WEIGHTS_FILTER)
    return path or None


def confirm_remove(parent, name: str, path: Path) -> bool:
    """Ask before deleting an installed model."""
    answer = QMessageBox.question(
        parent, "Remove model",
        f"Delete the {name} model ({path})?\n\nThe engines that use it stop working until it is installed again.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


class ModelsDialog(JobDialog):
    """List the registry's models; install (with progress and Cancel), import, remove."""

    models_changed = Signal(str)   # the model that was installed, imported or removed

    def __init__(self, parent=None, select: Optional[str] = None):
        super().__init__(parent)
        self.setObjectName("modelsDialog")
        self.setWindowTitle("Models")
        self.setWindowIcon(icon("mdi6.package-variant"))
        self.setModal(False)
        self._statuses: list = []

        intro = QLabel("Neural models colour photos automatically and follow your hints more closely. Each is "
                       "downloaded once, only when you ask, from its authors' release, checked against its "
                       "published checksum, and read safely (never run as code).", self)
        intro.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("modelsTable")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        for col, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.Stretch,
                                    QHeaderView.ResizeMode.ResizeToContents, QHeaderView.ResizeMode.ResizeToContents,
                                    QHeaderView.ResizeMode.ResizeToContents)):
            header.setSectionResizeMode(col, mode)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self.install_button = QPushButton(icon("mdi6.download"), "Install", self)
        self.install_button.setObjectName("installButton")
        self.install_button.setToolTip("Download the selected model from its authors' release")
        self.install_button.clicked.connect(self.install_selected)
        self.import_button = QPushButton(icon("mdi6.file-import-outline"), "Import from file…", self)
        self.import_button.setObjectName("importButton")
        self.import_button.setToolTip("Install the selected model from a file downloaded elsewhere "
                                      "(for computers without internet access)")
        self.import_button.clicked.connect(self.import_selected)
        self.remove_button = QPushButton(icon("mdi6.delete-outline"), "Remove", self)
        self.remove_button.setObjectName("removeButton")
        self.remove_button.setToolTip("Delete the selected model from this computer")
        self.remove_button.clicked.connect(self.remove_selected)
        actions = QHBoxLayout()
        for b in (self.install_button, self.import_button, self.remove_button):
            actions.addWidget(b)
        actions.addStretch(1)

        self.progress = QProgressBar(self)
        self.progress.setObjectName("modelProgress")
        self.progress.setTextVisible(True)
        self.progress_label = QLabel(self)
        self.progress_label.setObjectName("modelProgressLabel")
        self.cancel_button = QPushButton(icon("mdi6.cancel"), "Cancel", self)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setToolTip("Stop; an interrupted download resumes where it stopped next time")
        self.cancel_button.clicked.connect(self.cancel)
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.cancel_button)
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.hide()

        self.message = QLabel(self)
        self.message.setObjectName("modelsMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()

        self.folder_label = QLabel(self)
        self.folder_label.setObjectName("modelsFolder")
        self.folder_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.folder_label.setToolTip("Set the environment variable COLORSTUDIO_MODELS to keep models elsewhere")
        self.open_folder_button = QPushButton(icon("mdi6.folder-open-outline"), "Open folder", self)
        self.open_folder_button.setObjectName("openFolderButton")
        self.open_folder_button.setToolTip("Show the models folder in the file manager")
        self.open_folder_button.clicked.connect(self.open_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(QLabel("Folder:", self))
        folder_row.addWidget(self.folder_label, 1)
        folder_row.addWidget(self.open_folder_button)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)

        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        lay.addLayout(progress_row)
        lay.addWidget(self.message)
        lay.addLayout(folder_row)
        lay.addWidget(buttons)
        self.resize(820, 400)
        self.refresh()
        if select is not None:
            self.select_model(select)

    # -- the list -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the models folder and show every known model."""
        from ..models.store import list_models, models_path
        selected = self.selected_name()
        self._statuses = list_models()
        self.table.setRowCount(len(self._statuses))
        for row, st in enumerate(self._statuses):
            info = st.info
            if st.installed:
                status, size = "Installed", _mb(st.size or 0)
            elif st.partial:
                status = f"Not installed (download paused at {_mb(st.partial)})"
                size = f"about {_mb(info.approx_bytes)}"
            else:
                status, size = "Not installed", f"about {_mb(info.approx_bytes)}"
            cells = (info.name, info.purpose, status, size, st.path.name)
            tip = f"{info.label}\nLicence: {info.licence}\nSource: {info.source}\n\n{info.citation}"
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip if col < 2 else str(st.path) if col == 4 else text)
                if col == 0:
                    item.setData(Qt.ItemDataRole.UserRole, info.name)
                if col == 2 and st.installed:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(row, col, item)
        self.table.resizeRowsToContents()
        self.folder_label.setText(str(models_path()))
        if selected is None or not self.select_model(selected):
            if self._statuses:
                self.table.selectRow(0)
        self._update_buttons()

    def select_model(self, name: str) -> bool:
        """Select the row of model ``name``; False when there is none."""
        for row, st in enumerate(self._statuses):
            if st.name == name:
                self.table.selectRow(row)
                return True
        return False

    def selected_name(self) -> Optional[str]:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), 0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def status_of(self, name: str):
        return next((st for st in self._statuses if st.name == name), None)

    def _update_buttons(self) -> None:
        st = self.status_of(self.selected_name() or "")
        idle = self.job is None
        self.install_button.setEnabled(idle and st is not None and not st.installed)
        self.install_button.setText("Resume download" if st is not None and not st.installed and st.partial
                                    else "Install")
        self.import_button.setEnabled(idle and st is not None)
        self.remove_button.setEnabled(idle and st is not None and (st.installed or bool(st.partial)))
        self.table.setEnabled(idle)

    # -- messages -------------------------------------------------------------------------------
    def show_message(self, text: str, kind: str = "error") -> None:
        from .text import as_sentence
        text = as_sentence(text)
        glyph = "\u26a0 " if kind == "error" else ""
        self.message.setProperty("kind", kind)
        # A red that reads on light and dark palettes alike.
        self.message.setStyleSheet("color: #d9534f;" if kind == "error" else "")
        self.message.setText(glyph + text)
        self.message.setVisible(bool(text))

    def clear_message(self) -> None:
        self.message.clear()
        self.message.hide()

    @property
    def message_text(self) -> str:
        return self.message.text() if self.message.isVisible() else ""

    # -- actions -------------------------------------------------------------------------------
    def install_selected(self) -> Optional[Worker]:
        """Download the selected model (resuming an interrupted download)."""
        name = self.selected_name()
        if name is None or self.job is not None:
            return None
        from ..models.jobs import InstallModel
        st = self.status_of(name)
        what = f"Resuming the download of {name}" if st is not None and st.partial else f"Downloading {name}"
        return self._start(InstallModel(name), what)

    def import_selected(self) -> Optional[Worker]:
        """Ask for a file and install it as the selected model (checked before it is used)."""
        name = self.selected_name()
        if name is None or self.job is not None:
            return None
        path = choose_weights_file(self, name)
        if not path:
            return None
        return self.import_file(name, path)

    def import_file(self, name: str, path) -> Optional[Worker]:
        if self.job is not None:
            return None
        from ..models.jobs import InstallModel
        return self._start(InstallModel(name, str(path)), f"Checking and copying {Path(path).name}")

    def remove_selected(self) -> bool:
        name = self.selected_name()
        st = self.status_of(name or "")
        if st is None or self.job is not None or not (st.installed or st.partial):
            return False
        if not confirm_remove(self, name, st.path):
            return False
        from ..models.errors import ModelError
        from ..models.store import remove
        try:
            remove(name)
        except ModelError as exc:
            self.show_message(str(exc))
            self.refresh()
            return False
        self.show_message(f"Removed the {name} model.", "info")
        self.refresh()
        self.models_changed.emit(name)
        return True

    def open_folder(self) -> None:
        from ..models.errors import ModelError
        from ..models.store import ensure_models_path
        try:
            folder = ensure_models_path()
        except ModelError as exc:
            self.show_message(str(exc))
            return
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.show_message(f"could not open a file manager; the models are in {folder}", "info")

    def cancel(self) -> None:
        if self.job is not None and not self.job.cancelling:
            self.job.cancel()
            self.progress_label.setText("Cancelling…")
            self.cancel_button.setEnabled(False)

    # -- the job ---------------------------------------------------------------------------------
    def _start(self, task, what: str) -> Worker:
        self.clear_message()
        job = self.job = Worker(task, name=f"modelJob_{task.kind}_{task.name}").on(
            progressed=self._progressed, succeeded=self._succeeded, failed=self._failed,
            cancelled=self._cancelled, finished=self._job_finished)
        self.progress.setRange(0, 0)   # busy until the first byte counts arrive
        self.progress_label.setText(f"{what}…")
        self.cancel_button.setEnabled(True)
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.show()
        self._update_buttons()
        job.start()
        return job

    @Slot(object, object)
    def _progressed(self, done, total) -> None:
        if self.job is None or self.job.cancelling:
            return
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(done, total) / total))
            self.progress.setFormat(f"{_mb(done)} of {_mb(total)}")
        else:
            self.progress.setRange(0, 0)

    @Slot(object)
    def _succeeded(self, path) -> None:
        # Signals from the job arrive in order, so self.job is still the job that succeeded.
        if self.job is None:
            return
        task = self.job.job
        verb = "Installed" if task.kind == "download" else "Imported"
        self.show_message(f"{verb} the {task.name} model ({path}).", "info")
        self.refresh()
        self.models_changed.emit(task.name)

    @Slot(str)
    def _failed(self, text: str) -> None:
        self.show_message(in_the_dialog(text), "error")

    @Slot()
    def _cancelled(self) -> None:
        task = self.job.job if self.job is not None else None
        if task is not None and task.kind == "download":
            self.show_message(f"The download of {task.name} was cancelled; Install resumes it where it stopped.",
                              "info")
        else:
            self.show_message("The import was cancelled; nothing was installed.", "info")

    @Slot()
    def _job_finished(self) -> None:
        self.job = None
        for w in (self.progress, self.progress_label, self.cancel_button):
            w.hide()
        self.refresh()
        self._close_if_asked()


def in_the_dialog(text: str) -> str:
    """A model error as the dialog says it: its own buttons instead of the command line."""
    import re
    text = re.sub(r"(?:download (?:the file|the files) elsewhere and )?run `colorstudio models import \S+ (?:FILE|FOLDER)`",
                  "download the file elsewhere and use this window's \u201cImport from file\u2026\u201d button", text)
    text = re.sub(r"run `colorstudio models install \S+`( again)?", "click Install again", text)
    return text
