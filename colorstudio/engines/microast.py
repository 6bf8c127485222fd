"""MicroAST, the bundled artistic style engine (Wang et al., AAAI 2023).

This module is the engine's declaration (cheap to import: no torch); the engine is in
``_microast`` and the network in ``colorstudio.models.style_networks``. The four published
weight files (1.9 MB, MIT) ship inside the package in ``resources/models/microast/`` with
their licence and a NOTICE, so style works offline the first time; ``colorstudio models
install microast`` fetches the same files from the authors' repository.

Strength and the two looks are applied at composition (``colorstudio.core.style_blend``),
never by the network's own ``alpha``.
"""
from __future__ import annotations

import importlib

from ..core.spec import TORCH_DEVICES, EngineSpec, Mode, ModelFile, ModelSpec, Option
from ..core.style_blend import LOOK

COMMIT = "5a6c9050d8c408191cb9db12c697f3e4c7ebe137"
_RELEASE = f"https://github.com/EndyWon/MicroAST/raw/{COMMIT}/models/"

FILES = (
    ModelFile("content_encoder_iter_160000.pth.tar", _RELEASE + "content_encoder_iter_160000.pth.tar",
              "c8d895c0eec52507c157e102fab217c37f0c399ef3e168ef8b0b2677714660a4", 634_983, part="content_encoder"),
    ModelFile("style_encoder_iter_160000.pth.tar", _RELEASE + "style_encoder_iter_160000.pth.tar",
              "94f6b3fa386828692c20809a0af8bd0eba9c04e90a7d8842086976e4d223c5af", 634_983, part="style_encoder"),
    ModelFile("modulator_iter_160000.pth.tar", _RELEASE + "modulator_iter_160000.pth.tar",
              "8588055baf7d5ad8398d595d5518c6f030e3ff8dbb6007a7c1779776e11da28b", 12_158, part="modulator"),
    ModelFile("decoder_iter_160000.pth.tar", _RELEASE + "decoder_iter_160000.pth.tar",
              "32e04a46b953fd9f94ec9e20f351511305a5260e000c18f9aef6570d5f1e23d9", 619_135, part="decoder"),
)

MODEL = ModelSpec(
    name="microast",
    label="MicroAST arbitrary style transfer network",
    purpose="artistic style from a painting (bundled)",
    files=FILES,
    licence="MIT",
    source="https://github.com/EndyWon/MicroAST",
    citation=("Zhizhong Wang, Lei Zhao, Zhiwen Zuo, Ailin Li, Haibo Chen, Wei Xing, Dongming Lu. "
              "MicroAST: Towards Super-Fast Ultra-Resolution Arbitrary Style Transfer. AAAI 2023."),
    architecture="microast",
    bundled=True,
)

#: Interpolation between two style pictures (the share of the second one).
MIX = Option("mix", "Second style", 0.5, 0.0, 1.0,
             help="with two style pictures: how much of the second one (0: only the first, 1: only the second)")

SPEC = EngineSpec(
    name="microast",
    label="MicroAST style",
    modes=(Mode.STYLE,),
    factory="colorstudio.engines._microast:MicroASTEngine",
    description="a painting's colours and brushwork on the photo, live; bundled (1.9 MB, MIT)",
    preference=20,
    models=(MODEL,),
    devices=TORCH_DEVICES,
    options=(MIX,),
    uses_hints=False,
    uses_reference=True,
    extra={"look": LOOK},
)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._microast", __package__), name)
