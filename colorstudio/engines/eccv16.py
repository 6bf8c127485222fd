"""The ECCV 2016 automatic network as a Colorstudio engine (hints are not used).

This module is the engine's declaration (cheap to import: no torch); the network code is in
``_eccv16``, imported when the engine is built or one of its names is asked for here.
"""
from __future__ import annotations

import importlib

from ..core.spec import TORCH_DEVICES, EngineSpec, Mode, ModelFile, ModelSpec

_RELEASE = "https://colorizers.s3.us-east-2.amazonaws.com/"

MODEL = ModelSpec(
    name="eccv16",
    label="ECCV 2016 automatic colorization network",
    purpose="automatic colorization (no hints)",
    files=(ModelFile("colorization_release_v2-9b330a0b.pth", _RELEASE + "colorization_release_v2-9b330a0b.pth",
                     "9b330a0b", 129_000_000),),
    licence="BSD-2-Clause",
    source="https://github.com/richzhang/colorization",
    citation=("Richard Zhang, Phillip Isola, Alexei A. Efros. Colorful Image Colorization. "
              "European Conference on Computer Vision (ECCV), 2016."),
    architecture="eccv16",
)

SPEC = EngineSpec(
    name="eccv16",
    label="ECCV 2016 automatic network",
    modes=(Mode.AUTO,),
    factory="colorstudio.engines._eccv16:Eccv16Engine",
    description="the published automatic network: colours a photo on its own, no hints",
    preference=10,
    models=(MODEL,),
    devices=TORCH_DEVICES,
    uses_hints=False,
)


def __getattr__(name: str):
    # The engine class, its runner and helpers live in the torch-importing module.
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._eccv16", __package__), name)
