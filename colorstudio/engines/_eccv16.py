"""The ECCV 2016 automatic network as a Colorstudio engine (hints are not used)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..core.hints import Hints
from ..models.networks import AB_NORM, Eccv16Net
from .base import Chroma, StopCallback
from ._neural import FLOAT32, NeuralEngine, NeuralSession, Precision, Runner, calibration_lightness, check_stop


class Eccv16Runner(Runner):
    """eccv16 on one device/precision."""

    net: Eccv16Net

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """L (1,1,H8,W8) -> ab (1,2,H8,W8) in ab units, float32 on the CPU."""
        logits = self.net.class_logits(self.to_input(lightness))
        # The expectation over the 313 bins in float32: a softmax in half precision is coarse.
        probs = torch.softmax(logits.float(), dim=1)
        ab = F.conv2d(probs, self.net.model_out.weight.detach().to(probs.device, torch.float32))
        ab = F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False)
        return ab.cpu() * AB_NORM


class Eccv16Engine(NeuralEngine):
    name = "eccv16"
    architecture = "eccv16"
    label = "ECCV 2016 automatic network"
    description = "Zhang, Isola and Efros's automatic colorization network (no hints)."
    uses_hints = False

    def make_runner(self, net, device, precision: Precision = FLOAT32) -> Eccv16Runner:
        return Eccv16Runner(net, device, precision)

    def forward_together(self, works: list, hints: list, should_stop: Optional[StopCallback] = None):
        return self.runner.forward(torch.cat([w.padded for w in works])), None

    def calibrate(self, runner: Eccv16Runner, size: int = 128) -> torch.Tensor:
        with torch.inference_mode():
            return runner.forward(calibration_lightness(size, size))

    def start(self, lightness: np.ndarray, photo=None) -> "Eccv16Session":
        self.load()
        return Eccv16Session(self, lightness)


class Eccv16Session(NeuralSession):
    """A photo being colorized by eccv16 (the same picture whatever the hints)."""

    engine: Eccv16Engine

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None,
               should_stop: Optional[StopCallback] = None) -> Chroma:
        engine = self.engine
        engine.load()
        side = self.side_for(quality, max_side)

        def compute(s: int):
            work = self.working(s)
            with torch.inference_mode():
                check_stop(should_stop)
                return work, engine.runner.forward(work.padded)

        (work, out), messages = engine.run_with_fallback(compute, side)
        check_stop(should_stop)
        return self.answer(work, out, hints, messages)

    def answer(self, work, out: torch.Tensor, hints: Hints, messages: list, extra=None) -> Chroma:
        """The Chroma for the network's answer ``out`` (1, 2, H8, W8) at ``work``'s size."""
        h, w = work.size
        ab = out[0, :, :h, :w].permute(1, 2, 0).numpy().astype(np.float32, copy=True)
        info = self.info(work, messages)
        if hints is not None and not hints.is_empty:
            info["hints_used"] = 0
        return Chroma(ab=ab, lightness=work.lightness.copy(), info=info)
