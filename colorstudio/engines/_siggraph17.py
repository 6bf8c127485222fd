"""The SIGGRAPH 2017 user-guided network as a Colorstudio engine, with suggested colours.

Hints become the network's hint ab and mask at the working size; without hints it
colorizes automatically. ``Siggraph17Session.suggest_colors`` reads the network's 529-bin
colour distribution at a pixel and returns a few distinct likely colours.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from ..core.color import ab_at_lightness, in_gamut, rgb_to_lab
from ..core.hints import Hints
from ..models.networks import AB_NORM, Siggraph17Net, bin_centres
from .base import Chroma, EngineError, StopCallback
from ._neural import (FLOAT32, NeuralEngine, NeuralSession, Precision, Runner, calibration_hints,
                      calibration_lightness, check_stop, hint_tensors)


#: The reference GUI (ideepcolor) softens the class scores before its softmax: x0.2.
SUGGESTION_SOFTENING = 0.2
#: Bins closer than this (ab units) to a chosen colour join its group (the 3x3 neighbours).
GROUP_RADIUS = 15.0
#: Suggestions closer than this (CIELAB distance, after fitting into sRGB) are one colour.
MIN_DISTANCE = 8.0


class Siggraph17Runner(Runner):
    """siggraph17 on one device/precision: the network's own encoder, decoder and class head."""

    net: Siggraph17Net

    def encode(self, lightness: torch.Tensor, ab: torch.Tensor, mask: torch.Tensor):
        """conv1_2, conv2_2, conv8_3 for L (0..100), hint ab and mask at the padded size."""
        return self.net.encode(self.to_input(Siggraph17Net.normalise(lightness, ab, mask)))

    def decode(self, features) -> torch.Tensor:
        """ab in ab units, float32 on the CPU, at the padded working size."""
        return self.net.decode(*features).float().cpu() * AB_NORM

    def class_scores_at(self, conv8_3: torch.Tensor, fy: int, fx: int) -> torch.Tensor:
        """The 529 class scores (float32, CPU) at one position of the 1/4-resolution grid."""
        feature = conv8_3[0, :, fy, fx].float().cpu()
        head = self.net.model_class[0]
        weight = head.weight.detach().float().cpu()[:, :, 0, 0]
        return weight @ feature + head.bias.detach().float().cpu()


class Siggraph17Engine(NeuralEngine):
    name = "siggraph17"
    architecture = "siggraph17"
    label = "SIGGRAPH 2017 user-guided network"
    description = ("Zhang et al.'s user-guided colorization network: colours from your hints, or "
                   "automatic without them; suggests likely colours for a hint.")
    uses_hints = True

    def forward_together(self, works: list, hints: list, should_stop: Optional[StopCallback] = None):
        inputs = [hint_tensors(h, work, should_stop) for h, work in zip(hints, works)]
        runner = self.runner
        features = runner.encode(torch.cat([w.padded for w in works]), torch.cat([ab for ab, _ in inputs]),
                                 torch.cat([mask for _, mask in inputs]))
        check_stop(should_stop)
        out = runner.decode(features)
        conv8_3 = features[2]
        return out, [(runner, conv8_3[i:i + 1].clone()) for i in range(len(works))]

    def make_runner(self, net, device, precision: Precision = FLOAT32) -> Siggraph17Runner:
        return Siggraph17Runner(net, device, precision)

    def calibrate(self, runner: Siggraph17Runner, size: int = 128) -> torch.Tensor:
        L = calibration_lightness(size, size)
        ab, mask = calibration_hints(size, size)
        with torch.inference_mode():
            return runner.decode(runner.encode(L, ab, mask))

    def start(self, lightness: np.ndarray, photo=None) -> "Siggraph17Session":
        self.load()
        return Siggraph17Session(self, lightness)


