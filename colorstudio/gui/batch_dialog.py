"""The Batch dialog (Tools > Batch…): colorize a folder of photos from the app.

The headless batch (:mod:`colorstudio.core.batch`) does the work on a :class:`BatchJob`, a
QThread of the dialog's own, as the CLI drives it: ``run_batch`` with ``on_record`` and
``should_stop``. The job never touches a widget; every photo's record crosses to the GUI
thread as a plain dict on a queued signal, and the list updates from it.

Pause, Resume, Cancel: the job waits in a gate (a ``threading.Event``) before it takes the
next photo and before each photo's colorizing; Cancel opens the gate and stops the walk, so
the photos already in flight finish and are recorded. A later Start goes on from the
manifest, as ``colorstudio batch`` run again does.

Interactive previews come first: while the window's compute thread is busy (``Compute.busy``
/ ``busy_changed``: a preview, a suggestion or an export), the same gate holds the batch
before each photo's colorizing. A photo already being colorized finishes (a small photo
takes a moment), but no new one starts until the preview has been delivered, so the batch
never competes with the user for the CPU for more than one photo. The batch colorizes one
photo at a time (``jobs=1``) with engines of its own (a runtime is used from one thread).

A row's thumbnail is decoded on a small :class:`ThumbnailJob` thread (Pillow's draft mode;
files over :data:`THUMBNAIL_MAX_BYTES` get none). Double-clicking a row asks the window to
open that photo (``open_requested``): its saved edit document comes back by content hash,
the user fixes it there, and "Re-render this one" runs the per-photo step for that photo
alone (its output is the batch's own, so it is replaced).
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QThread, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout)

log = logging.getLogger(__name__)

#: Batch modes offered, document first (the default: only photos edited in the app).
MODES = ("document", "hints", "auto", "reference", "palette", "style")
FORMATS = ("same", "png", "tiff", "jpeg")
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


class _GatedRuntime:
    """A runtime whose ``engine`` waits in the gate first: step.colorize asks for the engine
    right before colorizing, so each photo's colorizing waits for pause and previews."""

    def __init__(self, runtime, gate: _Gate):
        self._runtime, self._gate = runtime, gate

    def engine(self, name, device=None):
        self._gate.wait()
        return self._runtime.engine(name, device)

    def close(self) -> None:
        close = getattr(self._runtime, "close", None)
        if close is not None:
            close()


def default_runtime():
    from ..core.batch import EngineCache
    return EngineCache()


class BatchJob(QThread):
    """Runs a batch (or re-renders one photo) off the GUI thread; reports plain data only.

    ``only``: a photo's path relative to the source: re-render just that one.
    """

    listed = Signal(list)        # [(rel, path, skip reason)] of the walk
    started_total = Signal(int)
    record = Signal(dict)        # a photo's manifest record
    succeeded = Signal(object)   # Summary (or the one record of a re-render)
    failed = Signal(str)         # one sentence: the batch could not start or broke

    def __init__(self, source: str, output: str, settings, *, recursive: bool, gate: _Gate,
                 runtime_factory: Callable = default_runtime, only: Optional[str] = None, parent=None):
        super().__init__(parent)
        self.setObjectName("batchJob" if only is None else "batchRerender")
        self.source, self.output, self.settings = source, output, settings
        self.recursive, self.gate, self.only = recursive, gate, only
        self._runtime_factory = runtime_factory

    def run(self) -> None:
        from ..core.batch.plan import BatchError
        from ..core.batch.step import describe_error
        runtime = None
        try:
            runtime = _GatedRuntime(self._runtime_factory(), self.gate)
            if self.only is not None:
                rec = self._rerender(runtime)
                self.record.emit(rec)
                self.succeeded.emit(rec)
                return
            from ..core.batch import check_folders, run_batch, walk
            src, out = check_folders(self.source, self.output)
            entries = [(e.rel, str(e.path), e.skip) for e in walk(src, recursive=self.recursive, avoid=out)]
            self.listed.emit(entries)
            summary = run_batch(self.source, self.output, self.settings, recursive=self.recursive, jobs=1, in_flight=1,
                                on_record=lambda r: self.record.emit(_plain(r)),
                                on_start=self.started_total.emit, runtime=runtime, should_stop=self.gate.wait)
            self.succeeded.emit(summary)
        except BatchError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug must not take the app down; it is logged
            log.exception("the batch failed")
            self.failed.emit(describe_error(exc))
        finally:
            if runtime is not None:
                runtime.close()

    def _rerender(self, runtime) -> dict:
        """The per-photo step for ``only`` alone, under the batch's lock, recorded in its manifest."""
        from ..core.batch import BatchLock, Manifest, check_folders, process_photo
        from ..core.batch.plan import BatchError, output_names, walk
        from ..core.batch.step import PhotoTask, settings_for_start
        src, out = check_folders(self.source, self.output)
        settings = settings_for_start(self.settings)
        folder = self.only.rpartition("/")[0]
        here = src / folder if folder else src
        siblings = [e.rel for e in walk(here, recursive=False) if not e.skip]
        siblings = [f"{folder}/{r}" if folder else r for r in siblings]
        if self.only not in siblings:
            raise BatchError(f"{self.only} is no longer a photo in {src}")
        name = output_names(siblings, settings.fmt)[self.only]
        out.mkdir(parents=True, exist_ok=True)
        with BatchLock(out):
            manifest = Manifest.open(out)
            try:
                manifest.claim(src)
                prior = manifest.get(self.only) or {}
                # Asked for: no "up to date" shortcut; the output may be replaced when the batch made it.
                mine = {"output": name} if prior.get("output") == name else None
                task = PhotoTask(str(src / self.only), self.only, str(out / name), name, mine)
                rec = _plain(process_photo(task, settings, runtime))
                manifest.put(rec)
            finally:
                manifest.close()
        return rec


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def _plain(record: dict) -> dict:
    return {k: v for k, v in record.items()}


