"""Colorstudio: colorize black-and-white photographs.

The public Python API::

    import colorstudio as cs
    photo = cs.open_image("photo.jpg")                 # SourceImage
    hints = cs.Hints.load("photo.hints.json")          # also Hints.from_dict / to_dict / save
    result = cs.colorize(photo, hints=hints)           # full resolution; result.save("out.png")
    session = cs.ColorizeSession(photo)                # per-photo cache for interactive use
    preview = session.preview(hints, max_side=1024)    # fast, numpy RGB uint8
    final = session.render(hints)                      # converged, full resolution
    settings = cs.BatchSettings(mode="reference", references=("colour.jpg",))
    summary = cs.run_batch("scans", "scans-colour", settings, jobs=2)  # a folder, resumable

Names are imported on first use, so ``import colorstudio`` stays light (no torch, no Qt).
"""
from __future__ import annotations

import importlib
import os

# The networks' OpenMP threads sleep when they wait instead of spinning: on a CPU shared
# with the GUI, the compositing threads or other programs, spinning threads cost several
# times the CPU and 3-5x the wall time (a new style's preview: 1.0 s spinning, 0.15 s
# passive, bench/results/style.md). Read by OpenMP when torch loads, so set here, before
# any of our modules imports torch; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# The same for numpy's and scipy's OpenBLAS: after each threaded call its threads spin for
# about 2^28 cycles (0.1 s) by default, and from the moment numpy loads. On two cores that
# doubled the CPU of a fresh process's first preview and stole the compositing threads'
# core (bench/results/first_preview.md). 2^4 cycles: they sleep at once. Read when the
# library loads, so it holds where colorstudio is imported before numpy.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

__version__ = "0.1.0"

_EXPORTS = {
    "open_image": "colorstudio.core.image",
    "SourceImage": "colorstudio.core.image",
    "ImageError": "colorstudio.core.image",
    "Hints": "colorstudio.core.hints",
    "PointHint": "colorstudio.core.hints",
    "Stroke": "colorstudio.core.hints",
    "HintsError": "colorstudio.core.hints",
    "colorize": "colorstudio.core.session",
    "ColorizeSession": "colorstudio.core.session",
    "ColorizeResult": "colorstudio.core.session",
    "ExportError": "colorstudio.core.export",
    "create_engine": "colorstudio.engines.registry",
    "Runtime": "colorstudio.core.runtime",
    "Mode": "colorstudio.core.spec",
    "ENGINES": "colorstudio.engines.registry",
    "EngineError": "colorstudio.engines.base",
    "Reference": "colorstudio.core.reference",
    "ReferenceError": "colorstudio.core.reference",
    "load_reference": "colorstudio.core.reference",
    "run_batch": "colorstudio.core.batch",
    "BatchSettings": "colorstudio.core.batch",
    "BatchError": "colorstudio.core.batch",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'colorstudio' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
