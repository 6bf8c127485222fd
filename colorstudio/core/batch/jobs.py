"""A batch run and its thumbnails as jobs (``run(runtime, progress, should_stop)``), for the
app's Batch dialog, which runs them on workers of their own (gui/workers.py).

:class:`BatchJob` drives :func:`~colorstudio.core.batch.run_batch` as the CLI does (one photo
at a time, with engines of its own built by ``runtime_factory``: a runtime is used from one
thread), or re-renders one photo (``only``). What it learns as it goes leaves it as *notes*
through ``progress(None, None, note)``: :class:`Listed` (the walk), :class:`Started` (how many
photos) and each photo's manifest record (a plain dict).

``wait``: a callable that blocks while the batch should hold (paused, or the app's previews
have the CPU) and returns True when it should stop; it is asked before each photo is taken
and right before each photo's colorizing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional


@dataclass(frozen=True)
class Listed:
    entries: list   # [(rel, path, skip reason or "")] of the walk


@dataclass(frozen=True)
class Started:
    total: int      # photos the run will try


@dataclass(frozen=True)
class Thumbnail:
    rel: str
    width: int
    height: int
    rgb: bytes      # width * height * 3 bytes


class _GatedRuntime:
    """A runtime whose ``engine`` waits first: the per-photo step asks for the engine right
    before colorizing, so each photo's colorizing waits for pause and previews."""

    def __init__(self, runtime, wait: Callable[[], bool]):
        self._runtime, self._wait = runtime, wait

    def engine(self, name, device=None):
        self._wait()
        return self._runtime.engine(name, device)

    def close(self) -> None:
        close = getattr(self._runtime, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class BatchJob:
    """Colorize ``source`` into ``output`` (resuming from the manifest); returns the Summary.
    With ``only`` (a photo's path relative to the source): that photo alone, recorded in the
    manifest; returns its record."""

    source: str
    output: str
    settings: object               # BatchSettings
    runtime_factory: Callable      # () -> a runtime; with ``shared_runtime`` the app's own, not closed
    recursive: bool = False
    only: Optional[str] = None
    wait: Optional[Callable[[], bool]] = None
    shared_runtime: bool = False   # the factory hands out the app's runtime: used, never closed
    long = True

    def run(self, runtime=None, progress=None, should_stop=None):
        def note(n) -> None:
            if progress is not None:
                progress(None, None, note=n)

        def stop() -> bool:
            held = self.wait() if self.wait is not None else False
            return bool(held) or bool(should_stop is not None and should_stop())

        runtime = _GatedRuntime(self.runtime_factory(), stop)
        try:
            if self.only is not None:
                rec = self._rerender(runtime)
                note(rec)
                return rec
            from . import check_folders, run_batch, walk
            src, out = check_folders(self.source, self.output)
            note(Listed([(e.rel, str(e.path), e.skip) for e in walk(src, recursive=self.recursive, avoid=out)]))
            return run_batch(self.source, self.output, self.settings, recursive=self.recursive, jobs=1, in_flight=1,
                             on_record=lambda r: note(dict(r)), on_start=lambda n: note(Started(int(n))),
                             runtime=runtime, should_stop=stop)
        finally:
            if not self.shared_runtime:
                runtime.close()

    def _rerender(self, runtime) -> dict:
        """The per-photo step for ``only`` alone, under the batch's lock, recorded in its manifest."""
        from . import BatchLock, Manifest, check_folders, process_photo
        from .plan import BatchError, output_names, walk
        from .step import PhotoTask, settings_for_start
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
                rec = dict(process_photo(task, settings, runtime))
                manifest.put(rec)
            finally:
                manifest.close()
        return rec

    def describe_error(self, exc: BaseException) -> str:
        from .plan import BatchError
        from .step import describe_error
        return str(exc) if isinstance(exc, BatchError) else describe_error(exc)


@dataclass(frozen=True)
class Thumbnails:
    """Small thumbnails of ``items`` ((rel, path) pairs), each sent as a :class:`Thumbnail`
    note (Pillow's draft mode; files over ``max_bytes`` and files that do not decode get none)."""

    items: tuple
    side: int = 48
    max_bytes: int = 40 * 1024 * 1024
    long = True

    def run(self, runtime=None, progress=None, should_stop=None) -> None:
        from PIL import Image
        for rel, path in self.items:
            if should_stop is not None and should_stop():
                return
            try:
                if Path(path).stat().st_size > self.max_bytes:
                    continue
                with Image.open(path) as im:
                    im.draft("RGB", (self.side, self.side))
                    im = im.convert("RGB")
                    im.thumbnail((self.side, self.side))
                    thumb = Thumbnail(rel, im.width, im.height, im.tobytes())
            except Exception:  # noqa: BLE001 - a photo that will not decode simply has no thumbnail
                continue
            if progress is not None:
                progress(None, None, note=thumb)
