"""Batch colorization: a folder in, colorized derivatives out, resumable, sources untouched.

Qt-free. ``run_batch(SOURCE_DIR, OUTPUT_DIR, BatchSettings(...))`` walks the source folder,
mirrors it into the output folder and records every photo in a manifest
(``OUTPUT_DIR/colorstudio-batch.sqlite``); running it again does only what changed.
``process_photo(task, settings, runtime)`` is the per-photo step, a pure function that a
thread pool or a Ray actor pool maps over the photos. The CLI is ``batch.cli``.
"""
from __future__ import annotations

from .manifest import COLUMNS, BatchLock, Manifest
from .plan import LOCK_NAME, MANIFEST_NAME, OUTPUT_FORMATS, BatchError, check_folders, walk
from .run import LocalPipeline, Summary, run_batch
from .step import MODES, BatchSettings, EngineCache, PhotoTask, process_photo

__all__ = ["BatchError", "BatchLock", "BatchSettings", "COLUMNS", "EngineCache", "LOCK_NAME", "LocalPipeline",
           "MANIFEST_NAME", "MODES", "Manifest", "OUTPUT_FORMATS", "PhotoTask", "Summary", "check_folders",
           "process_photo", "run_batch", "walk"]
