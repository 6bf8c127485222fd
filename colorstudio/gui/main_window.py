"""The main window: composes the canvas, the side panel, actions and the status bar.

It computes nothing and keeps no document logic: the Editor owns the document and undo
stack, the Workspace owns the photo, previews and persistence, the Compute adapter owns the
compute thread, and small controllers (controllers.py) own the export flow, the model
manager, the device choice, the engine line of the status bar and the recent photos. The
window wires them together and shows what they report.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDockWidget, QFileDialog, QMainWindow, QScrollArea, QStackedWidget,
                               QVBoxLayout, QWidget)

from ..core.document import AutosaveStore, DocumentError
from ..core.settings import AppSettings, load_settings
from ..engines.registry import ENGINES
from . import dialogs
from .canvas import DISPLAY_MAX_SIDE, Canvas
from .availability import engine_readiness
from .compute import Compute, PreviewResult, ThumbnailJob
from .controllers import (DetailController, DeviceController, EngineStatus, ExportController, ModelsController,
                          RecentPhotos, setting_list)
from .editor import Editor
from .loader import LoadedPhoto, PhotoLoader
from .palette import Palette
from .panels import ColorStrength, ModePanel
from .reach import ReachOverlay
from .resources import app_icon, sample_photo
from .widgets import MessageBar, StatusArea, WelcomePage
from .window_actions import build_actions, build_menus_and_toolbar
from .workspace import Workspace, WorkspaceError

log = logging.getLogger(__name__)

PHOTO_FILTER = "Photos (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp);;All files (*)"
DOCUMENT_FILTER = "Colorstudio hints (*.json);;All files (*)"


def app_qsettings() -> QSettings:
    """The window's QSettings (geometry, recent files): INI format so tests can redirect it."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Colorstudio", "Colorstudio")


