"""Edge-aware propagation of colour hints (weight-free): the engine's declaration.

The solver is in ``_propagation`` (numpy and scipy), imported when the engine is built or
one of its names is asked for here, so listing engines stays cheap.
"""
from __future__ import annotations

import importlib

from ..core.spec import CPU_ONLY, EngineSpec, Mode, Option

#: How strongly the photo's edges stop colour, 0 (colour flows over soft edges) to 1 (the
#: faintest edge stops it). The engine maps it to its edge scale ``sigma``.
EDGE_STRENGTH = Option("edge_strength", "Edge strength", 0.5, 0.0, 1.0,
                       help="how strongly the photo's edges stop colour: higher keeps colour inside "
                            "finer outlines, lower lets it flow over soft edges")

SPEC = EngineSpec(
    name="propagation",
    label="Edge-aware propagation",
    modes=(Mode.HINTS,),
    factory="colorstudio.engines._propagation:PropagationEngine",
    description="spreads each hint over the region it belongs to along the photo's own edges; no weights",
    preference=10,
    devices=CPU_ONLY,
    options=(EDGE_STRENGTH,),
)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._propagation", __package__), name)