class ThumbnailJob(QThread):
    """Decodes small thumbnails off the GUI thread: (rel, width, height, RGB bytes) per photo."""

    ready = Signal(str, int, int, bytes)

    def __init__(self, items: list, parent=None):
        super().__init__(parent)
        self.setObjectName("batchThumbnails")
        self.items = items
        self._stop = threading.Event()

    def cancel(self) -> None:
        self._stop.set()

    def run(self) -> None:
        from PIL import Image
        for rel, path in self.items:
            if self._stop.is_set():
                return
            try:
                if Path(path).stat().st_size > THUMBNAIL_MAX_BYTES:
                    continue
                with Image.open(path) as im:
                    im.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                    im = im.convert("RGB")
                    im.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                    self.ready.emit(rel, im.width, im.height, im.tobytes())
            except Exception:  # noqa: BLE001 - a photo that will not decode simply has no thumbnail
                continue


class BatchDialog(QDialog):
    """Choose folders and a mode, run the batch, watch every photo, pause, cancel, fix one."""

    open_requested = Signal(str)   # the path of a photo to open in the editor
    batch_finished = Signal()      # a run (or a re-render) has ended and its thread stopped

    def __init__(self, parent=None, *, compute=None, autosave: Optional[str] = None,
                 runtime_factory: Callable = default_runtime):
        super().__init__(parent)
        self.setObjectName("batchDialog")
        self.setWindowTitle("Batch")
        self.resize(640, 520)
        self.autosave = autosave
        self.runtime_factory = runtime_factory
        self.job: Optional[BatchJob] = None
        self.thumbs: Optional[ThumbnailJob] = None
        self.gate = _Gate()
        self.items: dict[str, QTreeWidgetItem] = {}
        self._close_when_done: Optional[int] = None
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
        self.format_combo = QComboBox()
        self.format_combo.setObjectName("batchFormat")
        self.format_combo.addItems(FORMATS)
        self.recursive_box = QCheckBox("Also the photos in subfolders")
        self.recursive_box.setObjectName("batchRecursive")
        form.addRow("Mode", self.mode_combo)
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
        self._update_buttons()

    # -- choosing ----------------------------------------------------------------------------------
    def _browse(self, edit: QLineEdit, title: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, title, edit.text() or str(Path.home()))
        if folder:
            edit.setText(folder)

    def settings(self):
        from ..core.batch import BatchSettings
        return BatchSettings(mode=self.mode_combo.currentText(), fmt=self.format_combo.currentText(),
                             autosave=self.autosave)

    # -- state -------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.job is not None

    @property
    def paused(self) -> bool:
        return not self.gate.resumed.is_set()

    def _update_buttons(self) -> None:
        running = self.running
        whole = running and self.job.only is None
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(whole and not self.paused and not self.gate.stop.is_set())
        self.resume_button.setEnabled(whole and self.paused and not self.gate.stop.is_set())
        self.cancel_button.setEnabled(running and not self.gate.stop.is_set())
        self.rerender_button.setEnabled(not running and self._selected_rel() is not None)
        for w in (self.source_edit, self.output_edit, self.mode_combo, self.format_combo, self.recursive_box):
            w.setEnabled(not running)

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
    def start(self) -> Optional[BatchJob]:
        """Run the batch over the chosen folders (resuming from the manifest when there is one)."""
        if self.running:
            return None
        src, out = self.source_edit.text().strip(), self.output_edit.text().strip()
        if not src or not out:
            self.show_message("Choose a source folder and an output folder first.")
            return None
        self.tree.clear()
        self.items.clear()
        self.progress.setRange(0, 0)
        self.progress.setValue(0)
        return self._start(BatchJob(src, out, self.settings(), recursive=self.recursive_box.isChecked(),
                                    gate=self._fresh_gate(), runtime_factory=self.runtime_factory, parent=self),
                           "Colorizing…")

    def rerender_selected(self) -> Optional[BatchJob]:
        """Run the per-photo step for the selected photo alone."""
        rel = self._selected_rel()
        if self.running or rel is None:
            return None
        self._set_status(rel, "pending", "")
        job = BatchJob(self.source_edit.text().strip(), self.output_edit.text().strip(), self.settings(),
                       recursive=self.recursive_box.isChecked(), gate=self._fresh_gate(),
                       runtime_factory=self.runtime_factory, only=rel, parent=self)
        return self._start(job, f"Colorizing {rel} again…")

    def _fresh_gate(self) -> _Gate:
        old, self.gate = self.gate, _Gate()
        self.gate.preview_idle = old.preview_idle   # the compute thread's state carries over
        return self.gate

    def _start(self, job: BatchJob, what: str) -> BatchJob:
        self.job = job
        job.listed.connect(self._listed)
        job.started_total.connect(self._started_total)
        job.record.connect(self._record)
        job.succeeded.connect(self._succeeded)
        job.failed.connect(self._failed)
        job.finished.connect(self._job_finished)
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
            self.show_message("Cancelling: the photos in flight finish…")
            self._update_buttons()

    # -- what the job reports ----------------------------------------------------------------------
    @Slot(list)
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
            self.thumbs = ThumbnailJob(wanted, parent=self)
            self.thumbs.ready.connect(self._thumbnail)
            self.thumbs.finished.connect(self._thumbs_finished)
            self.thumbs.start()

    @Slot(str, int, int, bytes)
    def _thumbnail(self, rel: str, w: int, h: int, data: bytes) -> None:
        item = self.items.get(rel)
        if item is not None:
            img = QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            item.setIcon(0, QIcon(QPixmap.fromImage(img)))

    @Slot()
    def _thumbs_finished(self) -> None:
        t, self.thumbs = self.thumbs, None
        if t is not None:
            t.deleteLater()

    @Slot(int)
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

    @Slot(dict)
    def _record(self, record: dict) -> None:
        rel = record.get("source", "")
        tip = record.get("error") or (f"→ {record['output']}" if record.get("output") else "")
        self._set_status(rel, status_text(record), tip)
        if record.get("status") != "skipped" or "output" in record:
            if self.job is not None and self.job.only is None and self.progress.maximum() > 0:
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
        job, self.job = self.job, None
        if job is not None:
            job.deleteLater()
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
        self._update_buttons()
        self.batch_finished.emit()
        if self._close_when_done is not None:
            result, self._close_when_done = self._close_when_done, None
            super().done(result)

    # -- opening a photo in the editor -------------------------------------------------------------
    def _double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        path = item.data(0, Qt.ItemDataRole.UserRole + 1)
        if path:
            self.open_requested.emit(path)

    # -- closing -----------------------------------------------------------------------------------
    def done(self, result: int) -> None:
        """Close; a running batch is cancelled and the dialog closes when it has stopped."""
        if self.job is not None and self.job.isRunning():
            self.cancel()
            self._close_when_done = result
            self.hide()
            return
        self._stop_thumbnails()
        super().done(result)

    def reopen(self) -> None:
        self._close_when_done = None
        self.show()
        self.raise_()
        self.activateWindow()

    def _stop_thumbnails(self, timeout_ms: int = 10000) -> None:
        t = self.thumbs
        if t is not None:
            t.cancel()
            t.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 60000) -> bool:
        """The window is closing: cancel the batch, wait for its photos in flight; True when stopped."""
        self._stop_thumbnails()
        job = self.job
        if job is None:
            return True
        self.gate.stop.set()
        self.gate.resumed.set()
        self.gate.preview_idle.set()   # the window's compute thread is stopping too
        return job.wait(timeout_ms)


def show_batch(window) -> BatchDialog:
    """Open the window's Batch dialog (one at a time), wired to its compute thread and editor."""
    dlg = getattr(window, "batch_dialog", None)
    if dlg is None:
        autosave = getattr(getattr(window, "workspace", None), "autosave", None)
        dlg = BatchDialog(window, compute=window.compute,
                          autosave=str(autosave.folder) if autosave is not None else None,
                          runtime_factory=getattr(window, "batch_runtime_factory", None) or default_runtime)
        dlg.open_requested.connect(lambda path: window.open_photo(path, wait=False))
        window.batch_dialog = dlg
    else:
        dlg.reopen()
    dlg.show()
    dlg.raise_()
    dlg.activateWindow()
    return dlg
