"""The Batch dialog (Tools > Batch…): colorize a folder of photos from the app.

The headless batch (:mod:`colorstudio.core.batch`) does the work: a
:class:`~colorstudio.core.batch.jobs.BatchJob` (``run_batch`` with ``on_record`` and
``should_stop``, as the CLI drives it) on a worker of the dialog's own (gui/workers.py). The
job never touches a widget; every photo's record crosses to the GUI thread as a plain dict (a
note of the worker), and the list updates from it.

Pause, Resume, Cancel: the job waits in a gate (a ``threading.Event``) before it takes the
next photo and before each photo's colorizing; Cancel opens the gate and stops the walk, so
the photos already in flight finish and are recorded. A later Start goes on from the
manifest, as ``colorstudio batch`` run again does.

Interactive previews come first: while the window's compute thread is busy (``Compute.busy``
/ ``busy_changed``: a preview, a suggestion or an export), the same gate holds the batch
before each photo's colorizing. A photo already being colorized finishes (a small photo
takes a moment), but no new one starts until the preview has been delivered, so the batch
never competes with the user for the CPU for more than one photo. The batch colorizes one
photo at a time (``jobs=1``) on the app's runtime (the compute thread's: a model is loaded
once for previews and batch alike). The batch asks the runtime for an engine only while the
compute thread is idle (the gate), so the two never build one at once; a built engine serves
both threads, its per-photo state living in the session each photo starts. (Switching that
engine's device in the window while a batch runs replaces it under the photo in flight, which
may then fail; the list says so, and Start again redoes it.)

Mode, reference picture and engine are chosen as on the command line (``--mode``,
``--reference``, ``--engine``, ``--device``): the engine list is the registry's engines for the
mode, best first, after "best available"; a photo with a saved edit document keeps its own.

A row's thumbnail is decoded by a :class:`~colorstudio.core.batch.jobs.Thumbnails` job on a
worker (Pillow's draft mode; files over :data:`THUMBNAIL_MAX_BYTES` get none).
Double-clicking a row asks the window to open that photo (``open_requested``): its saved edit
document comes back by content hash, the user fixes it there, and "Re-render this one" runs
the per-photo step for that photo alone (its output is the batch's own, so it is replaced).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from .workers import JobDialog, Worker

log = logging.getLogger(__name__)

#: Batch modes offered, document first (the default: only photos edited in the app).
MODES = ("document", "hints", "auto", "reference", "palette", "style")
FORMATS = ("same", "png", "tiff", "jpeg")
DEVICES = ("auto", "cpu", "cuda", "mps")
#: Modes that need a reference picture, and modes whose engine the batch chooses (in the
#: others every photo that is colorized brings its own engine in its document).
NEEDS_REFERENCE = ("reference", "palette", "style")
ENGINE_MODES = ("auto", "reference", "palette", "style")
THUMBNAIL_SIDE = 48
THUMBNAIL_MAX_BYTES = 40 * 1024 * 1024
COLUMNS = ("Photo", "Status", "Reason")


def status_text(record: dict) -> str:
    """The Status column for a manifest record."""
    if record.get("up_to_date"):
        return "done (up to date)"
    return {"done": "done", "skipped": "skipped", "failed": "failed"}.get(record.get("status"),
                                                                        str(record.get("status")))


class _Gate:
    """Pause, cancel and preview priority, shared by the job's threads (plain Python)."""

    def __init__(self):
        self.resumed = threading.Event()     # set: not paused
        self.resumed.set()
        self.preview_idle = threading.Event()   # set: the window's compute thread is idle
        self.preview_idle.set()
        self.stop = threading.Event()
        self.waits = 0                        # times a photo waited for a preview (tests, status)
        self.blocked = 0                      # threads waiting in the gate now
        self._lock = threading.Lock()

    def _open(self) -> bool:
        return self.stop.is_set() or (self.resumed.is_set() and self.preview_idle.is_set())

    def wait(self) -> bool:
        """Block while paused or while a preview runs; True when the batch should stop."""
        if self._open():
            return self.stop.is_set()
        with self._lock:
            self.blocked += 1
            if self.resumed.is_set():
                self.waits += 1
        try:
            while not self._open():
                (self.resumed if not self.resumed.is_set() else self.preview_idle).wait(0.05)
        finally:
            with self._lock:
                self.blocked -= 1
        return self.stop.is_set()


def app_runtime():
    """The process's shared runtime (when the dialog has no compute thread to take it from)."""
    from ..core.runtime import default_runtime
    return default_runtime()


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


