"""Working size: the photo keeps its aspect ratio; its long side is resized to the working
side (256 for previews, 512 for renders by default), then padded at the bottom and right to
a multiple of 8 (edge-replicated L, no hints in the padding) because the networks halve the
resolution three times; the padding is cropped from the answer."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F

from ...core.hints import Hints, rasterize
from ..base import StopCallback

PREVIEW_SIDE = 256
RENDER_SIDE = 512
MIN_SIDE = 16
#: The smallest working side an out-of-memory retry goes down to before moving to the CPU.
MIN_RETRY_SIDE = 128


def round_up(n: int, multiple: int = 8) -> int:
    return int(math.ceil(n / multiple) * multiple)


def working_shape(height: int, width: int, side: int) -> tuple[int, int]:
    """(h, w) with the photo's aspect ratio and the long side equal to ``side``."""
    scale = side / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def shrink_side(side: int) -> Optional[int]:
    """The next smaller working side to try after running out of memory, or None."""
    smaller = round_up(int(side * 0.7), 8) if side > MIN_RETRY_SIDE else 0
    return smaller if MIN_RETRY_SIDE <= smaller < side else None


@dataclass
class WorkingImage:
    """A photo's lightness at one working size, and its padded network input."""

    side: int
    size: tuple[int, int]             # (h, w) before padding
    full_size: tuple[int, int]        # (H, W) of the photo
    lightness: np.ndarray             # (h, w) float32 L at the working size
    padded: torch.Tensor              # (1, 1, H8, W8) float32 L, edge-padded, on the CPU

    @property
    def padded_size(self) -> tuple[int, int]:
        return int(self.padded.shape[2]), int(self.padded.shape[3])


def prepare_lightness(lightness: np.ndarray, side: int) -> WorkingImage:
    """Resize a full-resolution L (H, W) to the working size (antialiased), pad to 8."""
    full = np.asarray(lightness, dtype=np.float32)
    H, W = full.shape[:2]
    h, w = working_shape(H, W, side)
    src = torch.from_numpy(np.ascontiguousarray(full))[None, None]
    if (h, w) == (H, W):
        small = src.clone()
    else:
        small = F.interpolate(src, size=(h, w), mode="bilinear", align_corners=False, antialias=(h < H or w < W))
    small = small.clamp_(0.0, 100.0)
    padded = F.pad(small, (0, round_up(w) - w, 0, round_up(h) - h), mode="replicate")
    return WorkingImage(side, (h, w), (H, W), small[0, 0].numpy().copy(), padded.contiguous())


def hint_tensors(hints: Hints, work: WorkingImage,
                 should_stop: Optional[StopCallback] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints rasterised at the working size: ab (1,2,H8,W8) and a 0/1 mask (1,1,H8,W8).

    The coverage mask is thresholded at one half, as the network was trained on hard
    patches; the padding carries no hints.
    """
    (h, w), (H, W) = work.size, work.full_size
    H8, W8 = work.padded_size
    ab = torch.zeros(1, 2, H8, W8)
    mask = torch.zeros(1, 1, H8, W8)
    if hints is not None and not hints.is_empty:
        raster = rasterize(hints, W, H, w, h, should_stop=should_stop)
        on = raster.mask > 0.5
        if on.any():
            m = torch.from_numpy(on.astype(np.float32))
            mask[0, 0, :h, :w] = m
            ab[0, :, :h, :w] = torch.from_numpy(np.ascontiguousarray(raster.ab.transpose(2, 0, 1))) * m
    return ab, mask
