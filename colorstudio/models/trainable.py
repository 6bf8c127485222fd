"""The networks a user can train, by name, built from the options a manifest records.

``build(network, options)`` makes the module; every one answers
``colorize(L, ab=None, mask=None, sample=0) -> ab`` (ab units) so that one engine can run
any of them. ``multiple(network, module)`` is the size the input must be padded to.
"""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn


def build(network: str, options: Mapping[str, Any] | None = None) -> nn.Module:
    """A fresh module for ``network`` ("unet", "vae", "siggraph17") with ``options``."""
    options = dict(options or {})
    if network == "unet":
        from .unet import UNet
        return UNet(in_channels=int(options.get("in_channels", 1)), width=int(options.get("width", 32)),
                    depth=int(options.get("depth", 5)))
    if network == "vae":
        from .vae import ColourVAE
        return ColourVAE(width=int(options.get("width", 32)), depth=int(options.get("depth", 5)),
                         latent=int(options.get("latent", 8)))
    if network == "siggraph17":
        from .networks import Siggraph17Net
        return Siggraph17Net()
    raise ValueError(f"there is no trainable network called {network!r}")


def multiple(module: nn.Module) -> int:
    """Input height and width must be multiples of this."""
    fn = getattr(module, "multiple", None)
    return int(fn()) if callable(fn) else 8
