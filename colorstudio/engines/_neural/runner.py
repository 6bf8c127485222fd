"""The network runner: one loaded network on one device in one precision.

The networks' own ``forward`` (and their ``encode``/``decode`` parts) run as written in
``colorstudio.models.networks``; nothing here knows a network's layers. A runner only
prepares the module: channels-last memory layout (oneDNN's fast convolutions on CPUs,
tensor cores on GPUs), the weights in the runner's dtype, and for a mixed precision the
network's declared ``low_resolution_blocks`` converted, with their inputs cast on the way in
and their outputs cast back on the way out (forward hooks: the network's code and its
checkpoint keys stay as they are).

Measured on the 2-core AMD EPYC (AVX512-BF16) this was built on, plain PyTorch run this way
was within 1.18x of the hand-fused oneDNN kernels it replaced (1.07-1.13x in float32; see
bench/results/neural.md), under the 1.3x bar, so one forward per architecture is all there is.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .precision import FLOAT32, Precision


def channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _cast_inputs(dtype: torch.dtype):
    def hook(module, args):
        return tuple(a.to(dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)
    return hook


def _cast_output(dtype: torch.dtype):
    def hook(module, args, out):
        return out.to(dtype) if torch.is_tensor(out) and out.is_floating_point() else out
    return hook


def prepare_network(net: nn.Module, device: torch.device, precision: Precision = FLOAT32) -> nn.Module:
    """``net`` ready to run on ``device`` in ``precision``, channels-last, in eval mode.

    A float32 network on the CPU is prepared in place (the engine's own copy); any other
    device or dtype gets a copy, so the CPU float32 network stays to fall back on.
    """
    net.eval()
    in_place = device.type == "cpu" and precision == FLOAT32
    # Layout changes happen outside inference mode so the parameters stay ordinary tensors.
    out = net if in_place else copy.deepcopy(net)
    out = out.to(device=device, dtype=precision.dtype).to(memory_format=torch.channels_last)
    if precision.middle is not None and precision.middle != precision.dtype:
        names = tuple(getattr(net, "low_resolution_blocks", ()))
        if not names:
            raise ValueError(f"{type(net).__name__} declares no low-resolution blocks for a mixed precision")
        for name in names:
            block = out.get_submodule(name)
            block.to(precision.middle)
            block.register_forward_pre_hook(_cast_inputs(precision.middle))
            block.register_forward_hook(_cast_output(precision.dtype))
    return out


class Runner:
    """Runs one network on one device in one precision (subclasses add what the engine asks:
    siggraph17's encoder and decoder, eccv16's colour expectation)."""

    def __init__(self, net: nn.Module, device: torch.device, precision: Precision = FLOAT32,
                 prepared: bool = False):
        self.device = device
        self.spec = precision
        self.dtype = precision.dtype
        self.net = net if prepared else prepare_network(net, device, precision)

    @property
    def precision(self) -> str:
        return self.spec.name

    @property
    def description(self) -> str:
        return f"{self.device.type} {self.precision}, PyTorch kernels, channels-last"

    def to_input(self, t: torch.Tensor) -> torch.Tensor:
        return channels_last(t.to(self.device, self.dtype))

    def release(self) -> None:
        """Drop the network (a copy, for anything but the CPU float32 runner)."""
        self.net = None
