"""The U-Net colorizer (L -> ab), the generator of pix2pix, and the faded-colour restorer.

The shape follows the U-Net generator of pix2pix (Isola et al. 2017; the reference is
``models/networks.py`` of pytorch-CycleGAN-and-pix2pix): an encoder of 4x4 stride-2
convolutions with LeakyReLU, a decoder of 4x4 stride-2 transposed convolutions with ReLU, and
skip connections that concatenate each encoder level to the decoder level of the same size.
Differences, on purpose: GroupNorm instead of BatchNorm (the same arithmetic in training and
at use time, whatever the batch size, which matters for a user's small batches) and a tanh
head scaled to ab units. Written for Colorstudio.

Input: L (0..100), plus for the restorer the faded photo's ab; output: ab in ab units.
Height and width must be multiples of ``2 ** depth`` (:meth:`UNet.multiple`).
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

L_CENT, L_NORM, AB_NORM = 50.0, 100.0, 110.0


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, channels), channels)


class UNet(nn.Module):
    """A U-Net from ``in_channels`` (L, or L and ab) to ab.

    ``width``: channels at the first level (doubled per level up to 8x); ``depth``: how many
    times the resolution is halved. ``latent``: extra channels broadcast into the bottleneck
    (the VAE's code); 0 for none.
    """

    def __init__(self, in_channels: int = 1, width: int = 32, depth: int = 5, latent: int = 0):
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.in_channels, self.width, self.depth, self.latent = in_channels, width, depth, latent
        chans = [min(width * 2 ** i, width * 8) for i in range(depth)]
        self.down = nn.ModuleList()
        cin = in_channels
        for i, c in enumerate(chans):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(cin, c, 4, stride=2, padding=1))
            if 0 < i < depth - 1:
                layers.append(_norm(c))
            self.down.append(nn.Sequential(*layers))
            cin = c
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            # Decoder level i takes the level below (plus its skip, except at the bottom).
            cin = chans[i] + (latent if i == depth - 1 else chans[i])
            cout = chans[i - 1] if i > 0 else width
            self.up.append(nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1),
                                         _norm(cout)))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(width + in_channels, 2, 3, padding=1), nn.Tanh())

    def multiple(self) -> int:
        """Height and width must be multiples of this."""
        return 2 ** self.depth

    def normalise(self, lightness: torch.Tensor, ab: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = (lightness - L_CENT) / L_NORM
        if self.in_channels == 3:
            if ab is None:
                raise ValueError("this network also needs the photo's own ab")
            x = torch.cat([x, ab / AB_NORM], dim=1)
        return x

    def forward(self, x: torch.Tensor, code: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Normalised input (N, in_channels, H, W) -> ab / 110 (tanh range)."""
        skips = []
        y = x
        for block in self.down:
            y = block(y)
            skips.append(y)
        if self.latent:
            if code is None:
                code = y.new_zeros(y.shape[0], self.latent)
            y = torch.cat([y, code[:, :, None, None].expand(-1, -1, *y.shape[2:])], dim=1)
        for i, block in enumerate(self.up):
            if i > 0:
                y = torch.cat([y, skips[self.depth - 1 - i]], dim=1)
            y = block(y)
        return self.head(torch.cat([y, x], dim=1))

    def colorize(self, lightness: torch.Tensor, ab: Optional[torch.Tensor] = None,
                 mask: Optional[torch.Tensor] = None, sample: int = 0) -> torch.Tensor:
        """L (N,1,H,W, 0..100) [+ the photo's own ab for the restorer] -> ab in ab units."""
        return self(self.normalise(lightness, ab)) * AB_NORM
