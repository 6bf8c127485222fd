"""Jobs: small frozen objects with ``run(runtime, progress, should_stop)``, and the
plain-Python plumbing of long work (progress and cancellation callbacks).

``progress(done, total, note=None)``: counts (``total`` 0 when unknown), and/or a *note*, plain
data a long job reports as it goes (a batch record, a training's losses); ``done`` is None
when there is only a note. ``should_stop()`` turns true when the job's result is no longer
wanted; a job that notices raises :class:`Cancelled`. The app runs jobs on workers
(gui/workers.py, gui/compute.py), the CLI and the Python API call ``run`` directly."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .cancel import Cancelled, Progress, ShouldStop, check_stop  # noqa: F401 (re-exported)
from .runtime import EngineChoice


# -- jobs: frozen snapshots that know how to run on a runtime -----------------------------
#
# A job is built on the GUI thread (or by the CLI, or a batch run) from the document as it
# is now, and run on a worker that owns a Runtime: ``job.run(runtime, progress,
# should_stop)``. Results are plain data (numpy arrays and small dataclasses), so they can
# cross threads. Long jobs (export, install, batch, training) say so with ``long = True``:
# the scheduler lets previews run between their steps (see core.scheduler).

DRAG_PREVIEW_SIDE = 384
FULL_PREVIEW_SIDE = 1024


def _references(refs) -> tuple:
    from .session import load_references
    return load_references(refs)


@dataclass(frozen=True)
class Look:
    """Composition settings: applied to an engine's answer without running it again."""

    saturation: float = 1.0
    strength: float = 1.0
    look: str = "tones"


@dataclass(frozen=True)
class PreviewResult:
    rgb: Optional[np.ndarray]  # (h, w, 3) uint8, or None: show the photo as it is (nothing to colour yet)
    max_side: int
    seconds: float
    engine: str                 # the engine's label, "" when no engine made this picture
    device: str                 # where it ran: "cpu", "cuda", "mps"
    message: str = ""           # what the engine had to adapt (e.g. fell back to the CPU), or ""
    engine_name: str = ""       # the engine's registry name ("siggraph17")
    draft: bool = False         # a coarse look while dragging; a settled one follows


@dataclass(frozen=True)
class PreviewJob:
    photo: Any            # a SourceImage; read-only on every thread
    photo_key: str         # the photo's content hash
    engine: EngineChoice
    hints: Any            # Hints
    saturation: float
    max_side: int
    mode: str = "hints"
    references: tuple = ()  # Reference objects (decoded on the worker)
    options: tuple = ()     # (name, value) pairs of the engine's own settings
    strength: float = 1.0
    look: str = "tones"
    draft: bool = False
    long = False

    def run(self, runtime, progress=None, should_stop=None) -> PreviewResult:
        t0 = time.perf_counter()
        s = runtime.session(self.photo, self.engine, self.photo_key)
        spec_needs_refs = bool(self.references) or self.mode in ("reference", "palette", "style")
        neural = bool(getattr(s.engine, "needs_weights", False))
        nothing_yet = (self.mode == "hints" and self.hints.is_empty and not neural) or (
            spec_needs_refs and not self.references and self.mode != "hints")
        if nothing_yet:
            # Nothing to colour yet: the canvas shows the photo itself. The per-photo work is
            # done now anyway, so the first click is answered quickly; a click that arrives
            # meanwhile is answered between its steps (progress is the compute thread's
            # yield point).
            s.warm_up(self.max_side, should_stop=should_stop, progress=progress)
            return PreviewResult(None, self.max_side, 0.0, "", "")
        refs = _references(self.references)
        pic = s.preview(self.hints, max_side=self.max_side, saturation=self.saturation, draft=self.draft,
                        references=refs, options=dict(self.options), strength=self.strength, look=self.look,
                        should_stop=should_stop)
        info = getattr(pic, "info", {}) or {}
        label, device = runtime.describe(self.engine, info)
        return PreviewResult(np.ascontiguousarray(np.asarray(pic)), self.max_side, time.perf_counter() - t0,
                             label, device, str(info.get("message", "") or ""), self.engine.name, self.draft)


