"""A conditional VAE for diverse colorizations (in the spirit of Deshpande et al., "Learning
Diverse Image Colorization", CVPR 2017). Written for Colorstudio.

An encoder reads the photo's colour (ab, with L) and summarises it as a small latent code
(a Gaussian: mean and log-variance); the decoder is a U-Net on L that receives the code in
its bottleneck. Training: reconstruction of ab + beta * KL(code || N(0, I)). At use time the
encoder is not needed: each code drawn from N(0, I) gives one plausible colouring; sample 0
is the mean code (the most typical colouring), sample k > 0 a code drawn with seed k, so the
same sample number always gives the same picture.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .unet import AB_NORM, L_CENT, L_NORM, UNet, _norm


class ColourVAE(nn.Module):
    def __init__(self, width: int = 32, depth: int = 5, latent: int = 8):
        super().__init__()
        self.width, self.depth, self.latent = width, depth, latent
        layers: list[nn.Module] = []
        cin = 3
        for i in range(4):
            c = min(width * 2 ** i, width * 4)
            layers += [nn.Conv2d(cin, c, 4, stride=2, padding=1), _norm(c), nn.LeakyReLU(0.2)]
            cin = c
        self.encoder = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 2 * latent))
        self.decoder = UNet(in_channels=1, width=width, depth=depth, latent=latent)

    def multiple(self) -> int:
        return self.decoder.multiple()

    def encode(self, lightness: torch.Tensor, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log-variance) of the code for a photo's L and ab."""
        x = torch.cat([(lightness - L_CENT) / L_NORM, ab / AB_NORM], dim=1)
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-10.0, 10.0)

    def decode(self, lightness: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """ab / 110 (tanh range) for L and a code."""
        return self.decoder((lightness - L_CENT) / L_NORM, code)

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor):
        """Training pass: (ab / 110 reconstructed, mean, log-variance), with a code drawn by
        the reparameterisation trick from torch's global generator."""
        mean, logvar = self.encode(lightness, ab)
        code = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        return self.decode(lightness, code), mean, logvar

    def code_for(self, sample: int, n: int = 1, device=None) -> torch.Tensor:
        if int(sample) == 0:
            return torch.zeros(n, self.latent, device=device)
        g = torch.Generator().manual_seed(int(sample))
        return torch.randn(n, self.latent, generator=g).to(device)

    def colorize(self, lightness: torch.Tensor, ab: Optional[torch.Tensor] = None,
                 mask: Optional[torch.Tensor] = None, sample: int = 0) -> torch.Tensor:
        """L (N,1,H,W) -> ab in ab units: colouring number ``sample`` (0: the typical one)."""
        code = self.code_for(sample, lightness.shape[0], lightness.device).to(lightness.dtype)
        return self.decode(lightness, code) * AB_NORM
