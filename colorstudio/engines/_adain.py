"""The AdaIN style engine (Huang and Belongie, ICCV 2017).

The style branch (VGG relu4_1 features of the style picture, short side 512 px as in the
authors' tests) is kept as its per-channel mean and spread, cached by the picture's
content hash; the content's relu4_1 features are cached per photo and working size. The
feature-space ``alpha`` and the interpolation between two style pictures (``mix``) are the
authors' (options); strength and look are composition, as for every style engine.

Working size: previews at 512 px (long side); renders at the photo's own size up to
``RENDER_PIXELS`` (1 megapixel: VGG-19 is some 40 times heavier than MicroAST, and the
authors' tests run the content at 512 px), untiled.
"""
from __future__ import annotations

import numpy as np
import torch

from ..models.style_networks import AdaINNet, mean_std
from ._style import StyleEngine, StyleSession, grey_rgb, shape_for_pixels

__all__ = ["AdaINEngine", "AdaINSession", "AdaINNet", "RENDER_PIXELS"]

RENDER_PIXELS = 1_000_000


class _Stats:
    """A style picture's relu4_1 statistics: all AdaIN needs of it."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        self.mean, self.std = mean, std


class AdaINEngine(StyleEngine):
    name = "adain"
    architecture = "adain"
    label = "AdaIN style"
    description = "a painting's style through VGG-19 features"

    def __init__(self, weights=None, device: str = "auto", verify: bool = True, network=None,
                 preview_side: int = 512, render_pixels: int = RENDER_PIXELS):
        super().__init__(weights, device, verify, network, preview_side)
        self.render_pixels = int(render_pixels)

    @classmethod
    def from_network(cls, net: AdaINNet, **options) -> "AdaINEngine":
        return cls(network=net, **options)

    def compute_style(self, style: torch.Tensor) -> _Stats:
        return _Stats(*mean_std(self.net.encode(style)))

    def start(self, lightness: np.ndarray, photo=None) -> "AdaINSession":
        return AdaINSession(self, lightness)


class AdaINSession(StyleSession):

    def render_shape(self) -> tuple[int, int]:
        H, W = self.full_lightness.shape
        return shape_for_pixels(H, W, self.engine.render_pixels)

    def content_features(self, L: np.ndarray, should_stop) -> torch.Tensor:
        with torch.inference_mode():
            return self.engine.net.encode(grey_rgb(L).to(self.engine.device))

    def stylize(self, feats, styles, weights, options, shape, should_stop) -> torch.Tensor:
        alpha = float(options.get("alpha", 1.0))
        if not 0.0 <= alpha <= 1.0:
            from .base import EngineError
            raise EngineError(f"alpha must be a number from 0 to 1, not {alpha!r}")
        m, s = mean_std(feats)
        total = float(sum(weights))
        feat = None
        for st, w in zip(styles, weights):
            t = ((feats - m) / s * st.std + st.mean) * (float(w) / total)
            feat = t if feat is None else feat + t
        feat = alpha * feat + (1.0 - alpha) * feats
        out = self.engine.net.decoder(feat)
        return out[:, :, :shape[0], :shape[1]]