@dataclass(frozen=True)
class Suggestions:
    x: float
    y: float
    colors: tuple  # ((r, g, b), weight) pairs


@dataclass(frozen=True)
class SuggestJob:
    photo: Any
    photo_key: str
    engine: EngineChoice
    hints: Any
    x: float
    y: float
    count: int = 8
    long = False

    def run(self, runtime, progress=None, should_stop=None) -> Suggestions:
        s = runtime.session(self.photo, self.engine, self.photo_key)
        colors = s.suggest_colors(self.hints, self.x, self.y, count=self.count) or []
        return Suggestions(self.x, self.y, tuple(colors))


@dataclass(frozen=True)
class Reach:
    """How far one hint's colour reaches: (h, w) float32 in [0, 1] over the whole photo (at
    the engine's working size), or None when the engine cannot say."""

    selection: tuple
    hints: Any
    reach: Optional[np.ndarray]
    message: str = ""


@dataclass(frozen=True)
class ReachJob:
    """The share of the colour at each pixel that comes from the hint ``selection``
    (``("point", i)`` or ``("stroke", j)``): the reach overlay of the canvas."""

    photo: Any
    photo_key: str
    engine: EngineChoice
    hints: Any
    selection: tuple
    options: tuple = ()
    max_side: int = 256
    long = False

    def run(self, runtime, progress=None, should_stop=None) -> Reach:
        s = runtime.session(self.photo, self.engine, self.photo_key)
        check_stop(should_stop)
        reach = s.reach(self.hints, self.selection, max_side=self.max_side, options=dict(self.options))
        if reach is None:
            return Reach(self.selection, self.hints, None, "this engine does not show how far a hint reaches")
        check_stop(should_stop)
        return Reach(self.selection, self.hints, np.ascontiguousarray(reach, dtype=np.float32))


@dataclass(frozen=True)
class Exported:
    path: str
    seconds: float
    width: int
    height: int


@dataclass(frozen=True)
class ExportJob:
    photo: Any
    photo_key: str
    engine: EngineChoice
    hints: Any
    saturation: float
    path: str
    fmt: Optional[str]
    quality: int = 95
    mode: str = "hints"
    references: tuple = ()
    options: tuple = ()
    strength: float = 1.0
    look: str = "tones"
    overwrite: bool = True   # the app asked the user already (its save dialog)
    long = True

    def run(self, runtime, progress=None, should_stop=None) -> Exported:
        t0 = time.perf_counter()
        s = runtime.session(self.photo, self.engine, self.photo_key)
        result = s.render(self.hints, saturation=self.saturation, references=_references(self.references),
                          options=dict(self.options), strength=self.strength, look=self.look, mode=self.mode,
                          progress=progress, should_stop=should_stop)
        check_stop(should_stop)
        if self.fmt == "tiff" and result.rgb.dtype == np.uint8:
            # The export dialog promises 16-bit TIFF; 8-bit values scale exactly (v * 257).
            result.rgb = result.rgb.astype(np.uint16) * np.uint16(257)
        result.save(self.path, fmt=self.fmt, quality=self.quality, overwrite=self.overwrite)
        h, w = result.rgb.shape[:2]
        return Exported(self.path, time.perf_counter() - t0, int(w), int(h))


@dataclass(frozen=True)
class DetectDevices:
    """Which compute devices exist (imports torch, so only on a worker)."""

    long = False

    def run(self, runtime, progress=None, should_stop=None) -> list:
        return runtime.devices()


@dataclass(frozen=True)
class Tidy:
    """Drop the engines whose models changed now, rather than at the next preview (memory)."""

    long = False

    def run(self, runtime, progress=None, should_stop=None):
        runtime.tidy()
        return None