class Siggraph17Session(NeuralSession):
    """A photo being colorized by siggraph17."""

    engine: Siggraph17Engine

    def __init__(self, engine: Siggraph17Engine, lightness: np.ndarray):
        super().__init__(engine, lightness)
        self._last: Optional[tuple] = None   # (hints, side, runner, conv8_3, work)

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None,
               should_stop: Optional[StopCallback] = None) -> Chroma:
        """The chroma for ``hints`` (full-resolution photo coordinates) at the working size."""
        engine = self.engine
        engine.load()
        side = self.side_for(quality, max_side)
        hints = hints if hints is not None else Hints()

        def compute(s: int):
            work = self.working(s)
            ab, mask = hint_tensors(hints, work, should_stop)
            runner = engine.runner
            with torch.inference_mode():
                check_stop(should_stop)
                features = runner.encode(work.padded, ab, mask)
                check_stop(should_stop)
                out = runner.decode(features)
            return work, runner, features[2], out

        (work, runner, conv8_3, out), messages = engine.run_with_fallback(compute, side)
        check_stop(should_stop)
        return self.answer(work, out, hints, messages, (runner, conv8_3))

    def answer(self, work, out: torch.Tensor, hints: Hints, messages: list, extra=None) -> Chroma:
        """The Chroma for the network's answer ``out`` (1, 2, H8, W8) at ``work``'s size;
        ``extra``: (the runner, the photo's conv8_3), kept for the suggested colours."""
        h, w = work.size
        ab = out[0, :, :h, :w].permute(1, 2, 0).numpy().astype(np.float32, copy=True)
        self._last = (hints, work.side, *extra, work)
        info = self.info(work, messages)
        info["hints_used"] = len(hints)
        return Chroma(ab=ab, lightness=work.lightness.copy(), info=info)

    def _features_for(self, hints: Hints):
        """conv8_3 for ``hints`` at the preview side: the last preview's when its hints are
        the same, else from the encoder. Always the same side, so that the suggestions do
        not depend on whether a preview or a render ran last."""
        engine = self.engine
        side = self.side_for("preview", None)
        if self._last is not None:
            last_hints, last_side, runner, conv8_3, work = self._last
            if runner is engine.runner and last_side == side and last_hints == hints:
                return conv8_3, work

        def compute(s: int):
            work = self.working(s)
            ab, mask = hint_tensors(hints, work)
            with torch.inference_mode():
                return engine.runner.encode(work.padded, ab, mask)[2], work

        (conv8_3, work), _ = engine.run_with_fallback(compute, side)
        self._last = (hints, work.side, engine.runner, conv8_3, work)
        return conv8_3, work

    def distribution_at(self, hints: Hints, x: float, y: float) -> np.ndarray:
        """The softened 529-bin colour distribution (sums to 1) at photo pixel (x, y)."""
        engine = self.engine
        engine.load()
        H, W = self.full_lightness.shape[:2]
        if not (-0.5 <= x <= W + 0.5 and -0.5 <= y <= H + 0.5) or not np.isfinite([x, y]).all():
            raise EngineError(f"({x:g}, {y:g}) lies outside the {W}\u00d7{H} photo")
        hints = hints if hints is not None else Hints()
        conv8_3, work = self._features_for(hints)
        h, w = work.size
        # Working pixel, then its cell of the 1/4-resolution grid (the published head is
        # upsampled 4x by nearest neighbour, so pixel p reads cell p // 4).
        wx = min(max(int(x * w / W), 0), w - 1)
        wy = min(max(int(y * h / H), 0), h - 1)
        scores = engine.runner.class_scores_at(conv8_3, wy // 4, wx // 4)
        return torch.softmax(scores * SUGGESTION_SOFTENING, dim=0).numpy().astype(np.float64)

    def suggest_colors(self, hints: Hints, x: float, y: float, count: int = 8
                       ) -> list[tuple[tuple[int, int, int], float]]:
        """Up to ``count`` distinct likely colours at photo pixel (x, y), most likely first.

        Each is ((r, g, b) in 0..255 at the pixel's own lightness, probability share).
        Deterministic: the same photo and hints give the same swatches. To ask "what else
        could this hint be", pass the hints without the selected one: a hint pins the
        network's distribution at its own pixel.
        """
        if int(count) < 1:
            raise EngineError("count must be at least 1")
        probs = self.distribution_at(hints, x, y)
        H, W = self.full_lightness.shape[:2]
        L = float(self.full_lightness[min(max(int(y), 0), H - 1), min(max(int(x), 0), W - 1)])
        return suggest_from_distribution(probs, L, int(count))


def suggest_from_distribution(probs: np.ndarray, lightness: float, count: int = 8
                              ) -> list[tuple[tuple[int, int, int], float]]:
    """Distinct likely colours from a 529-bin distribution, most likely first.

    ideepcolor samples 25,000 colours from the distribution and clusters them with k-means,
    which is random. Here the same idea is computed exactly: repeatedly take the most likely
    bin not yet used, group it with the remaining bins within ``GROUP_RADIUS`` (its
    neighbours), and suggest the group's probability-weighted mean colour with the group's
    total probability. Bins whose colour cannot be shown at this lightness count less
    (they would be clipped into another colour). Groups are ordered by probability; one
    that would show as (nearly) the same colour as a likelier one is dropped.
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    centres = bin_centres().numpy().astype(np.float64)
    if probs.shape[0] != centres.shape[0]:
        raise ValueError(f"expected {centres.shape[0]} bins, got {probs.shape[0]}")
    probs = np.clip(np.nan_to_num(probs), 0.0, None)
    total = probs.sum()
    if total <= 0:
        return []
    probs = probs / total
    lab = np.concatenate([np.full((centres.shape[0], 1), lightness), centres], axis=1).astype(np.float32)
    shown = in_gamut(lab)
    weight = probs * np.where(shown, 1.0, 0.25)
    remaining = weight > 0
    groups: list[tuple[float, np.ndarray]] = []
    while remaining.any() and len(groups) < 4 * count:
        idx = int(np.argmax(np.where(remaining, weight, -1.0)))
        near = remaining & (np.linalg.norm(centres - centres[idx], axis=1) <= GROUP_RADIUS)
        w = weight[near]
        mean_ab = (centres[near] * w[:, None]).sum(0) / w.sum()
        groups.append((float(probs[near].sum()), mean_ab))
        remaining &= ~near
    groups.sort(key=lambda g: -g[0])
    out: list[tuple[tuple[int, int, int], float]] = []
    seen_lab: list[np.ndarray] = []
    for share, ab in groups:
        rgb = ab_at_lightness(lightness, (float(ab[0]), float(ab[1])))
        shown_lab = rgb_to_lab(np.array([rgb], dtype=np.float32) / 255.0)[0]
        if any(np.linalg.norm(shown_lab - other) < MIN_DISTANCE for other in seen_lab):
            continue
        seen_lab.append(shown_lab)
        out.append((rgb, share))
        if len(out) >= count:
            break
    return out
