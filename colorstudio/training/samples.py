"""Held-out samples re-colorized with the current weights, for a live view of a training.

``held_out_strip(trainer, arch, photos, size, count)`` colorizes the centred square of a few
held-out photos (the same crops, hints and fading as the final evaluation, :mod:`.evaluate`)
with the trainer's weights as they are now, and returns plain uint8 RGB arrays: the grey
input, the model's colouring and the truth. No Qt here: the app's Train dialog receives
these arrays from the training thread and shows them as thumbnails; a script could save them.

The random streams are left as they were (a sample drawn here must not change the training,
so a run with samples reaches the same weights as one without).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.color import lab_to_rgb
from .data import held_out_samples


@dataclass
class Sample:
    """One held-out crop: H x W x 3 uint8 RGB pictures."""

    name: str        # the photo's file name
    grey: np.ndarray
    model: np.ndarray
    truth: np.ndarray


def _uint8(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(np.rint(np.asarray(rgb, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8))


def held_out_strip(trainer, arch, photos, size: int, count: int = 3) -> list[Sample]:
    """The first ``count`` held-out photos, colorized by ``trainer``'s current weights."""
    import torch
    from pathlib import Path
    samples = held_out_samples(list(photos), size, arch.needs, count)
    devices = [trainer.device] if trainer.device.type == "cuda" else []
    out = []
    with torch.random.fork_rng(devices=devices):
        np_state = np.random.get_state()
        try:
            for s in samples:
                L = s["L"][0]
                batch = {k: torch.from_numpy(np.asarray(s[k]))[None]
                         for k in ("L", "ab", "hint_ab", "hint_mask", "faded_ab") if k in s}
                pred = trainer.colorize(batch)[0].cpu().numpy().transpose(1, 2, 0)
                zero = np.zeros_like(pred)
                truth = np.concatenate([L[..., None], s["ab"].transpose(1, 2, 0)], axis=-1)
                grey = np.concatenate([L[..., None], zero], axis=-1)
                shown = np.concatenate([L[..., None], pred], axis=-1)
                out.append(Sample(Path(s["photo"].path).name, _uint8(lab_to_rgb(grey)), _uint8(lab_to_rgb(shown)),
                                  _uint8(lab_to_rgb(truth))))
        finally:
            np.random.set_state(np_state)
    return out