#: Housekeeping jobs: they do not light the busy indicator and their results are not shown.
HOUSEKEEPING = (DetectDevices, Tidy)


@dataclass(frozen=True)
class Thumbnail:
    """A reference picture, small, for the side panel: (h, w, 3) uint8 sRGB, the size of the
    decoded picture its pixels map to (regions are given in those), and whether it has colour."""

    path: str
    rgb: np.ndarray
    decoded_size: tuple
    was_color: bool
    content_hash: str


@dataclass(frozen=True)
class ThumbnailJob:
    """Decode a reference picture (off the GUI thread) and make its thumbnail."""

    path: str
    max_side: int = 320
    long = False

    def run(self, runtime, progress=None, should_stop=None) -> Thumbnail:
        from .reference import load_reference
        from .resample import fit_size
        pic = load_reference(self.path)
        h, w = pic.rgb.shape[:2]
        tw, th = fit_size(w, h, self.max_side)
        step_y, step_x = max(1, h // th), max(1, w // tw)
        small = pic.rgb[::step_y, ::step_x][:th, :tw]
        rgb = np.ascontiguousarray(np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8))
        return Thumbnail(pic.path, rgb, (w, h), pic.was_color, pic.content_hash)


@dataclass(frozen=True)
class Detail:
    """The export's own pixels for a region of the photo (shown when zoomed to 100 % or more)."""

    rect: tuple          # (x0, y0, x1, y1) in photo pixels
    rgb: np.ndarray      # (y1 - y0, x1 - x0, 3) uint8
    key: tuple           # what it was made from (the document's picture), to match it on screen


@dataclass(frozen=True)
class DetailJob:
    """Compose the export's pixels for the visible region only (not the whole photo)."""

    photo: Any
    photo_key: str
    engine: EngineChoice
    hints: Any
    saturation: float
    rect: tuple
    mode: str = "hints"
    references: tuple = ()
    options: tuple = ()
    strength: float = 1.0
    look: str = "tones"
    key: tuple = ()
    long = False

    def run(self, runtime, progress=None, should_stop=None) -> Detail:
        s = runtime.session(self.photo, self.engine, self.photo_key)
        pic = s.render_region(self.hints, self.rect, self.saturation, references=_references(self.references),
                              options=dict(self.options), strength=self.strength, look=self.look,
                              should_stop=should_stop)
        return Detail(tuple(int(v) for v in self.rect), np.ascontiguousarray(np.asarray(pic)), self.key)


#: Jobs that do not light the busy indicator: housekeeping, and quiet refinements of what is
#: already on screen (a thumbnail, the full-resolution pixels of the part in view).
QUIET = HOUSEKEEPING + (ThumbnailJob, DetailJob)


# -- opening a photo -----------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedPhoto:
    """A photo opened off the GUI thread, with its grey display image already shrunk."""

    path: Path
    photo: Any                  # a SourceImage
    display: np.ndarray         # uint8 grey, long side at most the job's display side


@dataclass(frozen=True)
class OpenPhoto:
    """Decode and hash a photo and shrink it for display (a 50-megapixel scan takes a second
    or more). A superseded open stops after decoding."""

    path: Path
    display_side: int
    long = False

    def run(self, runtime=None, progress=None, should_stop=None) -> LoadedPhoto:
        from . import image   # looked up at run time: keeps start-up light (and tests can hold it)
        photo = image.open_image(self.path)
        check_stop(should_stop)
        return LoadedPhoto(Path(self.path), photo, photo.gray_u8(max_side=self.display_side))

    def describe_error(self, exc: BaseException) -> str:
        from .image import ImageError
        if isinstance(exc, (ImageError, OSError, ValueError)):
            return str(exc)
        # A bug must still end the wait with a sentence, not hang it (the worker logs it).
        return f"{Path(self.path).name} could not be opened ({exc})"
