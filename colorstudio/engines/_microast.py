"""The MicroAST style engine: live previews, cached branches, tiled renders.

The network (``colorstudio.models.style_networks.MicroASTNet``) is split in the three
stages it has:

1. the style branch (style encoder + modulator): once per style picture (short side 512 px,
   as in the authors' tests), cached by the picture's content hash (``StyleEngine.styled``);
2. the content encoder: once per photo and working size, cached in the session;
3. the decoder: AdaIN and the two filter-modulated residual blocks at a quarter of the
   working size (on the whole map, so the AdaIN statistics are the whole picture's, as in
   the untiled network), then ``dec3`` up to the working size.

Working size: previews at 512 px (long side); renders at the photo's own size (the
authors run the content at its own size) up to ``RENDER_PIXELS`` (4 megapixels): beyond
that the stylization is made at 4 MP and composition brings its chroma to the photo's size
edge-aware, as for every engine (the brushwork of a style is a property of the working
picture, not of the scan's resolution; 4 MP keeps a render of a 50 MP scan within about
20 s on two CPU cores and well under 2 GB). Pictures above ``TILE_ABOVE`` pixels run stages 2 and
3's ``dec3`` in overlapping tiles (``TILE`` px plus a ``HALO`` px margin on every side, tile
edges on multiples of 4 so the stride-2 grids line up), which bounds memory; the margin is
larger than the receptive field of both stages, so a tiled render equals the untiled one
to float rounding.

What runs is ``engine.fast``, ``inference_copy(engine.net)``: the same function to float
rounding (within 1/255 of the authors' code end to end, ``bench/bench_microast_faithful.py``)
with dec3's convolutions rewritten for oneDNN, channels-last tensors and the grey photo fed
as one channel. ``engine.net`` (the published layout, loaded strictly) runs ``stylize``, the
authors' whole forward pass. bfloat16 is not used: on a CPU with native bfloat16 it is about
1.5x faster but 55/255 off float32 at worst with these weights (AdaIN statistics), which a
preview that is the export's picture made smaller cannot afford.
"""
from __future__ import annotations


import numpy as np
import torch

from ..models.style_networks import MicroASTNet, StyleSignal, inference_copy
from ._style import StyleEngine, StyleSession, check_stop, grey, shape_for_pixels

CHANNELS_LAST = torch.channels_last

__all__ = ["MicroASTEngine", "MicroASTSession", "MicroASTNet", "RENDER_PIXELS", "TILE", "HALO"]

#: The largest working picture of a render (pixels); larger photos are stylized at this size.
RENDER_PIXELS = 4_000_000
#: Pictures larger than this run in tiles (just above a 512-px preview): besides bounding
#: memory, 512-px tiles keep dec3's full-resolution maps in the CPU's caches, which makes a
#: 1-megapixel dec3 about 1.6x cheaper than one pass over the whole picture.
TILE_ABOVE = 300_000
#: Tile side and margin (full-size pixels; multiples of 4). The content encoder sees 23 px
#: around a pixel and dec3 about 12, so 32 px is enough for exact tiles.
TILE = 512
HALO = 32


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    return [(a, min(n, a + tile)) for a in range(0, n, tile)]