class MainWindow(QMainWindow):
    models_requested = Signal(str)   # a mode needs models: the model manager dialog hooks in here
    closed = Signal()                # the window has closed and its compute thread has stopped
    photo_open_finished = Signal(bool)   # an open in the background ended: shown (True) or failed (False)
    batch_dialog = None                  # Tools > Batch… while it exists (gui/batch_dialog.py)

    def __init__(self, engine=None, *, session_factory: Optional[Callable] = None,
                 engine_factory: Optional[Callable] = None,
                 settings: Optional[AppSettings] = None, qsettings: Optional[QSettings] = None,
                 autosave: Optional[AutosaveStore] = None, parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("Colorstudio")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.qsettings = qsettings or app_qsettings()
        if settings is None:
            settings, problems = load_settings()
            for p in problems:
                log.warning("%s", p)

        self.editor = Editor(self)
        self._reference_shown: Optional[str] = None
        self.compute = Compute(engine=engine, session_factory=session_factory, engine_factory=engine_factory,
                               parent=self)
        # Before the workspace's own connection: a new reference's thumbnail is asked for
        # ahead of the preview that uses it (jobs run first on the compute thread, and the
        # preview then finds the picture decoded), so the page never says "Opening the
        # reference..." over a photo already coloured from it.
        self.editor.document_changed.connect(self._ask_reference_thumbnail)
        self.workspace = Workspace(self.editor, self.compute, settings, autosave, parent=self)
        self.photo_loader = PhotoLoader(DISPLAY_MAX_SIDE, parent=self)
        self._display = None   # (photo, grey display image) shrunk on the loader thread
        self.canvas = Canvas(self.editor)
        self.welcome = WelcomePage()
        self.welcome.set_sample_available(sample_photo() is not None)
        self.message_bar = MessageBar()
        self.views = QStackedWidget()
        self.views.addWidget(self.welcome)
        self.views.addWidget(self.canvas)
        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.message_bar)
        lay.addWidget(self.views, 1)
        self.setCentralWidget(central)

        self.mode_panel = ModePanel()
        self.strength = ColorStrength()
        self.palette_panel = Palette()
        side = QWidget()
        side.setObjectName("sidePanel")
        side_lay = QVBoxLayout(side)
        side_lay.addWidget(self.mode_panel)
        side_lay.addWidget(self.strength)
        side_lay.addWidget(self.palette_panel)
        side_lay.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # As wide as the panel needs, plus room for its scroll bar, so nothing is cut off.
        scroll.setMinimumWidth(side.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)
        self.side_dock = QDockWidget("Colorize", self)
        self.side_dock.setObjectName("sideDock")
        self.side_dock.setWidget(scroll)
        self.side_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                                   | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.side_dock)

        self.status_area = StatusArea(self.statusBar())
        self.busy = self.status_area.busy
        self.export_progress = self.status_area.export_progress
        self.export_cancel = self.status_area.export_cancel
        self.zoom_label = self.status_area.zoom_label
        self.status_engine = self.status_area.engine
        self.exports = ExportController(self, self.workspace, self.compute, self.status_area, self.message_bar,
                                        self.qsettings)
        self.models = ModelsController(self, self.editor, self.workspace, self.mode_panel, self.message_bar)
        self.detail = DetailController(self.canvas, self.editor, self.workspace, self.compute, parent=self)
        self.devices = DeviceController(self.workspace, self.compute, self.mode_panel, settings, parent=self)
        self.engine_status = EngineStatus(self.editor, self.workspace, self.status_engine, self._status, parent=self)
        self.reach = ReachOverlay(self.editor, self.workspace, self.compute, self.canvas, parent=self)
        build_actions(self)
        build_menus_and_toolbar(self)
        self.recent = RecentPhotos(self.qsettings, self.recent_menu, self.welcome, parent=self)
        self._connect()
        self._closing = False
        self.palette_panel.set_recent_colors(setting_list(self.qsettings, "palette/recent"))
        self.recent.refresh()
        self._restore_geometry()
        self._ask_reference_thumbnail(self.editor.document)
        self._document_changed(self.editor.document)
        self._enable_photo_actions(False)

    def _connect(self) -> None:
        # Bound methods, not lambdas: Qt drops them when the window goes, so a signal sent
        # while children are being destroyed never reaches a half-deleted window.
        e, c, w, mp = self.editor, self.canvas, self.workspace, self.mode_panel
        e.document_changed.connect(self._document_changed)
        e.selection_changed.connect(self._update_lightness)
        e.selection_changed.connect(self._selection_changed)
        e.color_changed.connect(self.palette_panel.set_color)
        e.undo_stack.cleanChanged.connect(self._clean_changed)
        self.palette_panel.color_chosen.connect(e.set_color)
        self.palette_panel.recent_changed.connect(self._recent_colors_changed)
        self.palette_panel.message.connect(self._status)
        self.palette_panel.picker.color_picked.connect(self._picking)
        self.palette_panel.picker.picking_finished.connect(self._picking_done)
        self.strength.strength_changed.connect(e.set_saturation)
        self.strength.dragging.connect(self._slider_dragging)
        mp.mode_requested.connect(w.switch_mode)
        mp.engine_requested.connect(w.choose_engine)
        self.models.models_requested.connect(self.models_requested)
        self.devices.device_set.connect(self.engine_status.refresh)
        self.recent.open_requested.connect(self.open_photo_in_background)
        hp = mp.pages["hints"]
        hp.option_changed.connect(e.set_option)
        hp.dragging.connect(self._slider_dragging)
        self.reach.message.connect(self._status)
        ref = mp.pages["reference"]
        ref.reference_requested.connect(self.choose_reference)
        ref.reference_cleared.connect(self._clear_reference)
        ref.reference_dropped.connect(e.set_reference)
        ref.method_requested.connect(w.switch_mode)
        ref.strength_changed.connect(e.set_strength)
        ref.dragging.connect(self._slider_dragging)
        ref.look_requested.connect(e.set_look)
        ref.view.color_picked.connect(e.set_color)
        ref.view.region_chosen.connect(e.set_reference_region)
        self.compute.thumbnail_ready.connect(ref.show_thumbnail)
        self.compute.thumbnail_failed.connect(ref.show_problem)
        c.tool_changed.connect(self._tool_changed)
        c.view_mode_changed.connect(self._view_mode_changed)
        c.view_changed.connect(self._view_changed)
        w.photo_opened.connect(self._photo_opened)
        w.preview_ready.connect(self._preview_ready)
        w.message.connect(self._status)
        w.problem.connect(self._problem)
        w.engine_unavailable.connect(self._engine_unavailable)
        w.document_path_changed.connect(self._update_title)
        self.compute.busy_changed.connect(self._update_busy)
        self.photo_loader.busy_changed.connect(self._update_busy)
        self.photo_loader.loaded.connect(self._photo_loaded)
        self.photo_loader.failed.connect(self._photo_failed)
        self.compute.suggestions_ready.connect(self._suggestions_arrived)
        self.welcome.open_requested.connect(self.open_photo_dialog)
        self.welcome.sample_requested.connect(self.open_sample)
        self.welcome.recent_requested.connect(self.open_photo_in_background)
        self.welcome.models_requested.connect(lambda: self.show_models())
        self.models.changed.connect(self._show_engine_readiness)
        self._show_engine_readiness()

    def _clean_changed(self, clean: bool) -> None:
        self.setWindowModified(not clean)

    def _recent_colors_changed(self, colors: list) -> None:
        self.qsettings.setValue("palette/recent", colors)

    def _status(self, text: str, ms: int = 8000) -> None:
        from .text import as_sentence
        self.statusBar().showMessage(as_sentence(text), ms)

    def _problem(self, text: str) -> None:
        self.message_bar.show_message(text, "error")

    def _engine_unavailable(self, text: str) -> None:
        self.message_bar.show_message(f"{text}; see the notice in the side panel", "info")

    def _picking(self, *_args) -> None:
        if not self.editor.interacting:
            self.editor.begin_interaction()

    def _picking_done(self, *_args) -> None:
        self.editor.end_interaction()

    def _slider_dragging(self, on: bool) -> None:
        self.editor.begin_interaction() if on else self.editor.end_interaction()

    def _clear_reference(self) -> None:
        self.editor.set_reference(None)

    def _tool_changed(self, name: str) -> None:
        self.actions_by_name[f"tool_{name}"].setChecked(True)

    def _view_changed(self) -> None:
        self.zoom_label.setText(f"{self.canvas.view.scale * 100:.0f} %")

    def _update_busy(self, *_args) -> None:
        loading = self.photo_loader.busy
        self.busy.setToolTip("Opening the photo…" if loading else "Colouring…")
        self.busy.setVisible(loading or self.compute.busy)

    # -- photos and documents ---------------------------------------------------------------
    def open_photo(self, path, wait: bool = True) -> bool:
        """Open a photo; False (with a message shown) when it cannot be read.

        With ``wait`` (the API and tests) the photo is open when this returns. Without, it
        opens on a loader thread while the window stays responsive, as the Open action, recent
        photos, drag and drop and the command line do; ``photo_open_finished`` says how it
        ended, and True here only means the open started.
        """
        if not wait:
            self.open_photo_in_background(path)
            return True
        from ..core.image import ImageError
        self.photo_loader.cancel()   # this open supersedes one under way
        self.setCursor(Qt.CursorShape.WaitCursor)
        try:
            self.workspace.open_photo(path)
        except (ImageError, OSError, ValueError) as exc:
            self.message_bar.show_message(str(exc), "error")
            return False
        finally:
            self.unsetCursor()
        self.message_bar.dismiss()
        self.recent.add(str(Path(path).resolve()))
        return True

    def open_photo_in_background(self, path) -> None:
        """Start opening ``path`` on a loader thread; a newer open supersedes it (latest wins)."""
        self.photo_loader.open(path)
        self._status(f"Opening {Path(path).name}\u2026", 0)

    def _photo_loaded(self, loaded: LoadedPhoto) -> None:
        from ..core.image import ImageError
        self._display = (loaded.photo, loaded.display)
        try:
            self.workspace.open_photo(loaded.path, photo=loaded.photo)
        except (ImageError, OSError, ValueError) as exc:
            self._photo_failed(str(loaded.path), str(exc))
            return
        finally:
            self._display = None
        self.message_bar.dismiss()
        self.recent.add(str(loaded.path.resolve()))
        self.photo_open_finished.emit(True)

    def _photo_failed(self, _path: str, text: str) -> None:
        self.statusBar().clearMessage()
        self.message_bar.show_message(text, "error")
        self.photo_open_finished.emit(False)

    def open_photo_dialog(self) -> None:
        start = self.qsettings.value("paths/photos", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", str(start), PHOTO_FILTER)
        if path:
            self.qsettings.setValue("paths/photos", str(Path(path).parent))
            self.open_photo_in_background(path)

    def open_sample(self) -> None:
        p = sample_photo()
        if p is None:
            self.message_bar.show_message("the sample photo is missing from this installation", "error")
        else:
            self.open_photo_in_background(p)

    def open_document(self, path) -> bool:
        try:
            self.workspace.open_document(path)
        except (DocumentError, WorkspaceError, ValueError, OSError) as exc:
            self.message_bar.show_message(str(exc), "error")
            return False
        if self.workspace.photo is not None:
            self.views.setCurrentWidget(self.canvas)
        return True

    def open_document_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open hints", self._document_folder(), DOCUMENT_FILTER)
        if path:
            self.open_document(path)

    def save_document(self, path) -> bool:
        try:
            self.workspace.save_document(path)
        except (WorkspaceError, OSError) as exc:
            self.message_bar.show_message(str(exc), "error")
            return False
        self.qsettings.setValue("paths/documents", str(Path(path).parent))
        return True

    def save(self) -> bool:
        if self.workspace.document_path is not None:
            return self.save_document(self.workspace.document_path)
        return self.save_as()

    def save_as(self) -> bool:
        if self.workspace.photo is None:
            return False
        photo = Path(self.workspace.photo_ref.path)
        suggestion = str(Path(self._document_folder()) / f"{photo.stem}.hints.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save hints", suggestion, DOCUMENT_FILTER)
        return bool(path) and self.save_document(path)

    def _document_folder(self) -> str:
        if self.workspace.document_path is not None:
            return str(self.workspace.document_path.parent)
        from .resources import proposed_folder
        photo_folder = Path(self.workspace.photo_ref.path).parent if self.workspace.photo_ref is not None else None
        return str(proposed_folder(photo_folder, self.qsettings.value("paths/documents", "")))

    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a reference picture", self._document_folder(),
                                              PHOTO_FILTER)
        if path:
            self.editor.set_reference(path)

    # -- delegates to the controllers (names kept for actions, tests and app.py) ------------------
    def export_dialog(self) -> None:
        self.exports.open_dialog()

    def export(self, path, fmt: Optional[str] = None, quality: int = 95):
        """Export at full resolution on the compute thread; returns the request (None on refusal)."""
        return self.exports.start(path, fmt, quality)

    def _show_engine_readiness(self, *_args) -> None:
        self.welcome.set_engines(engine_readiness())

    def show_models(self, select: Optional[str] = None):
        """Open the model manager (or bring it forward), with model ``select`` selected."""
        return self.models.show(select)

    def show_batch(self):
        from .batch_dialog import show_batch
        return show_batch(self)

    def show_train(self):
        """Open the Train dialog (Tools > Train a colorizer…) or bring it forward."""
        from .train_dialog import show_train_dialog
        return show_train_dialog(self)

    @property
    def models_dialog(self):
        """The model manager while it is open, else None."""
        return self.models.dialog

    @property
    def models_dialog_factory(self) -> Optional[Callable]:
        """Builds the model manager: factory(parent) -> a dialog (``models_changed`` signal, optional)."""
        return self.models.dialog_factory

    @models_dialog_factory.setter
    def models_dialog_factory(self, factory: Optional[Callable]) -> None:
        self.models.dialog_factory = factory

    # -- reacting ----------------------------------------------------------------------------
    PHOTO_ACTIONS = ("save", "saveAs", "export", "delete", "smaller", "larger", "viewResult", "viewOriginal",
                     "viewSplit", "showHints", "fit", "actualSize", "zoomIn", "zoomOut", "tool_point", "tool_brush",
                     "tool_protect", "tool_eraser", "tool_eyedropper", "showReach")

    def _enable_photo_actions(self, enabled: bool) -> None:
        for name in self.PHOTO_ACTIONS:
            self.actions_by_name[name].setEnabled(enabled)

    def _photo_opened(self, photo) -> None:
        self._enable_photo_actions(True)
        shrunk = self._display[1] if self._display and self._display[0] is photo else None
        gray = shrunk if shrunk is not None else photo.gray_u8(max_side=DISPLAY_MAX_SIDE)
        self.canvas.set_photo(gray, photo.width, photo.height)
        self.views.setCurrentWidget(self.canvas)
        self.canvas.set_tool("point")
        self.canvas.setFocus()
        self.palette_panel.set_suggestions([])
        self._update_title()

    def _ask_reference_thumbnail(self, doc) -> None:
        first = doc.references[0].path if doc.references else None
        if first != self._reference_shown:
            self._reference_shown = first
            if first is not None:
                # Decoded by core on the compute thread, never here.
                self.compute.thumbnail(ThumbnailJob(first))

    def _document_changed(self, doc) -> None:
        self.mode_panel.set_document(doc)
        self.strength.set_value(doc.saturation)
        self._update_lightness()
        if self.workspace.last_preview is None or not self.workspace.last_preview.engine:
            self.engine_status.show(None)

    def _update_lightness(self, *_args) -> None:
        self.palette_panel.set_lightness(self.editor.selection_lightness())

    def _preview_ready(self, result: PreviewResult) -> None:
        self.canvas.set_result(result.rgb)
        self.engine_status.preview_shown(result)
        info = ENGINES.get(self.editor.document.engine)
        if result.rgb is not None and info is not None and info.needs_weights:
            self.devices.ask()  # a neural engine has imported torch already: asking is free now

    def _selection_changed(self, _selection) -> None:
        # Suggestions belong to one hint; the new selection's arrive from the compute thread.
        self.palette_panel.set_suggestions([])

    def _suggestions_arrived(self, sug) -> None:
        hint = self.editor.selected_hint()
        if hint is not None and getattr(hint, "x", None) == sug.x and getattr(hint, "y", None) == sug.y:
            self.palette_panel.set_suggestions(list(sug.colors))

    def _view_mode_changed(self, mode: str) -> None:
        name = {"result": "viewResult", "original": "viewOriginal", "split": "viewSplit"}[mode]
        self.actions_by_name[name].setChecked(True)

    def _update_title(self, *_args) -> None:
        ref = self.workspace.photo_ref
        name = Path(ref.path).name if ref else ""
        doc = f" \u2014 {self.workspace.document_path.name}" if self.workspace.document_path else ""
        self.setWindowTitle(f"{name}{doc}[*] \u2014 Colorstudio" if name else "Colorstudio")

    def show_shortcuts(self) -> None:
        dialogs.ShortcutsDialog([a for a in self.actions_by_name.values()], self).exec()

    def show_about(self) -> None:
        from ..about import about
        self.about_dialog = dialogs.AboutDialog(about(), self)
        self.about_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.about_dialog.open()

    # -- geometry ----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geo = self.qsettings.value("window/geometry")
        if isinstance(geo, QByteArray) and not geo.isEmpty():
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 820)
        state = self.qsettings.value("window/state")
        if isinstance(state, QByteArray) and not state.isEmpty():
            self.restoreState(state)

    # -- window events -----------------------------------------------------------------------
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        files = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if not files:
            return
        e.acceptProposedAction()
        path = files[0]
        # Let the drop finish before opening (a modal error box inside a drop is awkward).
        QTimer.singleShot(0, self, lambda: self.open_document(path) if path.lower().endswith(".json")
                          else self.open_photo_in_background(path))

    def keyPressEvent(self, e) -> None:
        if e.key() == Qt.Key.Key_Escape and self.editor.selection is not None:
            self.editor.select(None)   # Escape deselects, wherever the focus is (the hex field too)
            return
        if e.key() == Qt.Key.Key_Escape and self.message_bar.isVisible():
            self.message_bar.dismiss()
            return
        super().keyPressEvent(e)

    def closeEvent(self, e) -> None:
        if not self._closing and self.exports.running and not dialogs.ask_stop_export(self):
            e.ignore()
            return
        if not self._closing and self.editor.dirty and self.workspace.photo is not None:
            choice = dialogs.ask_save_changes(self, Path(self.workspace.photo_ref.path).name)
            if choice == "cancel" or (choice == "save" and not self.save()):
                e.ignore()
                return
        self._closing = True
        self.detail.shutdown()
        self.models.shutdown()   # a download in progress stops (and resumes next time)
        if self.batch_dialog is not None:
            self.batch_dialog.shutdown()   # the photos in flight finish; Start resumes next time
        from .train_dialog import shutdown_train_dialog
        shutdown_train_dialog(self)   # a training stops after its step; its checkpoint is kept
        self.qsettings.setValue("window/geometry", self.saveGeometry())
        self.qsettings.setValue("window/state", self.saveState())
        self.qsettings.sync()
        self.canvas.tool.cancel()
        self.photo_loader.shutdown()
        self.workspace.shutdown()
        super().closeEvent(e)
        self.closed.emit()
