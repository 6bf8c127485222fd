"""Training colorization networks on a user's own colour photos (Qt-free).

* :mod:`.data`: the photo folder (read recursively; grey, toned and broken files skipped and
  counted), a deterministic held-out split by file hash, random crops and flips in Lab, a
  DataLoader with workers whose memory stays bounded whatever the folder's size.
* :mod:`.hints`: user points simulated as in Zhang et al. 2017, and synthetic fading.
* :mod:`.archs`: one module per architecture, each declaring ``ARCH``.
* :mod:`.loop`: ``train(config, progress, should_stop)``, the long job: checkpoints written
  atomically, exact resume, the result registered as a user model.
* :mod:`.cli`: ``colorstudio train``.
"""
from __future__ import annotations

import importlib

__all__ = ["TrainConfig", "TrainResult", "TrainingError", "train"]

_LAZY = {"TrainConfig": ".loop", "TrainResult": ".loop", "train": ".loop", "TrainingError": ".errors"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(name)
