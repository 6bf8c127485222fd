"""Held-out evaluation: the model against the grey photo and the propagation engine.

Each held-out photo's centred square (at the training size) is colorized by the model, given
the simulated points drawn from its file hash where the architecture takes hints (and its
synthetic fading for the restorer); the propagation engine gets the same points. Every
result keeps the photo's own L; mean CIEDE2000 (per pixel, then per photo) and PSNR of the
sRGB result against the ground truth are reported for each.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.color import lab_to_rgb
from .data import held_out_samples
from .hints import points_as_hints
from .metrics import delta_e00, psnr


@dataclass
class Evaluation:
    summary: dict
    pictures: list = field(default_factory=list)   # per photo: {"truth", "grey", "model", "propagation"[, "input"]} RGB


def _propagate(L: np.ndarray, points) -> np.ndarray:
    from ..engines.registry import create_engine
    H, W = L.shape
    session = create_engine("propagation").start(L)
    chroma = session.chroma(points_as_hints(points, W, H), quality="render")
    ab = chroma.ab
    if ab.shape[:2] != (H, W):
        from PIL import Image
        ab = np.stack([np.asarray(Image.fromarray(ab[..., i]).resize((W, H), Image.BILINEAR)) for i in range(2)], -1)
    return ab


def evaluate(trainer, arch, photos, size: int, limit: int = 16, keep_pictures: bool = False) -> Evaluation:
    import torch
    samples = held_out_samples(photos, size, arch.needs, limit)
    scores: dict[str, list] = {"model": [], "grey": [], "propagation": []}
    if "faded" in arch.needs:
        scores["input"] = []
    pictures = []
    for s in samples:
        L = s["L"][0]
        truth = np.concatenate([L[..., None], s["ab"].transpose(1, 2, 0)], axis=-1)
        batch = {k: torch.from_numpy(np.asarray(s[k]))[None] for k in ("L", "ab", "hint_ab", "hint_mask", "faded_ab")
                 if k in s}
        pred = trainer.colorize(batch)[0].cpu().numpy().transpose(1, 2, 0)
        candidates = {"model": pred, "grey": np.zeros_like(pred), "propagation": _propagate(L, s["points"])}
        if "input" in scores:
            candidates["input"] = s["faded_ab"].transpose(1, 2, 0)
        truth_rgb = lab_to_rgb(truth)
        shown = {"truth": truth_rgb}
        for key, ab in candidates.items():
            lab = np.concatenate([L[..., None], ab], axis=-1)
            rgb = lab_to_rgb(lab)
            scores[key].append((float(delta_e00(truth, lab).mean()), psnr(truth_rgb, rgb)))
            shown[key] = rgb
        if keep_pictures:
            shown["points"] = s["points"]
            pictures.append(shown)
    summary = {"photos": len(samples), "size": size,
               "hints": "simulated points (3-10 per photo, drawn from its file hash)" if "hints" in arch.needs
               else "none for the model; the propagation engine gets 3-10 simulated points per photo"}
    for key, vals in scores.items():
        if vals:
            summary[key] = {"delta_e00": round(float(np.mean([v[0] for v in vals])), 3),
                            "psnr_db": round(float(np.mean([v[1] for v in vals])), 3)}
    return Evaluation(summary, pictures)
