"""The per-photo step of a batch: (source, settings, document) -> record.

``process_photo`` is a pure function of its arguments: it reads the source (read-only),
finds the photo's saved edit document by content hash in the autosave folder the settings
name, colorizes with an engine from the ``runtime`` it is given, writes the result
atomically beside nothing but other results, and returns the manifest record. No global
state: a thread, a process or a Ray actor can run it, each with its own runtime.

The step comes in three stages so that a pipeline can overlap them (decode and encode on I/O
threads, colorize on the compute workers): ``load`` -> ``colorize`` -> ``save``.

A *runtime* is anything with ``engine(name, device) -> Engine`` that keeps its engines: the
batch builds one per worker (``EngineCache``) and reuses it for every photo that worker
colorizes, so a network's weights are loaded once per worker, never once per photo. The
app's shared runtime (``core/runtime``) can be passed in the same way.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from .plan import BatchError
from ..runtime import Runtime

#: Batch modes: the engine modes, plus "document" (only photos with a saved edit document).
MODES = ("auto", "hints", "reference", "palette", "style", "document")
_NEEDS_REFERENCE = ("reference", "palette", "style")
#: The most photos a batch puts through a network in one pass (``--together``).
MAX_TOGETHER = 64
#: Photos per pass where a network may run on a GPU and ``--together`` is not given.
GPU_TOGETHER = 4


@dataclass(frozen=True)
class BatchSettings:
    """What a batch does to every photo; frozen, so it can be hashed, pickled and shipped."""

    mode: str = "auto"
    engine: Optional[str] = None          # None: the best available for the mode (resolved at start)
    device: str = "auto"
    fmt: str = "same"                     # same | png | tiff | jpeg
    quality: int = 95
    compress_level: int = 6               # PNG and TIFF DEFLATE level, 0-9 (the pixels are the same at any)
    saturation: float = 1.0
    references: tuple = ()                # reference picture paths
    reference_sha256: tuple = ()          # their content hashes (filled in at start)
    use_documents: bool = True            # a saved edit document wins over the batch's mode
    autosave: Optional[str] = None        # the autosave folder; None: the user's
    overwrite: bool = False               # replace outputs this batch did not make
    sign: Optional[tuple] = None          # (certificate chain PEM, private key PEM) for C2PA
    max_pixels: Optional[int] = None
    together: Optional[int] = None        # photos of one size per pass of a network; None: 4 on a GPU, else 1

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PhotoTask:
    """One photo to do: where it is, its manifest key, where its result goes, what is known of it."""

    source: str
    rel: str
    output: str
    output_rel: str
    prior: Optional[dict] = None          # the manifest's row from an earlier run, if any


class EngineCache(Runtime):
    """A worker's runtime (:class:`colorstudio.core.runtime.Runtime`): engines built on first
    use and kept, one per name, whatever the number of photos."""

    @property
    def built(self) -> int:
        return sum(self.engines_built.values())


# ---------------------------------------------------------------------------------------------
# What the batch knows of engines (read from their specs)


def engine_facts(name: str) -> tuple[dict, bool]:
    """(model file hashes by model name, trained?) for engine ``name``, from its spec."""
    from ...engines.registry import get_spec
    spec = get_spec(name)
    models = {m.name: [f.sha256 for f in m.files] for m in spec.models}
    return models, bool(spec.models)


def resolve_engine(mode: str, engine: Optional[str]) -> str:
    """The engine a batch uses for photos without a document: the one named, else the best
    one that can run here. BatchError (a sentence) when none can."""
    from ...engines.registry import ENGINES, engines_by_preference
    if engine:
        spec = ENGINES.get(engine)
        if spec is None:
            raise BatchError(f"there is no engine called {engine!r}; choose one of: {', '.join(ENGINES)}")
        if mode not in [str(m) for m in spec.modes]:
            raise BatchError(f"the {engine} engine does not do {mode} mode; it does: "
                             f"{', '.join(str(m) for m in spec.modes)}")
        return engine
    try:
        names = engines_by_preference(mode)
    except ValueError as exc:
        raise BatchError(str(exc)) from None
    if not names:
        raise BatchError(f"no engine of this Colorstudio does {mode} mode yet")
    for name in names:
        if not _missing_models(name):
            return name
    raise BatchError(f"{'automatic' if mode == 'auto' else mode} mode needs a neural model, and none is "
                     f"installed; install one with `colorstudio models install {names[0]}`, or use "
                     "--mode document to render only the photos you edited in the app")


# ---------------------------------------------------------------------------------------------
# Hashes


def file_sha256(path) -> str:
    from ..files import open_regular
    h = hashlib.sha256()
    with open_regular(path) as fh:  # a FIFO or a device is refused (FileError), never read forever
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _json_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------
# The stages


@dataclass
class _Work:
    """A photo between stages (holds its pixels: a few of these at a time, never more)."""

    task: PhotoTask
    record: dict
    photo: Any = None
    hints: Any = None
    engine: str = ""
    saturation: float = 1.0
    references: tuple = ()
    strength: float = 1.0
    look: str = "tones"
    options: tuple = ()
    trained: bool = False
    result: Any = None
    done: bool = False                    # the record is final (skipped, failed or up to date)
    extra: dict = field(default_factory=dict)


def _record(task: PhotoTask) -> dict:
    return {"source": task.rel, "output": task.output_rel, "status": "failed", "error": None,
            "seconds_read": 0.0, "seconds_colorize": 0.0, "seconds_write": 0.0}


def _finish(w: _Work, status: str, error: Optional[str] = None) -> _Work:
    w.record["status"] = status
    w.record["error"] = error
    w.record["finished_at"] = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    w.done = True
    w.photo = w.result = None
    return w


def describe_error(exc: BaseException) -> str:
    """One sentence for a photo's failure (the record's ``error``)."""
    from ..atomic import WriteError
    from ..document import DocumentError
    from ..export import ExportError
    from ..files import FileError
    from ..hints import HintsError
    from ..image import ImageError
    from ..reference import ReferenceError
    from ...engines.base import EngineError
    from ...models.errors import ModelError
    if isinstance(exc, (ImageError, ExportError, WriteError, FileError, DocumentError, HintsError, ReferenceError,
                        EngineError, ModelError, BatchError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "not enough memory for this photo"
    if isinstance(exc, OSError):
        return f"could not be read or written: {exc.strerror or exc}"
    return f"internal error: {type(exc).__name__}: {exc}"


def load(task: PhotoTask, settings: BatchSettings, document=None, *, decide_only: bool = False) -> _Work:
    """Stage 1 (I/O): identify the photo, find its document, decide whether it needs doing,
    decode it. ``document``: the photo's edit document when the caller already has it (else
    it is looked up by content hash in ``settings.autosave``). ``decide_only`` (a dry run):
    stop before decoding, with the status "planned" for a photo that would be colorized."""
    t0 = time.perf_counter()
    w = _Work(task, _record(task))
    try:
        _load(w, settings, document, decide_only)
    except Exception as exc:  # noqa: BLE001 - a photo's failure is recorded, the batch goes on
        _finish(w, "failed", describe_error(exc))
    w.record["seconds_read"] = round(time.perf_counter() - t0, 4)
    return w


def _load(w: _Work, settings: BatchSettings, document, decide_only: bool = False) -> None:
    from ..document import AutosaveStore
    from ..image import open_image
    task, rec, prior = w.task, w.record, w.task.prior or {}
    st = os.stat(task.source)
    rec["size"], rec["mtime_ns"] = st.st_size, st.st_mtime_ns
    if prior.get("sha256") and prior.get("size") == st.st_size and prior.get("mtime_ns") == st.st_mtime_ns:
        sha = prior["sha256"]  # unchanged size and time: the hash recorded last time stands (as rsync and git)
    else:
        sha = file_sha256(task.source)
    rec["sha256"] = sha

    if document is None and settings.use_documents:
        document = AutosaveStore(settings.autosave).load(sha)
    if document is not None:
        rec["document"] = _json_hash(document.to_dict())
        mode, engine, saturation = str(document.mode), document.engine, float(document.saturation)
        refs = tuple(r.path for r in document.references)
        w.hints = document.hints
        w.strength, w.look, w.options = float(document.strength), document.look, tuple(document.options)
    elif settings.mode == "document":
        _finish(w, "skipped", "no saved edit document for this photo (open it in the app to make one)")
        return
    elif settings.mode == "hints":
        _finish(w, "skipped", "no hints for this photo: it has no saved edit document")
        return
    else:
        mode, engine, saturation = settings.mode, settings.engine, settings.saturation
        refs = settings.references
        w.hints = None
    models, w.trained = engine_facts(engine)
    ref_hashes = list(settings.reference_sha256) if refs == settings.references else [
        file_sha256(r) for r in refs if Path(r).exists()]
    rec.update(mode=mode, engine=engine, models=json.dumps(models, sort_keys=True))
    rec["settings_hash"] = _json_hash({
        "mode": mode, "engine": engine, "device": settings.device, "models": models,
        "format": settings.fmt, "quality": settings.quality, "saturation": round(saturation, 4),
        "document": rec.get("document"), "references": ref_hashes, "signed": bool(settings.sign),
        # Only when not the default, so manifests written before the option stay up to date.
        **({"compression": settings.compress_level} if settings.compress_level != 6 else {})})
    w.engine, w.saturation = engine, saturation

    out = Path(task.output)
    if (prior.get("status") == "done" and prior.get("sha256") == sha
            and prior.get("settings_hash") == rec["settings_hash"] and out.is_file()
            and out.stat().st_size == prior.get("output_size")):
        rec.update({k: prior.get(k) for k in ("output_sha256", "output_size", "finished_at")})
        rec.update(status="done", error=None, up_to_date=True)
        w.done = True
        return
    if decide_only:
        rec.update(status="planned", error=None)
        w.done = True
        return

    # numba's loading (0.3-0.6 s of Python, holding the interpreter's lock) runs beside this
    # decode, which lets go of the lock, and not beside the compute threads: there it slowed
    # a 12-photo batch by 1.1-1.3 s. A batch with nothing to do never starts it.
    from ..compose import load_compiled_composer_soon
    load_compiled_composer_soon()
    photo = open_image(task.source, max_pixels=settings.max_pixels)
    rec["sha256"] = photo.content_hash or sha
    w.photo = photo
    if refs:
        from ..reference import load_reference
        w.references = tuple(load_reference(r, need_color=mode == "reference") for r in refs)


def colorize(w: _Work, settings: BatchSettings, runtime) -> _Work:
    """Stage 2 (compute): the engine's chroma joined with the photo's own L, at full size."""
    return colorize_together([w], settings, runtime)[0]


def together_key(w: _Work, settings: BatchSettings, runtime):
    """The key under which this loaded photo may be colorized with others in one pass of its
    engine (:func:`colorize_together`): its engine's ``together_key`` for its size; None
    (alone) for an engine that takes photos one at a time, and for photos with references
    or engine options."""
    if w.done or not _plain(w):
        return None
    key = runtime.engine(w.engine, settings.device).together_key(*w.photo.lightness.shape)
    return None if key is None else (w.engine, key)


def colorize_together(works: list, settings: BatchSettings, runtime) -> list:
    """Stage 2 for several photos: each one's chroma joined with its own L, at full size.
    Photos of one engine whose network takes them together (same working size, no
    references; see :func:`together_key`) go through it in one pass; each photo's
    composition, and any failure, stays its own. Returns ``works``."""
    if all(w.done for w in works):
        return works
    t0 = time.perf_counter()
    from ..compose import compiled_composer
    compiled_composer()          # waits while load_compiled_composer_soon's thread loads it
    from ..session import ColorizeSession
    todo = []
    for w in works:
        if w.done:
            continue
        try:
            todo.append((w, _hints_for(w), ColorizeSession(w.photo, runtime.engine(w.engine, settings.device))))
        except Exception as exc:  # noqa: BLE001
            _finish(w, "failed", describe_error(exc))
    alike = [t for t in todo if _plain(t[0]) and t[2].engine is todo[0][2].engine]
    if len(alike) > 1:
        try:
            ColorizeSession.chroma_together([t[2] for t in alike], [t[1] for t in alike])
        except Exception:  # noqa: BLE001 - each photo on its own (below) says what went wrong
            pass
    shared = (time.perf_counter() - t0) / max(1, len(todo))
    for w, hints, session in todo:
        t1 = time.perf_counter()
        try:
            w.result = render(session.engine, w.photo, hints, saturation=w.saturation, references=w.references,
                              options=dict(w.options), strength=w.strength, look=w.look, session=session)
        except Exception as exc:  # noqa: BLE001
            _finish(w, "failed", describe_error(exc))
        w.record["seconds_colorize"] = round(shared + time.perf_counter() - t1, 4)
    return works


def together_for(settings: BatchSettings, gpu: bool) -> int:
    """Photos per pass of a network: the settings' ``together``, else :data:`GPU_TOGETHER`
    where the network runs on a GPU (one pass for several photos keeps it busy), else 1 (on
    a CPU one photo keeps the cores busy already: bench/results/together.md)."""
    if settings.together is not None:
        return settings.together
    return GPU_TOGETHER if gpu else 1


def _plain(w: _Work) -> bool:
    """A photo the engine answers from its L and hints alone (no references, no options):
    the only kind that goes through a network with others."""
    return not w.references and not w.options


def _hints_for(w: _Work):
    """The photo's hints at its own size (a document's hints fit the photo they were made on)."""
    from ..hints import Hints, HintsError
    photo = w.photo
    hints = (w.hints or Hints()).scaled_to(photo.width, photo.height)
    problems = hints.problems_outside(photo.width, photo.height)
    if problems:
        raise HintsError("the saved hints do not fit the photo: " + "; ".join(problems))
    return hints


def render(engine, photo, hints, *, saturation: float = 1.0, references: tuple = (), options=None,
           strength: float = 1.0, look: str = "tones", session=None):
    """Full-resolution (rgb, alpha, info) for ``photo`` with ``engine`` (an Engine instance).

    This is ``ColorizeSession.render``: the engine gets the decoded ReferencePictures and
    options, and strength, saturation and look are applied at composition. ``session``: the
    photo's ColorizeSession on ``engine`` where there is one already (its answers kept).
    """
    from ..session import ColorizeSession
    session = session if session is not None else ColorizeSession(photo, engine)
    result = session.render(hints, saturation=saturation, references=tuple(references),
                            options=dict(options or {}) or None, strength=strength, look=look)
    return result.rgb, result.alpha, dict(result.info)


def save(w: _Work, settings: BatchSettings) -> _Work:
    """Stage 3 (I/O): write the result atomically (signed when asked), hash it, finish the record."""
    if w.done:
        return w
    t0 = time.perf_counter()
    try:
        _save(w, settings)
        _finish(w, "done")
    except Exception as exc:  # noqa: BLE001
        _finish(w, "failed", describe_error(exc))
    w.record["seconds_write"] = round(time.perf_counter() - t0, 4)
    return w


def _save(w: _Work, settings: BatchSettings) -> None:
    from ... import __version__
    from ..export import format_for_path, write_image
    from ..xmp import digital_source_type
    task, rec = w.task, w.record
    out = Path(task.output)
    replace_ok = settings.overwrite or (task.prior or {}).get("output") == task.output_rel
    if out.exists() and not replace_ok:
        raise BatchError(f"{task.output_rel} already exists in the output folder and this batch did not make "
                         "it; use --overwrite to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    rgb, alpha, _info = w.result
    prov = {"software": f"Colorstudio {__version__}", "engine": w.engine,
            "digital_source_type": digital_source_type(w.trained),
            "source": Path(task.source).name, "source_sha256": rec["sha256"], "hints": str(len(w.hints or ()))}
    if rec.get("models") and rec["models"] != "{}":
        prov["models"] = rec["models"]
    fmt = format_for_path(out)
    if settings.sign:
        from .sign import sign_file
        unsigned = out.with_name(f".{out.name}.unsigned.part")
        try:
            write_image(unsigned, rgb, alpha=alpha, source=w.photo, fmt=fmt, quality=settings.quality,
                        compress_level=settings.compress_level, overwrite=True, provenance=prov)
            sign_file(unsigned, out, fmt, settings.sign, engine=w.engine, trained=w.trained,
                      source_name=Path(task.source).name, source_sha256=rec["sha256"], source_path=task.source)
        finally:
            unsigned.unlink(missing_ok=True)
    else:
        write_image(out, rgb, alpha=alpha, source=w.photo, fmt=fmt, quality=settings.quality,
                    compress_level=settings.compress_level, overwrite=True, provenance=prov)
    rec["output_sha256"] = file_sha256(out)
    rec["output_size"] = out.stat().st_size


def process_photo(task: PhotoTask, settings: BatchSettings, runtime=None, document=None) -> dict:
    """Do one photo from start to end and return its manifest record (never raises for a
    photo's own trouble: a failure is a record with ``status`` "failed" and the reason).

    ``runtime`` provides engines (see the module's docstring); None builds a private one.
    """
    runtime = runtime if runtime is not None else EngineCache()
    return save(colorize(load(task, settings, document), settings, runtime), settings).record


def check_models_here(settings: BatchSettings) -> None:
    """BatchError (a sentence) when the engine the batch uses for photos without a document
    needs a model this machine has not installed: every such photo would fail the same way,
    so the batch refuses before starting any (``settings`` as :func:`settings_for_start`
    returns them). Photos with a saved document use the document's engine and fail, each
    with the same sentence, only if that engine's model is missing."""
    if settings.mode in ("document", "hints") or not settings.engine:
        return
    from ...models.store import not_installed_message
    missing = _missing_models(settings.engine)
    if missing:
        raise BatchError(f"{not_installed_message(missing[0])}; no photo was started")


def _missing_models(engine: str) -> list[str]:
    """The models engine ``engine`` needs that are not installed here (none for a weight-free one)."""
    from ...engines.registry import ENGINES
    from ...models.store import is_installed
    spec = ENGINES[engine]
    return [m.name for m in spec.models if not is_installed(m.name)] if spec.needs_weights else []


def _check_whole(flag: str, value, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BatchError(f"{flag} must be a whole number from {lo} to {hi}, not {value!r}")


def settings_for_start(settings: BatchSettings) -> BatchSettings:
    """Validate what can be checked before any photo: the mode, the engine, the references."""
    if settings.mode not in MODES:
        raise BatchError(f"{settings.mode!r} is not a batch mode; choose one of: {', '.join(MODES)}")
    _check_whole("--quality", settings.quality, 1, 100)
    _check_whole("--compression", settings.compress_level, 0, 9)
    if settings.together is not None:
        _check_whole("--together", settings.together, 1, MAX_TOGETHER)
    if settings.mode in _NEEDS_REFERENCE and not settings.references:
        raise BatchError(f"{settings.mode} mode needs a reference picture: give one with --reference REF")
    hashes = []
    for ref in settings.references:
        from ..reference import ReferenceError, load_reference
        try:
            pic = load_reference(ref, need_color=settings.mode == "reference")
        except ReferenceError as exc:
            raise BatchError(str(exc)) from None
        hashes.append(pic.content_hash)
    engine = settings.engine
    if settings.mode not in ("document", "hints") or settings.engine:
        engine = resolve_engine("hints" if settings.mode == "document" else settings.mode, settings.engine)
    if settings.sign:
        from .sign import check_signing
        check_signing(settings.sign)
    return replace(settings, engine=engine, reference_sha256=tuple(hashes),
                   references=tuple(str(Path(r).resolve()) for r in settings.references))
