"""The open photo and its document: opening, previews, autosave, saving and exporting.

No widgets here: the window shows what the workspace reports. A document change asks for a
preview (small while the user drags, full quality when they stop) and schedules an autosave;
nothing else asks for previews.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from ..core.document import DEFAULT_ENGINE, MODE_LABELS, AutosaveStore, Document, DocumentError, PhotoRef
from ..core.hints import Hints
from ..core.settings import AppSettings
from .availability import best_engine, engine_availability, engines_for_mode, start_mode
from .compute import Compute, EngineChoice, ExportJob, PreviewJob, PreviewResult, SuggestJob

log = logging.getLogger(__name__)



class WorkspaceError(ValueError):
    """Something the user asked for cannot be done; the message says what to do instead."""


class Workspace(QObject):
    photo_opened = Signal(object)          # the SourceImage
    preview_ready = Signal(object)         # PreviewResult, accepted by the scheduler
    message = Signal(str)                  # a status line
    problem = Signal(str)                  # a sentence to show once (engine errors, autosave trouble)
    document_path_changed = Signal(object)
    engine_unavailable = Signal(str)       # the mode cannot run: why

    def __init__(self, editor, compute: Compute, settings: Optional[AppSettings] = None,
                 autosave: Optional[AutosaveStore] = None, parent=None):
        super().__init__(parent)
        self.editor = editor
        self.compute = compute
        self.settings = settings or AppSettings()
        self.autosave = autosave or AutosaveStore()
        self.photo = None
        self.photo_ref: Optional[PhotoRef] = None
        self.document_path: Optional[Path] = None
        self.device = self.settings.device
        self.last_preview: Optional[PreviewResult] = None
        self._engine_key: Optional[EngineChoice] = None
        #: The engine the user picked in each mode (this session), preferred when switching back.
        self._chosen_engine: dict[str, str] = {}
        self._asked_preview: Optional[tuple] = None      # the last preview asked for (see request_preview)
        self._asked_suggestion: Optional[tuple] = None
        self._opening = False
        self._autosave_due = False
        self._autosave_timer = QTimer(self)
        self._autosave_timer.setSingleShot(True)
        self._autosave_timer.setInterval(self.settings.autosave_delay_ms)
        self._autosave_timer.timeout.connect(self.flush_autosave)
        editor.document_changed.connect(self._document_changed)
        editor.interaction_changed.connect(self._interaction_changed)
        editor.selection_changed.connect(self._selection_changed)
        compute.preview_ready.connect(self._preview_arrived)
        compute.failed.connect(self.problem)

    # -- photos ----------------------------------------------------------------------------
    def open_photo(self, path, photo=None) -> bool:
        """Open a photo; its autosaved hints come back. Raises ImageError for unreadable files.

        ``photo`` is the SourceImage of ``path`` when it was opened already (on a loader
        thread); without it the photo is opened here.
        """
        path = Path(path)
        if photo is None:
            from ..core.image import open_image  # first use: keeps start-up light
            photo = open_image(path)
        self.flush_autosave()
        ref = PhotoRef(str(path.resolve()), photo.content_hash, photo.width, photo.height)
        doc, restored = None, False
        try:
            doc = self.autosave.load(photo.content_hash)
        except DocumentError as exc:
            self.problem.emit(f"the autosaved hints for this photo could not be read ({exc}); starting afresh")
        notes = []
        if doc is not None:
            doc, restored = doc.for_photo(ref), True
            doc, notes = doc.locate_references(near=(path.parent,))
        else:
            mode = start_mode()
            engine = best_engine(mode, self._chosen_engine.get(mode)) or DEFAULT_ENGINE[mode]
            doc = Document(hints=Hints(image_size=(photo.width, photo.height)), mode=mode, engine=engine,
                           photo=ref)
        self.photo, self.photo_ref = photo, ref
        # The file these hints were saved to or opened from stays linked across restarts.
        self.document_path = self.autosave.load_link(photo.content_hash) if restored else None
        self.document_path_changed.emit(self.document_path)
        self.last_preview = None
        self._engine_key = None
        self.compute.new_epoch()
        self.photo_opened.emit(photo)
        self._opening = True
        try:
            self.editor.reset(doc, photo.lightness)
        finally:
            self._opening = False
        n = len(doc.hints)
        if restored and n:
            self.message.emit(f"Opened {path.name}; restored {n} hint{'s' * (n != 1)} from your last session")
        else:
            self.message.emit(f"Opened {path.name} ({photo.width}\u00d7{photo.height})")
        if notes:
            self.problem.emit("; ".join(notes))
        return restored

    @property
    def engine_choice(self) -> EngineChoice:
        return EngineChoice(self.editor.document.engine, self.device)

    def set_device(self, device: str) -> None:
        if device != self.device:
            self.device = device
            self.request_preview()

    def choose_engine(self, name: str) -> None:
        """The user picked ``name`` for the current mode: use it, and prefer it in this mode."""
        self._chosen_engine[self.editor.document.mode] = name
        self.editor.set_engine(name)

    def models_changed(self, name: str) -> None:
        """Model ``name`` was installed, imported or removed: drop its cached engine, and use
        the best engine that can run, as a new photo or a mode switch would, when the document's
        engine cannot run (any more, or before) or was chosen automatically. An engine the user
        picked for this mode (this session) that can run is kept."""
        self.compute.models_changed(name)
        self._engine_key = None
        if self.photo is None:
            return
        doc = self.editor.document
        picked = self._chosen_engine.get(doc.mode)
        if picked is None or not engine_availability(doc.engine).ok:
            best = best_engine(doc.mode, picked)
            if best is not None and best != doc.engine:
                self.editor.set_engine(best)   # asks for a preview
                return
        self.request_preview()

    # -- previews --------------------------------------------------------------------------
    @Slot(object)
    def _document_changed(self, doc: Document) -> None:
        if self.photo is None:
            return
        self.request_preview()
        if not self._opening:
            self._autosave_due = True
            self._autosave_timer.start()

    @Slot(bool)
    def _interaction_changed(self, active: bool) -> None:
        if not active and self.photo is not None:
            self.request_preview()  # the full-quality preview when the drag stops
            self.flush_autosave()
            self._selection_changed(self.editor.selection)

    def request_preview(self) -> None:
        if self.photo is None:
            return
        doc = self.editor.document
        choice = self.engine_choice
        if choice != self._engine_key:
            # Another model: anything still computing for the old one must never be shown.
            self._engine_key = choice
            self.compute.new_epoch()
        available = engine_availability(doc.engine)
        if not available.ok:
            self.engine_unavailable.emit(available.reason)
            self.last_preview = None
            self.preview_ready.emit(PreviewResult(None, 0, 0.0, "", ""))
            return
        draft = self.editor.interacting
        side = self.settings.drag_preview_side if draft else self.settings.preview_side
        job = PreviewJob(self.photo, self.photo_ref.content_hash, choice, doc.hints, doc.saturation, side,
                         doc.mode, doc.references, doc.options, doc.strength, doc.look, draft)
        key = (self.compute.scheduler.epoch, *(getattr(job, f) for f in _JOB_KEY))
        if key == self._asked_preview:
            return   # the same picture is on its way (a click's release after its press)
        self._asked_preview = key
        self.compute.preview(job)

    @Slot(object)
    def _preview_arrived(self, result: PreviewResult) -> None:
        self.last_preview = result
        self.preview_ready.emit(result)

    @Slot(object)
    def _selection_changed(self, selection) -> None:
        if self.photo is None or selection is None or selection[0] != "point" or self.editor.interacting:
            return
        if not engine_availability(self.editor.document.engine).ok:
            return
        hints = self.editor.document.hints
        p = hints.points[selection[1]]
        # Without the selected hint: a hint pins the network's answer at its own pixel, and the
        # question is what else that pixel could be.
        job = SuggestJob(self.photo, self.photo_ref.content_hash, self.engine_choice,
                         hints.without_point(selection[1]), p.x, p.y)
        key = (self.compute.scheduler.epoch, job.photo_key, job.engine, job.hints, job.x, job.y)
        if key == self._asked_suggestion:
            return
        self._asked_suggestion = key
        self.compute.suggest(job)

    # -- modes ----------------------------------------------------------------------------
    def switch_mode(self, mode: str) -> None:
        names = engines_for_mode(mode)
        if not names:
            self.problem.emit(f"no engine of this version of Colorstudio does {MODE_LABELS.get(mode, mode)} mode")
            return
        engine = best_engine(mode, self._chosen_engine.get(mode)) or names[0]
        self.editor.set_mode(mode, engine)

    # -- persistence -----------------------------------------------------------------------
    def flush_autosave(self) -> None:
        """Write the autosave now if one is due."""
        due, self._autosave_due = self._autosave_due, False
        self._autosave_timer.stop()
        if not due or self.photo is None:
            return
        try:
            self.autosave.save(self.editor.document)
        except (DocumentError, OSError) as exc:
            self.problem.emit(f"autosave failed: {exc}")

    def save_document(self, path) -> Path:
        """Write the document to ``path`` (atomically); it becomes the document's file."""
        if self.photo is None:
            raise WorkspaceError("open a photo before saving its hints")
        path = Path(path)
        if self.photo_ref and _same_file(path, Path(self.photo_ref.path)):
            raise WorkspaceError("that is the photo itself; choose another name for the hints")
        try:
            self.editor.document.save(path)
        except OSError as exc:
            raise WorkspaceError(str(exc)) from None
        self.editor.mark_saved()
        self.document_path = path
        self._remember_link(path)
        self.document_path_changed.emit(path)
        self.message.emit(f"Saved {path.name}")
        return path

    def open_document(self, path) -> None:
        """Continue a saved document (or apply a hints file to the open photo) as one undoable step."""
        path = Path(path)
        doc = Document.load(path)
        if doc.photo is not None and doc.photo.path and (
                self.photo_ref is None or (doc.photo.content_hash and doc.photo.content_hash != self.photo_ref.content_hash)):
            photo_path = Path(doc.photo.path)
            if not photo_path.is_absolute():
                photo_path = path.parent / photo_path
            if photo_path.exists():
                self.open_photo(photo_path)
            elif self.photo is None:
                raise WorkspaceError(f"the photo of {path.name} ({photo_path}) is not there; open the photo first, "
                                     "then open the document")
        if self.photo is None:
            raise WorkspaceError(f"{path.name} holds hints but no photo; open the photo first, then the hints")
        doc = doc.for_photo(self.photo_ref)
        # References found again where they are now; a missing one is told, not fatal.
        doc, notes = doc.locate_references(near=(path.parent, Path(self.photo_ref.path).parent))
        self.editor.replace_document(doc, f"Open {path.name}")
        self.editor.mark_saved()
        self.document_path = path
        self._remember_link(path)
        self.document_path_changed.emit(path)
        self.message.emit(f"Opened {path.name}: {len(doc.hints)} hints")
        if notes:
            self.problem.emit("; ".join(notes))

    def _remember_link(self, path: Path) -> None:
        self._autosave_due = True
        self.flush_autosave()   # the link goes with the autosave it belongs to
        try:
            self.autosave.save_link(self.photo_ref.content_hash, path)
        except (DocumentError, OSError) as exc:
            self.problem.emit(f"autosave failed: {exc}")

    def export(self, path, fmt: Optional[str] = None, quality: int = 95):
        """Render at full resolution and write ``path`` on the compute thread; returns the request."""
        if self.photo is None:
            raise WorkspaceError("open a photo before exporting")
        path = Path(path)
        if _same_file(path, Path(self.photo_ref.path)):
            raise WorkspaceError("exporting over the source photo is not allowed; choose another file name")
        if not path.parent.is_dir():
            raise WorkspaceError(f"the folder {path.parent} does not exist")
        doc = self.editor.document
        if not engine_availability(doc.engine).ok:
            raise WorkspaceError(engine_availability(doc.engine).reason)
        self.flush_autosave()
        return self.compute.export(ExportJob(self.photo, self.photo_ref.content_hash, self.engine_choice,
                                             doc.hints, doc.saturation, str(path), fmt, int(quality),
                                             doc.mode, doc.references, doc.options, doc.strength, doc.look))

    def shutdown(self) -> None:
        """Save what is due and stop the compute thread."""
        self.flush_autosave()
        self._autosave_timer.stop()
        self.compute.shutdown()


#: What makes two preview requests the same picture (the photo itself is named by its key).
_JOB_KEY = ("photo_key", "engine", "hints", "saturation", "max_side", "mode", "references", "options", "strength",
            "look", "draft")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()
