"""Networks a user trained (``colorstudio train``) as engines: one engine per trained model.

This module declares no fixed ``SPEC``; its ``engine_specs()`` hook lists the registered user
models (``colorstudio.models.user``, manifests only: no torch) as EngineSpecs named by the
user's ``--name``, each serving the modes of its architecture (automatic for unet, pix2pix,
vae and restore; hints and automatic for a fine-tuned siggraph17). So a trained model shows
in ``colorstudio colorize --engine NAME``, in the app's engine choice for its mode, and in
batch runs, like any installed model. The engine code is in ``_user``.
"""
from __future__ import annotations

from ..core.spec import TORCH_DEVICES, EngineSpec, ModelFile, ModelSpec, Option

#: The engine class of model NAME is ``_user.trained__NAME`` (made on first use).
PREFIX = "trained__"
#: Trained models come after the published networks of their mode.
PREFERENCE = 5
SAMPLE = Option("sample", "Colouring", 0, 0, 99,
                help="which of the model's colourings: 0 the most typical one, 1, 2, ... others")

_made: dict = {}


def spec_for(model) -> EngineSpec:
    """The EngineSpec of a registered user model (``models.user.UserModel``)."""
    key = (model.name, model.sha256, str(model.model_path))
    spec = _made.get(key)
    if spec is None:
        m = model.manifest
        steps = m.get("steps", 0)
        weights = ModelSpec(
            name=model.name, label=f"{model.name} (your {m.get('label', model.architecture)})",
            purpose=f"trained by you on {m.get('data', {}).get('train', '?')} photos, {steps} steps",
            files=(ModelFile(f"user/{model.name}.pth", "", model.sha256, model.size),),
            licence="yours", source=str(m.get("data", {}).get("folder", "")), citation=str(m.get("reference", "")),
            architecture=model.network)
        spec = EngineSpec(
            name=model.name, label=f"{model.name} (trained {model.architecture})", modes=tuple(model.modes),
            factory=f"colorstudio.engines._user:{PREFIX}{model.name}",
            description=f"your {m.get('label', model.architecture)}, trained on "
                        f"{m.get('data', {}).get('folder', 'your photos')} ({steps} steps)",
            preference=PREFERENCE, models=(weights,), devices=TORCH_DEVICES,
            options=(SAMPLE,) if model.network == "vae" else (),
            uses_hints="hints" in model.modes,
            extra={"trained_model": model.name, "architecture": model.architecture})
        _made[key] = spec
    return spec


def engine_specs() -> list:
    """The registry hook: one spec per registered user model."""
    from ..models.user import list_user_models
    return [spec_for(m) for m in list_user_models()]
