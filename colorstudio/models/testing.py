"""Networks with random weights in the published layout, for tests and benchmarks.

The published checkpoints cannot be fetched everywhere (nor should a test suite fetch
them), so tests build their own: the real architectures with random weights, saved as the
release files are (a plain state_dict). These helpers make such networks answer like
trained ones where it matters: non-trivial BatchNorm statistics, so a wrong layer order
shows; and output layers scaled so the colours are clearly not grey.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from .networks import Eccv16Net, Siggraph17Net


def randomise_batch_norm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine parameters; returns it in eval mode."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    return module.eval()


def colourful_network(name: str, seed: int = 0) -> nn.Module:
    """``siggraph17`` or ``eccv16`` with random weights that answer in clear colours."""
    torch.manual_seed(seed)
    if name == "siggraph17":
        net = Siggraph17Net()
        with torch.no_grad():
            net.model_out[0].weight.mul_(30)          # tanh no longer near zero
        return net
    if name == "eccv16":
        net = Eccv16Net()
        with torch.no_grad():
            net.model_out.weight.uniform_(-0.6, 0.6)  # bin colours over the ab range, as published
            net.model8[6].weight.mul_(1000)           # peaked class scores: distinct colours
        return net
    raise ValueError(f"no test network called {name!r}")


def test_checkpoint(folder: Path, name: str) -> Path:
    """``folder/<name>-test.pth`` holding ``colourful_network(name)``; written once, atomically."""
    path = Path(folder) / f"{name}-test.pth"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(colourful_network(name).state_dict(), tmp)
        os.replace(tmp, path)
    return path


test_checkpoint.__test__ = False  # a helper, not a test, when pytest imports it by name
