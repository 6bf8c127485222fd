"""The two published colorization networks, written for Colorstudio.

Both modules reproduce the parameter layout of the ``colorizers`` release files of
richzhang/colorization exactly (every state_dict key and tensor shape), so that the
published checkpoints load with ``strict=True``:

* ``Siggraph17Net``: "Real-Time User-Guided Image Colorization with Learned Deep Priors"
  (Zhang, Zhu et al., SIGGRAPH 2017), file ``siggraph17-df00044c.pth``.
* ``Eccv16Net``: "Colorful Image Colorization" (Zhang, Isola, Efros, ECCV 2016), file
  ``colorization_release_v2-9b330a0b.pth``.

Facts carried over from the published code (not the code itself):

* Blocks are ``nn.Sequential`` of conv, ReLU, ..., BatchNorm, so parameters sit at the
  even indices (a decoder block that starts with a ReLU has them at the odd ones).
* siggraph17 subsamples by taking every other pixel (``x[:, :, ::2, ::2]``) between the
  first four blocks; blocks 5 and 6 use dilation 2; the decoder adds transposed-conv
  upsamplings to 3x3 convs of the encoder's skip features; the last block ends with a
  LeakyReLU(0.2); the regression head is a 1x1 conv + tanh, scaled by 110.
* Input normalisation: L -> (L - 50) / 100, ab -> ab / 110, the hint mask as is (0/1).
* siggraph17's 529-class head (``model_class``, a 1x1 conv on the 1/4-resolution decoder
  features ``conv8_3``) scores a 23x23 grid of ab bins, 10 units apart from -110 to 110.
  The bin index is ``q = 23 * ia + ib`` (a-major), as in the published training code
  (``encode_ab_ind`` of richzhang/colorization-pytorch): bin q has
  a = -110 + 10 * (q // 23) and b = -110 + 10 * (q % 23).
* eccv16 downsamples with stride-2 convs, predicts 313 colour bins at 1/4 resolution, and
  takes the expectation with a bias-free 1x1 conv whose weights are the bin centres; the
  result is upsampled 4x (bilinear) and scaled by 110.

The published siggraph17 forward pass runs its whole decoder tail twice and keeps the
second result; ours runs it once (the result is identical).
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn

L_CENT = 50.0
L_NORM = 100.0
AB_NORM = 110.0

#: siggraph17's colour classes: a 23x23 grid of ab bins.
AB_BINS = 23
AB_STEP = 10.0
AB_MAX = 110.0
SIGGRAPH17_CLASSES = AB_BINS * AB_BINS  # 529
ECCV16_CLASSES = 313


def bin_centres() -> torch.Tensor:
    """(529, 2) ab centres of siggraph17's colour classes, in class order (a-major)."""
    axis = torch.arange(AB_BINS, dtype=torch.float32) * AB_STEP - AB_MAX
    a = axis.repeat_interleave(AB_BINS)   # slow index: a
    b = axis.repeat(AB_BINS)              # fast index: b
    return torch.stack([a, b], dim=1)


def _conv_block(channels: Iterable[int], *, dilation: int = 1, stride_last: int = 1,
                lead_relu: bool = False, norm: bool = True) -> nn.Sequential:
    """conv-ReLU pairs (3x3, 'same' padding) then BatchNorm, optionally led by a ReLU."""
    channels = list(channels)
    layers: list[nn.Module] = [nn.ReLU(inplace=True)] if lead_relu else []
    pairs = list(zip(channels[:-1], channels[1:]))
    for i, (cin, cout) in enumerate(pairs):
        stride = stride_last if i == len(pairs) - 1 else 1
        layers.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation))
        layers.append(nn.ReLU(inplace=True))
    if norm:
        layers.append(nn.BatchNorm2d(channels[-1]))
    return nn.Sequential(*layers)


def _single(module: nn.Module) -> nn.Sequential:
    return nn.Sequential(module)


