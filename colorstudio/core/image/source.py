"""SourceImage: a photo as Colorstudio sees it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .base import ImageError, _alpha_to_depth
from .lightness import _bands, _lightness, _lightness_to_gray_u8, _shrink_area, _Tone


@dataclass(eq=False)
class SourceImage:
    """A photo as Colorstudio sees it: full-resolution lightness, alpha and metadata.

    ``lightness`` is CIELAB L* (float32, 0..100) at full resolution and full bit depth after
    the EXIF orientation; ``alpha`` has the same depth as ``bit_depth`` (uint8 or uint16).
    ``exif`` is the source's EXIF block (``b"Exif\\0\\0"`` + TIFF data, as Pillow writes it)
    with the orientation reset to 1, because the pixels are already upright.
    ``info`` holds other metadata worth keeping: ``dpi``, ``text`` (PNG text chunks),
    ``xmp`` (bytes, orientation reset), ``description``, ``orientation`` (the original value).
    """

    path: Path | None
    lightness: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    format: str
    was_color: bool
    icc_profile: bytes | None
    exif: bytes | None
    info: dict = field(default_factory=dict)
    content_hash: str = ""

    @property
    def width(self) -> int:
        return int(self.lightness.shape[1])

    @property
    def height(self) -> int:
        return int(self.lightness.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def __repr__(self) -> str:
        name = self.path.name if self.path else "array"
        return (f"SourceImage({name!r}, {self.width}x{self.height}, {self.bit_depth}-bit "
                f"{self.format}, alpha={self.alpha is not None}, was_color={self.was_color})")

    def gray_u8(self, max_side: int | None = None) -> np.ndarray:
        """The photo as sRGB-encoded grey (uint8, H x W) for display.

        With ``max_side`` the photo is shrunk by area averaging (of L*) so that its long side
        is at most ``max_side``; it is never enlarged. For an 8-bit grey source at full size
        this gives back the source's own pixel values.
        """
        L = self.lightness
        if max_side is not None:
            if isinstance(max_side, bool) or not isinstance(max_side, (int, np.integer)) or max_side < 1:
                raise ValueError(f"max_side must be a positive whole number, not {max_side!r}")
            L = _shrink_area(L, int(max_side))
        out = np.empty(L.shape, dtype=np.uint8)
        for r0, r1 in _bands(L.shape[0], L.shape[1]):
            out[r0:r1] = _lightness_to_gray_u8(L[r0:r1])
        return out

    @classmethod
    def from_array(cls, array, *, bit_depth: int | None = None) -> "SourceImage":
        """A SourceImage from pixels in memory (tests, the Python API).

        ``array``: grey (H, W), grey+alpha (H, W, 2), RGB (H, W, 3) or RGBA (H, W, 4), as
        uint8, uint16, bool or float in [0, 1]; colour values are sRGB. ``bit_depth`` defaults
        to the dtype's (8 for uint8/bool, 16 for uint16 and float). ``content_hash`` is the
        SHA-256 of the shape, dtype and pixel bytes.
        """
        a = np.asarray(array)
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)) or a.size == 0:
            raise ImageError(f"an image array must be (H, W), (H, W, 2), (H, W, 3) or (H, W, 4), "
                             f"not {a.shape}")
        if a.dtype == bool:
            a = a.astype(np.uint8) * 255
        if a.dtype == np.uint8:
            depth = 8
        elif a.dtype == np.uint16:
            depth = 16
        elif np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)):
                raise ImageError("an image array holds NaN or infinite values")
            depth = 16
            a = np.clip(a, 0.0, 1.0).astype(np.float32, copy=False)
        else:
            raise ImageError(f"an image array must be uint8, uint16 or float, not {a.dtype}")
        if bit_depth is not None:
            if bit_depth not in (8, 16):
                raise ImageError(f"bit_depth must be 8 or 16, not {bit_depth!r}")
            depth = bit_depth
        h = hashlib.sha256(f"{a.shape}|{a.dtype.str}|".encode())
        h.update(memoryview(np.ascontiguousarray(a)).cast("B"))

        alpha = None
        samples = a
        if a.ndim == 3 and a.shape[2] in (2, 4):
            samples = a[:, :, :-1] if a.shape[2] == 4 else a[:, :, 0]
            alpha = _alpha_to_depth(a[:, :, -1], depth)
        L, was_color = _lightness(samples, _Tone.srgb(samples.ndim == 3))
        return cls(path=None, lightness=L, alpha=alpha, bit_depth=depth, format="ARRAY",
                   was_color=was_color, icc_profile=None, exif=None, info={},
                   content_hash=h.hexdigest())

