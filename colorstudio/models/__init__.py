"""Model weights: registry, download, import, verification and safe loading.

Names are imported on first use, so that listing models or asking for the models folder
never loads torch::

    from colorstudio import models
    models.list_models()                       # installed or not, path, size
    models.is_installed("siggraph17")          # the file is in the cache (no checksum)
    models.install("siggraph17", progress=cb)  # download, resume, check, rename into place
    models.import_model("siggraph17", "siggraph17-df00044c.pth")
    models.remove("eccv16"); models.models_path()
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelError": "errors", "ModelCancelled": "errors",
    "ModelInfo": "registry", "MODELS": "registry", "get_model": "registry", "model_names": "registry",
    "models_path": "store", "list_models": "store", "is_installed": "store", "installed_path": "store",
    "model_file": "store",
    "import_model": "store", "remove": "store", "ModelStatus": "store", "not_installed_message": "store",
    "verify_file": "store",
    "install": "download",
    "read_state_dict": "checkpoint", "load_network": "checkpoint", "sha256_file": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