class Siggraph17Net(nn.Module):
    """The user-guided colorization network (input: L, hint ab, hint mask; output: ab)."""

    #: The blocks at 1/8 resolution, where most of the arithmetic is: a runner may run just
    #: these in a lower precision (engines/_neural/runner.py).
    low_resolution_blocks = ("model4", "model5", "model6", "model7")

    def __init__(self, classes: int = SIGGRAPH17_CLASSES):
        super().__init__()
        # Encoder.
        self.model1 = _conv_block([4, 64, 64])
        self.model2 = _conv_block([64, 128, 128])
        self.model3 = _conv_block([128, 256, 256, 256])
        self.model4 = _conv_block([256, 512, 512, 512])
        self.model5 = _conv_block([512, 512, 512, 512], dilation=2)
        self.model6 = _conv_block([512, 512, 512, 512], dilation=2)
        self.model7 = _conv_block([512, 512, 512, 512])
        # Decoder: upsample, add a 3x3 conv of the encoder's features at that scale.
        self.model8up = _single(nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1))
        self.model3short8 = _single(nn.Conv2d(256, 256, 3, padding=1))
        self.model8 = _conv_block([256, 256, 256], lead_relu=True)
        self.model9up = _single(nn.ConvTranspose2d(256, 128, 4, stride=2, padding=1))
        self.model2short9 = _single(nn.Conv2d(128, 128, 3, padding=1))
        self.model9 = _conv_block([128, 128], lead_relu=True)
        self.model10up = _single(nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1))
        self.model1short10 = _single(nn.Conv2d(64, 128, 3, padding=1))
        self.model10 = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(128, 128, 3, padding=1),
                                     nn.LeakyReLU(negative_slope=0.2))
        # Heads: colour classes at 1/4 resolution, and the ab regression at full resolution.
        self.model_class = _single(nn.Conv2d(256, classes, 1))
        self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

    @staticmethod
    def normalise(lightness: torch.Tensor, ab: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The network input from L (0..100), hint ab (ab units) and hint mask (0/1)."""
        return torch.cat([(lightness - L_CENT) / L_NORM, ab / AB_NORM, mask], dim=1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalised input (N, 4, H, W), H and W multiples of 8 -> the features the
        regression and class heads need: conv1_2 (1/1), conv2_2 (1/2), conv8_3 (1/4)."""
        conv1_2 = self.model1(x)
        conv2_2 = self.model2(conv1_2[:, :, ::2, ::2])
        conv3_3 = self.model3(conv2_2[:, :, ::2, ::2])
        x = self.model4(conv3_3[:, :, ::2, ::2])
        x = self.model7(self.model6(self.model5(x)))
        conv8_3 = self.model8(self.model8up(x) + self.model3short8(conv3_3))
        return conv1_2, conv2_2, conv8_3

    def decode(self, conv1_2: torch.Tensor, conv2_2: torch.Tensor, conv8_3: torch.Tensor) -> torch.Tensor:
        """The regression head: ab in units of 110 (tanh range), at full resolution."""
        x = self.model9(self.model9up(conv8_3) + self.model2short9(conv2_2))
        x = self.model10(self.model10up(x) + self.model1short10(conv1_2))
        return self.model_out(x)

    def class_logits(self, conv8_3: torch.Tensor) -> torch.Tensor:
        """Scores of the 529 ab bins at 1/4 resolution (before any softmax)."""
        return self.model_class(conv8_3)

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """L (N,1,H,W, 0..100), hint ab (N,2,H,W) and mask (N,1,H,W) -> ab (N,2,H,W)."""
        if ab is None:
            ab = lightness.new_zeros(lightness.shape[0], 2, *lightness.shape[2:])
        if mask is None:
            mask = torch.zeros_like(lightness)
        return self.decode(*self.encode(self.normalise(lightness, ab, mask))) * AB_NORM


class Eccv16Net(nn.Module):
    """The automatic colorization network (input: L; output: ab via 313 colour bins)."""

    #: The blocks at 1/8 resolution (see Siggraph17Net.low_resolution_blocks).
    low_resolution_blocks = ("model4", "model5", "model6", "model7")

    def __init__(self):
        super().__init__()
        self.model1 = _conv_block([1, 64, 64], stride_last=2)
        self.model2 = _conv_block([64, 128, 128], stride_last=2)
        self.model3 = _conv_block([128, 256, 256, 256], stride_last=2)
        self.model4 = _conv_block([256, 512, 512, 512])
        self.model5 = _conv_block([512, 512, 512, 512], dilation=2)
        self.model6 = _conv_block([512, 512, 512, 512], dilation=2)
        self.model7 = _conv_block([512, 512, 512, 512])
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(512, 256, 4, stride=2, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, ECCV16_CLASSES, 1))
        # The expectation over the bins: weights are the bins' ab centres / 110.
        self.model_out = nn.Conv2d(ECCV16_CLASSES, 2, 1, bias=False)

    def class_logits(self, lightness: torch.Tensor) -> torch.Tensor:
        """L (N,1,H,W, 0..100), H and W multiples of 8 -> bin scores at 1/4 resolution."""
        x = self.model1((lightness - L_CENT) / L_NORM)
        for block in (self.model2, self.model3, self.model4, self.model5, self.model6, self.model7, self.model8):
            x = block(x)
        return x

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        """L (N,1,H,W, 0..100) -> ab (N,2,H,W) in ab units."""
        ab = self.model_out(torch.softmax(self.class_logits(lightness), dim=1))
        return F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False) * AB_NORM


from .style_networks import AdaINNet, MicroASTNet  # noqa: E402  (the style networks)

ARCHITECTURES = {"siggraph17": Siggraph17Net, "eccv16": Eccv16Net, "microast": MicroASTNet, "adain": AdaINNet}
