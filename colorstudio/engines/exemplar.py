"""Reference colours (weight-free): the engine's declaration.

A grey photo takes its colours from one or more colour references by matching like with
like (local lightness statistics, gradients, texture), voting within the photo's
superpixels, and letting the propagation solver finish along the photo's own edges. The
code is in ``_exemplar`` (numpy, scipy, scikit-image), imported when the engine is built.
"""
from __future__ import annotations

import importlib

from ..core.spec import CPU_ONLY, EngineSpec, Mode

SPEC = EngineSpec(
    name="exemplar",
    label="Reference colours",
    modes=(Mode.REFERENCE,),
    factory="colorstudio.engines._exemplar:ExemplarEngine",
    description=("takes colours from colour reference pictures by matching like with like, "
                 "then spreads them along the photo's own edges; your hints win; no weights"),
    preference=10,
    devices=CPU_ONLY,
    uses_hints=True,
    uses_reference=True,
)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._exemplar", __package__), name)
