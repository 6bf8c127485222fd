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


# -- the style networks, in their published multi-file layouts ---------------------------------

def _save(state: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _split(net: nn.Module, parts: dict) -> dict:
    """{filename: state_dict of the sub-module named parts[filename]}."""
    return {filename: getattr(net, part).state_dict() for filename, part in parts.items()}


MICROAST_PARTS = {
    "content_encoder_iter_160000.pth.tar": "content_encoder",
    "style_encoder_iter_160000.pth.tar": "style_encoder",
    "modulator_iter_160000.pth.tar": "modulator",
    "decoder_iter_160000.pth.tar": "decoder",
}
ADAIN_PARTS = {"vgg_normalised.pth": "vgg", "decoder.pth": "decoder"}


def random_microast(seed: int = 0) -> nn.Module:
    """MicroAST with random weights that still paints: a small positive bias on the last
    layer keeps the output inside 0..1 for most pixels."""
    from .style_networks import MicroASTNet
    torch.manual_seed(seed)
    net = MicroASTNet().eval()
    with torch.no_grad():
        net.decoder.dec3[-1].conv_layer.bias.fill_(0.5)
    return net


def random_adain(seed: int = 0) -> nn.Module:
    """AdaIN with random weights whose features neither vanish nor explode (He-like
    scale), and a decoder that answers around mid-grey, so alpha and styles show."""
    from .style_networks import AdaINNet
    torch.manual_seed(seed)
    net = AdaINNet().eval()
    with torch.no_grad():
        for m in list(net.vgg) + list(net.decoder):
            if isinstance(m, nn.Conv2d):
                m.weight.mul_(2.45)
        net.decoder[28].bias.fill_(0.5)
        net.decoder[28].weight.mul_(0.3)
    return net


def style_checkpoints(folder: Path, name: str, seed: int = 0) -> Path:
    """``folder`` holding ``microast`` or ``adain`` with random weights, one file per part
    under its published name (plain state_dicts, as released); written once. Returns it."""
    folder = Path(folder)
    builders = {"microast": (random_microast, MICROAST_PARTS), "adain": (random_adain, ADAIN_PARTS)}
    if name not in builders:
        raise ValueError(f"no test style network called {name!r}")
    build, parts = builders[name]
    if all((folder / f).is_file() for f in parts):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for filename, state in _split(build(seed), parts).items():
        _save(state, folder / filename)
    return folder


style_checkpoints.__test__ = False
