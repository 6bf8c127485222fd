"""AdaIN style transfer (Huang and Belongie, ICCV 2017), a downloadable style engine.

The declaration only (no torch); the engine is in ``_adain`` and the network in
``colorstudio.models.style_networks``. Two files from release v0.0.0 of
naoto0804/pytorch-AdaIN: the normalised VGG-19 (80 MB) and the decoder (14 MB). Its
feature-space ``alpha`` is an option; two style pictures are interpolated by ``mix``.
Strength and look are applied at composition, as for every style engine.
"""
from __future__ import annotations

import importlib

from ..core.spec import TORCH_DEVICES, EngineSpec, Mode, ModelFile, ModelSpec, Option
from ..core.style_blend import LOOK
from .microast import MIX

_RELEASE = "https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"

MODEL = ModelSpec(
    name="adain",
    label="AdaIN arbitrary style transfer network",
    purpose="artistic style from a painting (VGG-19 encoder and decoder)",
    files=(
        # SHA-256 as pinned by others, not yet checked against a download (none is possible here);
        # the sizes are approximate (progress only).
        ModelFile("vgg_normalised.pth", _RELEASE + "vgg_normalised.pth",
                  "804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a", 80_100_000, part="vgg"),
        ModelFile("decoder.pth", _RELEASE + "decoder.pth",
                  "379ca41d59f3a37eed3599bbbc2560c19da5c458870a5ffd3a9dd41aa88f9472", 14_000_000, part="decoder"),
    ),
    licence="MIT",
    source="https://github.com/naoto0804/pytorch-AdaIN",
    citation=("Xun Huang, Serge Belongie. Arbitrary Style Transfer in Real-time with Adaptive Instance "
              "Normalization. ICCV 2017."),
    architecture="adain",
)

ALPHA = Option("alpha", "Feature strength", 1.0, 0.0, 1.0,
               help="AdaIN's own content-style trade-off in feature space (1: all style)")

SPEC = EngineSpec(
    name="adain",
    label="AdaIN style",
    modes=(Mode.STYLE,),
    factory="colorstudio.engines._adain:AdaINEngine",
    description="Huang and Belongie's AdaIN: a painting's style through VGG features (download, 94 MB)",
    preference=10,
    models=(MODEL,),
    devices=TORCH_DEVICES,
    options=(ALPHA, MIX),
    uses_hints=False,
    uses_reference=True,
    extra={"look": LOOK},
)


def __getattr__(name: str):
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(importlib.import_module("._adain", __package__), name)