class BatchDialog(JobDialog):
    """Choose folders and a mode, run the batch, watch every photo, pause, cancel, fix one."""

    open_requested = Signal(str)   # the path of a photo to open in the editor
    batch_finished = Signal()      # a run (or a re-render) has ended and its thread stopped

    def __init__(self, parent=None, *, compute=None, autosave: Optional[str] = None, runtime=None):
        super().__init__(parent)
        self.setObjectName("batchDialog")
        self.setWindowTitle("Batch")
        self.resize(640, 520)
        self.autosave = autosave
        #: The app's runtime (the compute thread's); the batch builds no engines of its own.
        if runtime is None and compute is not None:
            runtime = compute.runtime
        self.runtime = runtime if runtime is not None else app_runtime()
        self.thumbs: Optional[Worker] = None
        self.gate = _Gate()
        self.items: dict[str, QTreeWidgetItem] = {}
        self.compute = compute

        self.source_edit, self.output_edit = QLineEdit(), QLineEdit()
        self.source_edit.setObjectName("batchSource")
        self.output_edit.setObjectName("batchOutput")
        form = QFormLayout()
        for label, edit, title in (("Source folder", self.source_edit, "Choose the folder of photos"),
                                   ("Output folder", self.output_edit, "Choose where the results go")):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            browse = QPushButton("Browse…")
            browse.clicked.connect(lambda _=False, e=edit, t=title: self._browse(e, t))
            row.addWidget(browse)
            form.addRow(label, row)
        self.mode_combo = QComboBox()
        self.mode_combo.setObjectName("batchMode")
        self.mode_combo.addItems(MODES)
        self.mode_combo.setToolTip("How photos without a saved edit document are colorized; document: only the "
                                   "photos you edited in the app")
        self.mode_combo.currentTextChanged.connect(self._mode_changed)
        self.reference_edit = QLineEdit()
        self.reference_edit.setObjectName("batchReference")
        self.reference_edit.setPlaceholderText("a picture whose colours (or style) the photos take")
        self.reference_browse = QPushButton("Browse…")
        self.reference_browse.setObjectName("batchReferenceBrowse")
        self.reference_browse.setAutoDefault(False)
        self.reference_browse.clicked.connect(self._browse_reference)
        self.reference_row = QWidget()
        ref_row = QHBoxLayout(self.reference_row)
        ref_row.setContentsMargins(0, 0, 0, 0)
        ref_row.addWidget(self.reference_edit, 1)
        ref_row.addWidget(self.reference_browse)
        self.engine_combo = QComboBox()
        self.engine_combo.setObjectName("batchEngine")
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("batchDevice")
        self.device_combo.addItems(DEVICES)
        self.device_combo.setToolTip("Where neural engines run")
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("batchFormat")
        self.format_combo.addItems(FORMATS)
        self.recursive_box = QCheckBox("Also the photos in subfolders")
        self.recursive_box.setObjectName("batchRecursive")
        form.addRow("Mode", self.mode_combo)
        form.addRow("Reference", self.reference_row)
        form.addRow("Engine", self.engine_combo)
        form.addRow("Device", self.device_combo)
        form.addRow("Format", self.format_combo)
        form.addRow("", self.recursive_box)

        self.tree = QTreeWidget()
        self.tree.setObjectName("batchPhotos")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setIconSize(QPixmap(THUMBNAIL_SIDE, THUMBNAIL_SIDE).size())
        self.tree.setColumnWidth(0, 260)
        self.tree.setColumnWidth(1, 120)
        self.tree.itemDoubleClicked.connect(self._double_clicked)
        self.tree.itemSelectionChanged.connect(self._update_buttons)

        self.progress = QProgressBar()
        self.progress.setObjectName("batchProgress")
        self.rate_label = QLabel()
        self.rate_label.setObjectName("batchRate")
        self._t0 = time.monotonic()
        self.message = QLabel()
        self.message.setObjectName("batchMessage")
        self.message.setWordWrap(True)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.cancel_button = QPushButton("Cancel")
        self.rerender_button = QPushButton("Re-render this one")
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        for name, b, slot in (("batchStart", self.start_button, self.start),
                              ("batchPause", self.pause_button, self.pause),
                              ("batchResume", self.resume_button, self.resume),
                              ("batchCancel", self.cancel_button, self.cancel),
                              ("batchRerender", self.rerender_button, self.rerender_selected),
                              ("batchClose", self.close_button, self.reject)):
            b.setObjectName(name)
            b.setAutoDefault(False)
            b.clicked.connect(slot)
            buttons.addWidget(b)
        self.rerender_button.setToolTip("Colorize the selected photo again (after fixing it in the editor); "
                                        "its earlier result is replaced")

        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.rate_label)
        lay.addWidget(self.message)
        lay.addLayout(buttons)

        if compute is not None:
            compute.busy_changed.connect(self._preview_busy)
            self._preview_busy(compute.busy)
        self._mode_changed(self.mode_combo.currentText())

    # -- choosing ----------------------------------------------------------------------------------
    def _browse(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)

    def _browse_reference(self) -> None:
        start = self.reference_edit.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose the reference picture", start,
                                              "Pictures (*.png *.jpg *.jpeg *.tif *.tiff *.webp *.bmp)")
        if path:
            self.reference_edit.setText(path)

    @Slot()
    @Slot(str)
    def refresh_engines(self, *_args) -> None:
        """List the mode's engines again (which can run here may have changed)."""
        self._mode_changed(self.mode_combo.currentText())

    @Slot(str)
    def _mode_changed(self, mode: str) -> None:
        """The engines of the mode (best first, after "best available"), like ``--engine``."""
        from ..engines.registry import ENGINES, engines_by_preference
        from .availability import engine_availability
        chosen = self.engine_combo.currentData()
        self.engine_combo.blockSignals(True)
        self.engine_combo.clear()
        self.engine_combo.addItem("Best available", None)
        if mode in ENGINE_MODES:
            for name in engines_by_preference(mode):
                ready = engine_availability(name)
                self.engine_combo.addItem(f"{ENGINES[name].label} ({name})" + ("" if ready.ok else
                                                                              " \u2014 not installed"), name)
                if not ready.ok:
                    # Listed, so the user knows it exists, but not choosable: every photo would fail.
                    i = self.engine_combo.count() - 1
                    self.engine_combo.model().item(i).setEnabled(False)
                    self.engine_combo.setItemData(i, ready.reason[:1].upper() + ready.reason[1:] +
                                                  "; install it from Models\u2026", Qt.ItemDataRole.ToolTipRole)
            i = self.engine_combo.findData(chosen)
            if chosen is not None and i > 0 and self.engine_combo.model().item(i).isEnabled():
                self.engine_combo.setCurrentIndex(i)
            self.engine_combo.setToolTip("The engine for photos without a saved edit document")
        else:
            self.engine_combo.setToolTip("Each photo is rendered with the engine its saved edit document names")
        self.engine_combo.blockSignals(False)
        self._update_buttons()

    def settings(self):
        from ..core.batch import BatchSettings
        mode = self.mode_combo.currentText()
        ref = self.reference_edit.text().strip()
        return BatchSettings(mode=mode, fmt=self.format_combo.currentText(), autosave=self.autosave,
                             engine=self.engine_combo.currentData() if mode in ENGINE_MODES else None,
                             device=self.device_combo.currentText(),
                             references=(ref,) if ref and mode in NEEDS_REFERENCE else ())

    def _runtime(self):
        return self.runtime

    # -- state -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    @property
    def paused(self) -> bool:
        return not self.gate.resumed.is_set()

    def _update_buttons(self) -> None:
        running = self.running
        whole = running and self.job.job.only is None
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(whole and not self.paused and not self.gate.stop.is_set())
        self.resume_button.setEnabled(whole and self.paused and not self.gate.stop.is_set())
        self.cancel_button.setEnabled(running and not self.gate.stop.is_set())
        self.rerender_button.setEnabled(not running and self._selected_rel() is not None)
        mode = self.mode_combo.currentText()
        for w in (self.source_edit, self.output_edit, self.mode_combo, self.format_combo, self.recursive_box,
                  self.device_combo):
            w.setEnabled(not running)
        self.reference_row.setEnabled(not running and mode in NEEDS_REFERENCE)
        self.engine_combo.setEnabled(not running and mode in ENGINE_MODES)

    def _selected_rel(self) -> Optional[str]:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def status_of(self, rel: str) -> tuple[str, str]:
        """(status text, tooltip) of a row (tests and the user's eye read the same thing)."""
        item = self.items[rel]
        return item.text(1), item.toolTip(1)

    def show_message(self, text: str) -> None:
        self.message.setText(text)

    @Slot(bool)
    def _preview_busy(self, busy: bool) -> None:
        (self.gate.preview_idle.clear if busy else self.gate.preview_idle.set)()

    # -- running -----------------------------------------------------------------------------------
    def start(self) -> Optional[Worker]:
        """Run the batch over the chosen folders (resuming from the manifest when there is one)."""
        if self.running:
            return None
        src, out = self.source_edit.text().strip(), self.output_edit.text().strip()
        if not src or not out:
            self.show_message("Choose a source folder and an output folder first.")
            return None
        mode = self.mode_combo.currentText()
        if mode in NEEDS_REFERENCE and not self.reference_edit.text().strip():
            self.show_message(f"Choose a reference picture for {mode} mode first.")
            return None
        unready = self._engine_problem(mode)
        if unready:
            self.show_message(unready)
            return None
        self.tree.clear()
        self.items.clear()
        self.progress.setRange(0, 0)
        self.progress.setValue(0)
        from ..core.batch.jobs import BatchJob
        return self._start(BatchJob(src, out, self.settings(), recursive=self.recursive_box.isChecked(),
                                    wait=self._fresh_gate().wait, runtime_factory=self._runtime,
                                    shared_runtime=True),
                           "Colorizing…")

    def _engine_problem(self, mode: str) -> str:
        """Why the photos without a document could not be colorized here (a sentence in the
        app's words, pointing to Tools > Models...), or "" when they can."""
        if mode not in ENGINE_MODES:
            return ""
        from .availability import best_engine, engine_availability, mode_availability
        chosen = self.engine_combo.currentData()
        if chosen is not None:
            ready = engine_availability(chosen)
        else:
            ready = mode_availability(mode) if best_engine(mode) is None else None
        if ready is None or ready.ok:
            return ""
        advice = ("install it from Tools \u203a Models\u2026" if chosen is not None else
                  "install one from Tools \u203a Models\u2026")
        return (f"{ready.reason[:1].upper()}{ready.reason[1:]}: {advice}, or choose the document mode to "
                "render only the photos you edited.")

    def rerender_selected(self) -> Optional[Worker]:
        """Run the per-photo step for the selected photo alone."""
        rel = self._selected_rel()
        if self.running or rel is None:
            return None
        self._set_status(rel, "pending", "")
        from ..core.batch.jobs import BatchJob
        job = BatchJob(self.source_edit.text().strip(), self.output_edit.text().strip(), self.settings(),
                       recursive=self.recursive_box.isChecked(), wait=self._fresh_gate().wait,
                       runtime_factory=self._runtime, shared_runtime=True, only=rel)
        return self._start(job, f"Colorizing {rel} again…")

    def _fresh_gate(self) -> _Gate:
        old, self.gate = self.gate, _Gate()
        self.gate.preview_idle = old.preview_idle   # the compute thread's state carries over
        return self.gate

    def _start(self, task, what: str) -> Worker:
        job = self.job = Worker(task, name="batchJob" if task.only is None else "batchRerender").on(
            noted=self._noted, succeeded=self._succeeded, failed=self._failed, finished=self._job_finished)
        self.show_message(what)
        self._update_buttons()
        job.start()
        return job

    def pause(self) -> None:
        if self.running:
            self.gate.resumed.clear()
            self.show_message("Paused: the photos in flight finish, then the batch waits.")
            self._update_buttons()

    def resume(self) -> None:
        if self.running:
            self.gate.resumed.set()
            self.show_message("Colorizing…")
            self._update_buttons()

    def cancel(self) -> None:
        """Stop after the photos in flight; Start later goes on from where it stopped."""
        if self.running and not self.gate.stop.is_set():
            self.gate.stop.set()
            self.gate.resumed.set()
            self.job.cancel()
            self.show_message("Cancelling: the photos in flight finish…")
            self._update_buttons()

    # -- what the job reports ----------------------------------------------------------------------
    @Slot(object)
    def _noted(self, note) -> None:
        from ..core.batch.jobs import Listed, Started
        if isinstance(note, Listed):
            self._listed(note.entries)
        elif isinstance(note, Started):
            self._started_total(note.total)
        elif isinstance(note, dict):
            self._record(note)

    def _listed(self, entries: list) -> None:
        wanted = []
        for rel, path, skip in entries:
            item = QTreeWidgetItem([rel, "skipped" if skip else "pending", skip])
            item.setData(0, Qt.ItemDataRole.UserRole, rel)
            item.setData(0, Qt.ItemDataRole.UserRole + 1, path)
            item.setToolTip(0, path)
            if skip:
                item.setToolTip(1, skip)
            else:
                wanted.append((rel, path))
            self.tree.addTopLevelItem(item)
            self.items[rel] = item
        if wanted:
            from ..core.batch.jobs import Thumbnails
            self.thumbs = Worker(Thumbnails(tuple(wanted), THUMBNAIL_SIDE, THUMBNAIL_MAX_BYTES),
                                 name="batchThumbnails").on(noted=self._thumbnail, finished=self._thumbs_finished)
            self.thumbs.start()

    @Slot(object)
    def _thumbnail(self, t) -> None:
        item = self.items.get(t.rel)
        if item is not None:
            img = QImage(t.rgb, t.width, t.height, 3 * t.width, QImage.Format.Format_RGB888).copy()
            item.setIcon(0, QIcon(QPixmap.fromImage(img)))

    @Slot()
    def _thumbs_finished(self) -> None:
        self.thumbs = None

    def _started_total(self, total: int) -> None:
        self._t0 = time.monotonic()
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(0)
        self.progress.setFormat(f"0 of {total}")

    def _set_status(self, rel: str, text: str, tip: str) -> None:
        item = self.items.get(rel)
        if item is not None:
            item.setText(1, text)
            item.setToolTip(1, tip)
            item.setText(2, tip if text in ("failed", "skipped") else "")
            item.setToolTip(2, tip)

    def _record(self, record: dict) -> None:
        rel = record.get("source", "")
        tip = record.get("error") or (f"→ {record['output']}" if record.get("output") else "")
        self._set_status(rel, status_text(record), tip)
        if record.get("status") != "skipped" or "output" in record:
            if self.job is not None and self.job.job.only is None and self.progress.maximum() > 0:
                self.progress.setValue(min(self.progress.maximum(), self.progress.value() + 1))
                self._show_rate(rel)

    def _show_rate(self, current: str) -> None:
        """done/total on the bar; photos per minute, time left and the last file beside it."""
        done, total = self.progress.value(), self.progress.maximum()
        self.progress.setFormat(f"{done} of {total}")
        minutes = (time.monotonic() - self._t0) / 60
        text = current
        if minutes > 0 and done:
            rate = done / minutes
            left = (total - done) / rate
            text = (f"{rate:.1f} photos/min, about {_duration(left * 60)} left; {current}" if done < total
                    else f"{rate:.1f} photos/min; {current}")
        self.rate_label.setText(text)

    @Slot(object)
    def _succeeded(self, result) -> None:
        if isinstance(result, dict):
            self.show_message(f"{result['source']}: {status_text(result)}"
                              + (f" ({result['error']})" if result.get("error") else ""))
        elif self.gate.stop.is_set():
            self.show_message(f"Cancelled: {result.sentence()}. Start goes on from here.")
        else:
            self.show_message(result.sentence()[0].upper() + result.sentence()[1:] + ".")

    @Slot(str)
    def _failed(self, text: str) -> None:
        self.show_message(text[0].upper() + text[1:] if text else text)

    @Slot()
    def _job_finished(self) -> None:
        self.job = None
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._update_buttons()
        self.batch_finished.emit()
        self._close_if_asked()

    # -- opening a photo in the editor -------------------------------------------------------------
    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        path = item.data(0, Qt.ItemDataRole.UserRole + 1)
        if path:
            self.open_requested.emit(path)

    # -- closing -----------------------------------------------------------------------------------
    def _release(self) -> None:
        t = self.thumbs
        if t is not None:
            t.cancel()
            t.wait(10000)

    def _stopping(self) -> None:
        self.gate.stop.set()
        self.gate.resumed.set()
        self.gate.preview_idle.set()   # the window's compute thread is stopping too


def show_batch(window) -> BatchDialog:
    """Open the window's Batch dialog (one at a time), wired to its compute thread and editor."""
    dlg = getattr(window, "batch_dialog", None)
    if dlg is None:
        autosave = getattr(getattr(window, "workspace", None), "autosave", None)
        dlg = BatchDialog(window, compute=window.compute,
                          autosave=str(autosave.folder) if autosave is not None else None)
        dlg.open_requested.connect(lambda path: window.open_photo(path, wait=False))
        models = getattr(window, "models", None)
        if models is not None:
            # A model installed or removed meanwhile: its engine becomes choosable, or stops being.
            models.changed.connect(dlg.refresh_engines)
        window.batch_dialog = dlg
    else:
        dlg.reopen()
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg
