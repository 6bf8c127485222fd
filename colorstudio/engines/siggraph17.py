"""The SIGGRAPH 2017 user-guided network as a Colorstudio engine, with suggested colours.

This module is the engine's declaration (cheap to import: no torch); the network code is in
``_siggraph17``, imported when the engine is built or one of its names is asked for here.
"""
from __future__ import annotations

import importlib

from ..core.spec import TORCH_DEVICES, EngineSpec, Mode, ModelFile, ModelSpec

_RELEASE = "https://colorizers.s3.us-east-2.amazonaws.com/"

MODEL = ModelSpec(
    name="siggraph17",
    label="SIGGRAPH 2017 user-guided colorization network",
    purpose="colour hints (user-guided) and automatic colorization; suggested colours",
    files=(ModelFile("siggraph17-df00044c.pth", _RELEASE + "siggraph17-df00044c.pth", "df00044c", 136_800_000),),
    licence="BSD-2-Clause",
    source="https://github.com/richzhang/colorization",
    citation=("Richard Zhang, Jun-Yan Zhu, Phillip Isola, Xinyang Geng, Angela S. Lin, "
              "Tianhe Yu, Alexei A. Efros. Real-Time User-Guided Image Colorization with "
              "Learned Deep Priors. ACM Transactions on Graphics (SIGGRAPH), 2017."),
    architecture="siggraph17",
)

SPEC = EngineSpec(
    name="siggraph17",
    label="SIGGRAPH 2017 user-guided network",
    modes=(Mode.HINTS, Mode.AUTO),
    factory="colorstudio.engines._siggraph17:Siggraph17Engine",
    description="the published user-guided network: colours from a few hints, or on its own; suggests colours",
    preference=20,
    models=(MODEL,),
    devices=TORCH_DEVICES,
)


def __getattr__(name: str):
    # The engine class, its runner and helpers live in the torch-importing module.
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._siggraph17", __package__), name)
