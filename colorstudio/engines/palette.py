"""Palette transfer (weight-free): the engine's declaration.

"Give this photo the palette of that one": a colour photo's chroma is moved to the
statistics of one or more reference pictures, by Reinhard et al. (2001: mean and spread of
each of a*, b*) or by the linear Monge-Kantorovich transfer (Pitié and Kokaram 2007: mean
and covariance of a*, b*). The photo's tones (its L) are always kept. The code is in
``_palette``.
"""
from __future__ import annotations

import importlib

from ..core.spec import CPU_ONLY, EngineSpec, Mode, Option

METHOD = Option("method", "Method", "mk", choices=("mk", "reinhard"),
                help="mk: match the mean and covariance of a*, b* (linear Monge-Kantorovich, "
                     "keeps colours' relations); reinhard: match the mean and spread of each of a*, b*")

SPEC = EngineSpec(
    name="palette",
    label="Palette transfer",
    modes=(Mode.PALETTE,),
    factory="colorstudio.engines._palette:PaletteEngine",
    description="gives a colour photo the palette of a reference picture, keeping its tones; no weights",
    preference=10,
    devices=CPU_ONLY,
    options=(METHOD,),
    uses_hints=False,
    uses_reference=True,
)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._palette", __package__), name)