def encode_tiled(net: MicroASTNet, image: torch.Tensor, tile: int = TILE, halo: int = HALO,
                 should_stop=None) -> torch.Tensor:
    """``net.content_features(image)`` computed in overlapping tiles (same result)."""
    _, _, H, W = image.shape
    Hq, Wq = -(-H // 4), -(-W // 4)
    out = torch.empty(1, 64, Hq, Wq, dtype=image.dtype, device=image.device, memory_format=torch.channels_last)
    for y0, y1 in _spans(H, tile):
        for x0, x1 in _spans(W, tile):
            check_stop(should_stop)
            a, b = max(0, y0 - halo), min(H, y1 + halo)
            c, d = max(0, x0 - halo), min(W, x1 + halo)
            f = net.content_features(image[:, :, a:b, c:d])
            qy0, qy1, qx0, qx1 = y0 // 4, -(-y1 // 4), x0 // 4, -(-x1 // 4)
            out[:, :, qy0:qy1, qx0:qx1] = f[:, :, qy0 - a // 4:qy1 - a // 4, qx0 - c // 4:qx1 - c // 4]
    return out


def upsample_tiled(net: MicroASTNet, x4: torch.Tensor, H: int, W: int, tile: int = TILE, halo: int = HALO,
                   should_stop=None) -> torch.Tensor:
    """``net.upsample(x4)`` cropped to (H, W), computed in overlapping tiles (same result)."""
    tq, hq = tile // 4, halo // 4
    _, _, Hq, Wq = x4.shape
    out = torch.empty(1, 3, H, W, dtype=x4.dtype, device=x4.device, memory_format=torch.channels_last)
    for qy0, qy1 in _spans(Hq, tq):
        for qx0, qx1 in _spans(Wq, tq):
            check_stop(should_stop)
            a, b = max(0, qy0 - hq), min(Hq, qy1 + hq)
            c, d = max(0, qx0 - hq), min(Wq, qx1 + hq)
            y = net.upsample(x4[:, :, a:b, c:d])
            y0, y1 = 4 * qy0, min(H, 4 * qy1)
            x0, x1 = 4 * qx0, min(W, 4 * qx1)
            out[:, :, y0:y1, x0:x1] = y[:, :, y0 - 4 * a:y1 - 4 * a, x0 - 4 * c:x1 - 4 * c]
    return out


class MicroASTEngine(StyleEngine):
    """MicroAST (Wang et al., AAAI 2023): a painting's style on the photo, live.

    ``weights``: a folder holding the four published files (default: the installed copy,
    else the bundled one, checksums checked). ``tile_above`` and ``tile`` set when and how
    renders are tiled (tests use small values)."""

    name = "microast"
    architecture = "microast"
    label = "MicroAST style"
    description = "a painting's colours and brushwork on the photo, live"

    def __init__(self, weights=None, device: str = "auto", verify: bool = True, network=None,
                 preview_side: int = 512, render_pixels: int = RENDER_PIXELS, tile_above: int = TILE_ABOVE,
                 tile: int = TILE):
        super().__init__(weights, device, verify, network, preview_side)
        if tile % 4 or tile < 16:
            raise ValueError("tile must be a multiple of 4, at least 16")
        self.render_pixels = int(render_pixels)
        self.tile_above = int(tile_above)
        self.tile = int(tile)

    @classmethod
    def from_network(cls, net: MicroASTNet, **options) -> "MicroASTEngine":
        return cls(network=net, **options)

    def inference_network(self, net: MicroASTNet) -> MicroASTNet:
        """The copy that runs (see ``inference_copy``); ``self.net`` stays the published layout."""
        return inference_copy(net)

    def compute_style(self, style: torch.Tensor) -> StyleSignal:
        return self.fast.style_signal(style.contiguous(memory_format=CHANNELS_LAST))

    def start(self, lightness: np.ndarray, photo=None) -> "MicroASTSession":
        return MicroASTSession(self, lightness)

    def stylize(self, content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """The whole network on RGB tensors (the authors' forward pass, untiled)."""
        self.load()
        with torch.inference_mode():
            return self.net(content.to(self.device), style.to(self.device), alpha)


class MicroASTSession(StyleSession):

    def render_shape(self) -> tuple[int, int]:
        H, W = self.full_lightness.shape
        return shape_for_pixels(H, W, self.engine.render_pixels)

    def _tiled(self, shape) -> bool:
        return shape[0] * shape[1] > self.engine.tile_above

    def content_features(self, L: np.ndarray, should_stop) -> torch.Tensor:
        engine = self.engine
        image = grey(L).to(engine.device).contiguous(memory_format=CHANNELS_LAST)
        with torch.inference_mode():
            if self._tiled(L.shape):
                return encode_tiled(engine.fast, image, engine.tile, HALO, should_stop)
            return engine.fast.content_features(image)

    def stylize(self, feats, styles, weights, options, shape, should_stop) -> torch.Tensor:
        engine = self.engine
        sig = styles[0] if len(styles) == 1 else StyleSignal.mix(styles, weights)
        x4 = engine.fast.modulate(feats, sig)
        check_stop(should_stop)
        H, W = shape
        if self._tiled(shape):
            return upsample_tiled(engine.fast, x4, H, W, engine.tile, HALO, should_stop)
        return engine.fast.upsample(x4)[:, :, :H, :W]
