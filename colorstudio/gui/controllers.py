"""Controllers the main window composes: export, model manager, compute device, recent photos.

Each owns its own state and signal connections, so the window only builds them and keeps
thin delegates under its old names. They compute nothing either: the Workspace and the
Compute adapter do the work; these decide what the user sees while it happens.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from ..core.jobs import DetailJob
from ..core.settings import AppSettings, save_settings
from ..engines.registry import ENGINES
from . import dialogs
from .availability import engine_availability, models_for_mode
from .workspace import WorkspaceError

log = logging.getLogger(__name__)

MAX_RECENT_FILES = 10
DEVICE_NAMES = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA", "mps": "MPS"}


def default_models_dialog(parent):
    """The model manager dialog (imported on first use)."""
    from .models_dialog import ModelsDialog
    return ModelsDialog(parent)


def setting_list(qsettings: QSettings, key: str) -> list[str]:
    """A list of strings stored under ``key`` (INI files hand back one item as a plain string)."""
    v = qsettings.value(key, [])
    if isinstance(v, str):
        return [v] if v else []
    return [str(x) for x in (v or [])]


class ExportController(QObject):
    """The export flow: the dialog, the full-resolution export on the compute thread, its
    progress and Cancel in the status bar, and what is said when it ends."""

    def __init__(self, window, workspace, compute, status_area, message_bar, qsettings: QSettings):
        super().__init__(window)
        self._window, self._workspace, self._compute = window, workspace, compute
        self._status_area, self._message_bar, self._qsettings = status_area, message_bar, qsettings
        self.request = None     # the export under way, if any
        status_area.export_cancel.clicked.connect(self.cancel)
        compute.export_progress.connect(self._progress)
        compute.export_finished.connect(self._finished)
        compute.export_failed.connect(self._failed)

    @property
    def running(self) -> bool:
        """True while an export is under way."""
        return self.request is not None

    def open_dialog(self) -> None:
        """Ask where and how to export the open photo, then export it."""
        if self._workspace.photo is None:
            return
        ref = self._workspace.photo_ref
        from .resources import proposed_folder
        folder = proposed_folder(Path(ref.path).parent, self._qsettings.value("paths/export", ""))
        dlg = dialogs.ExportDialog(Path(ref.path), (ref.width, ref.height), self._window,
                                   fmt=str(self._qsettings.value("export/format", "png")), folder=folder)
        if dlg.exec():
            self._qsettings.setValue("export/format", dlg.fmt)
            self._qsettings.setValue("paths/export", str(Path(dlg.path).parent))
            self.start(dlg.path, dlg.fmt, dlg.quality.value())

    def start(self, path, fmt: Optional[str] = None, quality: int = 95):
        """Export at full resolution on the compute thread; returns the request (None on refusal)."""
        try:
            self.request = self._workspace.export(path, fmt, quality)
        except WorkspaceError as exc:
            self._message_bar.show_message(str(exc), "error")
            return None
        self._status_area.show_export(True)
        self._window.statusBar().showMessage(f"Exporting {Path(path).name}…")
        return self.request

    def cancel(self) -> None:
        """Stop the export under way, if any."""
        if self.request is not None:
            self._compute.cancel(self.request)

    def _progress(self, done: int, total: int) -> None:
        self._status_area.export_step(done, total)

    def _done(self) -> None:
        self.request = None
        self._status_area.show_export(False)

    def _finished(self, out) -> None:
        self._done()
        self._window.statusBar().showMessage(f"Exported {Path(out.path).name} ({out.width}\u00d7{out.height}) "
                                             f"in {out.seconds:.1f} s", 10000)

    def _failed(self, text: str) -> None:
        self._done()
        self._message_bar.show_message(f"the export did not finish: {text}", "error")


class ModelsController(QObject):
    """The model manager: opened from a mode's notice or Tools > Models, one at a time; when
    a model changes, availability, engines and preview follow."""

    models_requested = Signal(str)   # a mode asked for its models (sent before the dialog opens)
    changed = Signal(str)            # a model was installed, imported or removed

    def __init__(self, window, editor, workspace, mode_panel, message_bar):
        super().__init__(window)
        self._window, self._editor, self._workspace = window, editor, workspace
        self._mode_panel, self._message_bar = mode_panel, message_bar
        #: Builds the model manager: factory(parent) -> a dialog (``models_changed`` signal, optional).
        self.dialog_factory: Optional[Callable] = default_models_dialog
        self._dialog = None
        mode_panel.models_requested.connect(self.request)

    @property
    def dialog(self):
        """The model manager while it is open, else None."""
        return self._dialog

    def request(self, mode: str) -> None:
        """Open the manager for ``mode``, with the model the user most likely wants selected."""
        self.models_requested.emit(mode)
        doc = self._editor.document
        info = ENGINES.get(doc.engine)
        if doc.mode == mode and info is not None and info.needs_weights and not engine_availability(doc.engine).ok:
            wanted = [doc.engine]   # the engine the user picked is the one to install
        else:
            wanted = models_for_mode(mode)
        self.show(wanted[0] if wanted else None)

    def show(self, select: Optional[str] = None):
        """Open the model manager (or bring it forward), with model ``select`` selected."""
        if self.dialog_factory is None:
            QMessageBox.information(self._window, "Models", "Neural models can be installed from a terminal: run "
                                    "'colorstudio models --help'.")
            return None
        dlg = self._dialog
        if dlg is None:
            dlg = self._dialog = self.dialog_factory(self._window)
            changed = getattr(dlg, "models_changed", None)
            if changed is not None:
                changed.connect(self._models_changed)
            dlg.finished.connect(self._dialog_closed)
        elif hasattr(dlg, "reopen"):
            dlg.reopen()
        if select and hasattr(dlg, "select_model"):
            dlg.select_model(select)
        dlg.show()
        dlg.raise_()
        dlg.activateWindow()
        return dlg

    def shutdown(self) -> None:
        """The window is closing: a download in progress stops (and resumes next time)."""
        if self._dialog is not None and hasattr(self._dialog, "shutdown"):
            self._dialog.shutdown()

    def _dialog_closed(self, *_args) -> None:
        dlg, self._dialog = self._dialog, None
        if dlg is not None:
            dlg.deleteLater()

    def _models_changed(self, name: str) -> None:
        """A model was installed, imported or removed: availability, engines and preview follow."""
        self._workspace.models_changed(name)
        doc = self._editor.document
        self._mode_panel.set_document(doc, force=True)
        if self._workspace.photo is not None and engine_availability(doc.engine).ok:
            self._message_bar.dismiss()   # the "needs a model" message no longer holds
        self.changed.emit(name)


class DeviceController(QObject):
    """The compute device: listed lazily (asking imports torch), chosen in the mode panel,
    remembered in the app settings."""

    device_set = Signal(str)   # the user chose a device and the workspace uses it now

    def __init__(self, workspace, compute, mode_panel, settings: AppSettings, parent=None):
        super().__init__(parent)
        self._workspace, self._compute, self._mode_panel = workspace, compute, mode_panel
        self.settings = settings
        self._asked = False
        mode_panel.device_requested.connect(self.set_device)
        mode_panel.device_combo.about_to_open.connect(self.ask)
        compute.devices_found.connect(self._found)

    def ask(self) -> None:
        """Look for devices on the compute thread, once."""
        if not self._asked:
            self._asked = True
            self._compute.detect_devices()

    def set_device(self, device: str) -> None:
        """Use ``device`` from now on and remember it."""
        self._workspace.set_device(device)
        self.settings = AppSettings(**{**self.settings.__dict__, "device": device})
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.warning("could not save settings: %s", exc)
        self.device_set.emit(device)

    def _found(self, devices: list) -> None:
        self._mode_panel.set_devices(devices, self._workspace.device)


class EngineStatus(QObject):
    """The status bar's engine line: the chosen engine and device, or what made the picture on
    screen and how long it took. What an engine had to adapt is said once, not per preview."""

    def __init__(self, editor, workspace, label, say: Callable[[str, int], None], parent=None):
        super().__init__(parent)
        self._editor, self._workspace, self._label, self._say = editor, workspace, label, say
        self._messages_shown: set[str] = set()

    def show(self, result=None) -> None:
        """Show ``result``'s engine, device and time, or (None) the chosen engine and device."""
        doc = self._editor.document
        info = ENGINES.get(doc.engine)
        label = info.label if info else doc.engine
        device = DEVICE_NAMES.get(self._workspace.device, self._workspace.device)
        text = f"{label} \u00b7 {device}"
        if (result is None or not result.engine) and not engine_availability(doc.engine).ok:
            # Nothing ran: say what is on screen instead of naming a network as if it had.
            text = f"Showing the grey photo \u00b7 {label} is not installed"
        if result is not None and result.engine:
            # Name what made this picture, which the epochs guarantee is the current engine.
            made_by = result.engine   # the label the runtime gave what made it
            text = (f"{made_by} \u00b7 {DEVICE_NAMES.get(result.device.lower(), result.device.upper())} "
                    f"\u00b7 {result.seconds:.2f} s")
        self._label.setText(text)

    def refresh(self, *_args) -> None:
        """The choice changed (e.g. the device): show the chosen engine and device."""
        self.show(None)

    def preview_shown(self, result) -> None:
        """A preview is on screen: name what made it, and say what its engine adapted (once)."""
        self.show(result)
        if result.message and result.message not in self._messages_shown:
            self._messages_shown.add(result.message)
            self._say(result.message, 20000)


