"""The PatchGAN discriminator of pix2pix (Isola et al. 2017): a small convolutional network
that scores overlapping patches of (L, ab) as real or generated. Used while training only;
it is not part of the saved model. Shape after ``NLayerDiscriminator`` in
pytorch-CycleGAN-and-pix2pix (4x4 convolutions, LeakyReLU 0.2, n_layers stride-2 levels, a
stride-1 level, a one-channel output of logits); GroupNorm instead of BatchNorm. Written for
Colorstudio.
"""
from __future__ import annotations

import torch
from torch import nn

from .unet import AB_NORM, L_CENT, L_NORM, _norm


class PatchGAN(nn.Module):
    def __init__(self, width: int = 32, layers: int = 3):
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(3, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, layers + 1):
            nc = min(width * 2 ** i, width * 8)
            seq += [nn.Conv2d(c, nc, 4, stride=2 if i < layers else 1, padding=1), _norm(nc), nn.LeakyReLU(0.2)]
            c = nc
        seq.append(nn.Conv2d(c, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*seq)

    def forward(self, lightness: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
        """L (0..100) and ab / 110 -> a map of real/fake logits, one per patch."""
        return self.net(torch.cat([(lightness - L_CENT) / L_NORM, ab_norm], dim=1))
