"""Simulated user input for training: colour points as in Zhang et al. 2017, and fading.

Colour points follow "Real-Time User-Guided Image Colorization with Learned Deep Priors"
(SIGGRAPH 2017, section 3.2, and ``add_color_points`` of richzhang/colorization-pytorch):
the number of points is geometric (another point is added with probability 1 - 1/8, so
there are 7 on average and often none); each point is a square patch of side P drawn
uniformly from 1..9 pixels; its position is drawn from a 2-D Gaussian centred on the picture
with a standard deviation of a quarter of its size (clipped into the picture); its colour is
the mean of the ground truth ab under the patch. The mask is 1 on the patches.

Fading (for the restorer) imitates aged colour prints and slides: per-channel fading curves
(the cyan dye, which sets the red channel, fades fastest, so prints drift red/magenta; a
lifted black and a lowered white), a yellow or a magenta cast, and lowered saturation. The
lightness of the faded picture is then replaced by the original's: the restorer learns
colour only, as every engine does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.color import lab_to_rgb, rgb_to_lab

#: Zhang et al.: a further point with probability 1 - P_STOP.
P_STOP = 1.0 / 8.0
#: Patch sides, uniformly.
PATCH_SIDES = tuple(range(1, 10))
#: A cap on the count (the geometric tail is long; 1 in 10^5 pictures reaches it).
MAX_POINTS = 80


@dataclass(frozen=True)
class Patch:
    """One simulated point: a P x P square at (y, x) (top-left) with colour (a, b)."""

    y: int
    x: int
    side: int
    a: float
    b: float
    lightness: float


def simulate_points(ab: np.ndarray, rng: np.random.Generator, lightness: np.ndarray | None = None,
                    count: int | None = None) -> list[Patch]:
    """Points for a picture's ground-truth ``ab`` (H, W, 2). ``count`` None: geometric."""
    H, W = ab.shape[:2]
    out: list[Patch] = []
    while (len(out) < count) if count is not None else (rng.random() < 1.0 - P_STOP):
        if len(out) >= MAX_POINTS:
            break
        P = int(rng.choice(PATCH_SIDES))
        P = min(P, H, W)
        y = int(np.clip(rng.normal((H - P + 1) / 2.0, (H - P + 1) / 4.0), 0, H - P))
        x = int(np.clip(rng.normal((W - P + 1) / 2.0, (W - P + 1) / 4.0), 0, W - P))
        mean = ab[y:y + P, x:x + P].reshape(-1, 2).mean(axis=0)
        L = float(lightness[y:y + P, x:x + P].mean()) if lightness is not None else 50.0
        out.append(Patch(y, x, P, float(mean[0]), float(mean[1]), L))
    return out


def rasterise_points(points: list[Patch], H: int, W: int) -> tuple[np.ndarray, np.ndarray]:
    """The network's hint input: ab (2, H, W) and mask (1, H, W), float32."""
    hint = np.zeros((2, H, W), np.float32)
    mask = np.zeros((1, H, W), np.float32)
    for p in points:
        hint[0, p.y:p.y + p.side, p.x:p.x + p.side] = p.a
        hint[1, p.y:p.y + p.side, p.x:p.x + p.side] = p.b
        mask[0, p.y:p.y + p.side, p.x:p.x + p.side] = 1.0
    return hint, mask


def points_as_hints(points: list[Patch], W: int, H: int):
    """The same points as the app's :class:`~colorstudio.core.hints.Hints` (a disk of the
    patch's area at its centre, in the colour of its mean L and ab) for the propagation
    engine, so both get the same input."""
    from ..core.color import color_to_hex
    from ..core.hints import Hints
    pts = []
    for p in points:
        rgb = lab_to_rgb(np.array([p.lightness, p.a, p.b], np.float32))
        pts.append((p.x + p.side / 2.0, p.y + p.side / 2.0, color_to_hex(tuple(int(round(v * 255)) for v in rgb)),
                    max(0.5, p.side / np.sqrt(np.pi))))
    return Hints.of(pts, image_size=(W, H))


def fade(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A faded, colour-cast version of ``rgb`` (H, W, 3, float 0..1), same lightness, as Lab."""
    x = np.clip(rgb.astype(np.float32), 0.0, 1.0)
    # Fading curves per channel: contrast lowered towards a lifted black and lowered white;
    # red (cyan dye) most, blue (yellow dye) least, each by a random amount.
    strength = rng.uniform(0.2, 0.7)
    for c, share in enumerate((1.0, 0.6, 0.35)):
        k = strength * share * rng.uniform(0.6, 1.2)
        black = 0.15 * k
        white = 1.0 - 0.05 * k
        gamma = 1.0 - 0.35 * k if c == 0 else 1.0 + 0.15 * k
        x[..., c] = black + (white - black) * np.power(x[..., c], gamma)
    lab = rgb_to_lab(x)
    # A yellow (b+) or a magenta (a+, b-) cast, and lowered saturation.
    if rng.random() < 0.5:
        cast = np.array([rng.uniform(-2, 4), rng.uniform(8, 25)], np.float32)
    else:
        cast = np.array([rng.uniform(8, 22), rng.uniform(-8, 2)], np.float32)
    saturation = rng.uniform(0.25, 0.8)
    lab[..., 1:] = lab[..., 1:] * saturation + cast
    lab[..., 0] = rgb_to_lab(rgb.astype(np.float32))[..., 0]
    return lab