class RecentPhotos(QObject):
    """The recent photos, kept in QSettings and shown in File > Open recent and on the welcome page."""

    open_requested = Signal(str)   # the user picked a recent photo from the menu

    def __init__(self, qsettings: QSettings, menu, welcome, parent=None):
        super().__init__(parent)
        self._qsettings, self._menu, self._welcome = qsettings, menu, welcome

    def add(self, path: str) -> None:
        """Put ``path`` first in the list (once), keeping the newest MAX_RECENT_FILES."""
        recent = [path] + [p for p in setting_list(self._qsettings, "recent/photos") if p != path]
        self._qsettings.setValue("recent/photos", recent[:MAX_RECENT_FILES])
        self.refresh()

    def refresh(self) -> None:
        """Show the recent photos that still exist."""
        recent = [p for p in setting_list(self._qsettings, "recent/photos") if Path(p).exists()]
        self._menu.clear()
        for i, p in enumerate(recent):
            a = self._menu.addAction(f"&{i + 1} {Path(p).name}" if i < 9 else Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, p=p: self.open_requested.emit(p))
        self._menu.setEnabled(bool(recent))
        self._welcome.set_recent(recent)


class DetailController(QObject):
    """Zoomed in to 100 % or more, the canvas shows the export's own full-resolution pixels
    for the part of the photo in view, composed for that part only on the compute thread.
    Asked for once the view rests (pans and zooms are debounced) and once a settled preview
    is shown; any edit clears them until the next settled preview."""

    def __init__(self, canvas, editor, workspace, compute, delay_ms: int = 120, parent=None):
        super().__init__(parent)
        self._canvas, self._editor, self._workspace, self._compute = canvas, editor, workspace, compute
        self._timer = QTimer(self)
        self._timer.setObjectName("detailTimer")
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self.request)
        canvas.view_changed.connect(self._view_changed)
        editor.document_changed.connect(self._document_changed)
        workspace.preview_ready.connect(self._preview_shown)
        compute.detail_ready.connect(self._arrived)
        self.requests = 0
        self._closed = False

    def _key(self) -> tuple:
        doc = self._editor.document
        return (doc.hints, doc.saturation, doc.mode, doc.engine, doc.references, doc.options, doc.strength, doc.look)

    def _view_changed(self) -> None:
        if self._closed:
            return
        if self._canvas.view.scale >= 1.0:
            self._timer.start()
        else:
            self._timer.stop()

    def _document_changed(self, _doc) -> None:
        self._canvas.set_detail(None)

    def _preview_shown(self, result) -> None:
        if self._closed:
            return
        if result.rgb is not None and not getattr(result, "draft", False) and self._canvas.view.scale >= 1.0:
            self._timer.start()

    def request(self) -> None:
        ws = self._workspace
        rect = self._canvas.visible_photo_rect()
        if ws.photo is None or rect is None or self._editor.interacting or self._canvas.view.scale < 1.0:
            return
        last = ws.last_preview
        if last is None or last.rgb is None:
            return
        if max(ws.photo.width, ws.photo.height) <= last.max_side:
            return   # the settled preview is already the export at full resolution
        doc = self._editor.document
        self.requests += 1
        self._compute.detail(DetailJob(ws.photo, ws.photo_ref.content_hash, ws.engine_choice, doc.hints,
                                       doc.saturation, rect, doc.mode, doc.references, doc.options, doc.strength,
                                       doc.look, self._key()))

    def _arrived(self, detail) -> None:
        if detail.key == self._key():
            self._canvas.set_detail(detail.rect, detail.rgb)

    def shutdown(self) -> None:
        """The window closes: nothing more is asked for."""
        self._closed = True
        self._timer.stop()
