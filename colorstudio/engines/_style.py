"""What the style engines (MicroAST, AdaIN) share: weights, pictures in and out, caches.

* Weights: the installed (or bundled) files of the engine's model, their checksums checked
  and read with ``weights_only=True`` into our network, strictly; or a folder given by the
  caller (custom weights, not checked against the published checksums).
* Style pictures: resized as in the authors' tests, short side to 512 px (Pillow's
  bilinear filter on 8-bit RGB, as torchvision's ``Resize(512)`` does on a PIL picture).
  The style branch runs once per picture and is cached by its content hash and region.
* The photo: its L at the working size becomes the grey RGB picture the network sees.
* The answer: the stylization in CIELAB. ``Chroma.ab`` is its chroma, ``Chroma.lightness``
  the photo's own L at the working size, ``Chroma.painted_lightness`` the stylization's L,
  ``Chroma.base_ab`` None (grey). Strength and look are composition
  (``colorstudio.core.style_blend.blend_style``), so a slider step never runs a network.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..core.color import linear_to_srgb, rgb_to_lab
from ..core.hints import Hints
from .base import Cancelled, Chroma, Engine, EngineError, EngineSession, StopCallback
from .neural import resolve_device

log = logging.getLogger(__name__)

#: The style picture's short side, as in the authors' tests.
STYLE_SIDE = 512
#: Preview working size (long side).
PREVIEW_SIDE = 512


def check_stop(should_stop: Optional[StopCallback]) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()


def style_tensor(rgb: np.ndarray, side: int = STYLE_SIDE) -> torch.Tensor:
    """(1, 3, h, w) float32 0..1: the picture with its short side at ``side`` (0: as is).

    Like torchvision's ``Resize(side)`` on a PIL picture: the long side becomes
    ``int(side * long / short)``, Pillow's bilinear filter (antialiased) on 8-bit RGB."""
    from PIL import Image
    u8 = np.clip(np.rint(np.asarray(rgb, np.float32) * 255.0), 0, 255).astype(np.uint8)
    h, w = u8.shape[:2]
    if side and min(h, w) != side:
        if w <= h:
            size = (side, int(side * h / w))
        else:
            size = (int(side * w / h), side)
        u8 = np.asarray(Image.fromarray(u8, "RGB").resize(size, Image.Resampling.BILINEAR))
    # (h, w, 3) bytes are already the channels-last layout: no transposing copy.
    if not u8.flags.writeable or not u8.flags.c_contiguous:
        u8 = np.array(u8, order="C")       # Pillow's arrays are read-only
    t = torch.from_numpy(u8).permute(2, 0, 1)[None]
    return t.to(torch.float32).div_(255.0)


def working_shape(height: int, width: int, side: int) -> tuple[int, int]:
    scale = min(1.0, side / max(height, width))
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def shape_for_pixels(height: int, width: int, pixels: int) -> tuple[int, int]:
    """The photo's shape scaled down (never up) to at most ``pixels`` pixels."""
    if height * width <= pixels:
        return height, width
    scale = (pixels / (height * width)) ** 0.5
    return max(1, int(height * scale)), max(1, int(width * scale))


def resize_lightness(lightness: np.ndarray, h: int, w: int) -> np.ndarray:
    """The photo's L at (h, w) (never larger than the photo): area averaging, in bands for
    huge photos so a 50-megapixel L is never copied whole."""
    from ..core.resample import downsample_lightness_bands
    full = np.asarray(lightness, np.float32)
    if full.shape == (h, w):
        return full.copy()
    return np.clip(downsample_lightness_bands(full, h, w), 0.0, 100.0)


def grey(lightness: np.ndarray) -> torch.Tensor:
    """(1, 1, h, w) float32 sRGB 0..1 of the grey picture with lightness L: the sRGB
    encoding of Y = f(L) (for a neutral colour every channel equals it)."""
    from ..core.color import _XYZN_TO_RGB, _f_inv
    L = np.asarray(lightness, np.float32)
    fy = (L + np.float32(16.0)) / np.float32(116.0)
    # as lab_to_rgb with a = b = 0 (X = Y = Z), green channel
    lin = _f_inv(fy).astype(np.float32) * np.float32(_XYZN_TO_RGB[1].sum())
    g = np.clip(linear_to_srgb(lin), 0.0, 1.0).astype(np.float32, copy=False)
    return torch.from_numpy(np.ascontiguousarray(g))[None, None]


def grey_rgb(lightness: np.ndarray) -> torch.Tensor:
    """(1, 3, h, w) sRGB 0..1 of a grey picture with lightness L (what the network sees)."""
    L = np.asarray(lightness)
    return grey(L).expand(1, 3, *L.shape).contiguous()


def to_lab(rgb: torch.Tensor) -> np.ndarray:
    """(1, 3, h, w) network output -> (h, w, 3) CIELAB, clamped to sRGB first (a
    channels-last output needs no transposing copy)."""
    arr = rgb[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return rgb_to_lab(arr)


class StyleEngine(Engine):
    """Loading, devices and the style cache for the style networks."""

    needs_weights = False
    uses_hints = False
    uses_reference = True
    #: How many style pictures' style branches are kept.
    style_cache_size = 8

    def __init__(self, weights: Optional[str | Path] = None, device: str = "auto", verify: bool = True,
                 network=None, preview_side: int = PREVIEW_SIDE):
        self._device_choice = device or "auto"
        self.device = resolve_device(self._device_choice)
        self._weights = Path(weights).expanduser() if weights is not None else None
        self._verify = bool(verify)
        self.preview_side = int(preview_side)
        self.net = None
        #: The network that runs (``inference_network(net)``): the same function, laid out
        #: for speed; ``net`` is the published layout as loaded.
        self.fast = None
        self.weights_note = ""
        self._lock = threading.Lock()
        self._styles: "OrderedDict[tuple, object]" = OrderedDict()
        #: How many times the style branch actually ran (the cache's effect, for tests).
        self.style_runs = 0
        if network is not None:
            self._use(network)
            self.weights_note = "weights given in memory"

    # -- weights ------------------------------------------------------------------------
    def _files(self) -> tuple[dict, bool]:
        """(published name -> path, whether these are the published files to check)."""
        from ..models import store
        from ..models.registry import get_model
        info = get_model(self.name)
        if self._weights is not None:
            folder = self._weights
            if not folder.is_dir():
                raise EngineError(f"the weights folder {folder} does not exist (it must hold "
                                  f"{', '.join(f.filename for f in info.files)})")
            return {f.filename: folder / f.filename for f in info.files}, False
        files = store.installed_files(self.name)
        if files is None:
            raise EngineError(store.not_installed_message(self.name))
        return files, True

    def load(self) -> None:
        """Load the network once: checksums of the installed files, then a safe strict load."""
        if self.net is not None:
            return
        from ..models import ModelError
        from ..models.checkpoint import load_model
        from ..models.registry import get_model
        from ..models.store import verify_files
        info = get_model(self.name)
        files, published = self._files()
        try:
            if published and self._verify:
                verify_files(self.name, files, load=False,
                             advice=f"reinstall it with `colorstudio models install {self.name} --force`")
            net = load_model(info, files, str(next(iter(files.values())).parent))
        except ModelError as exc:
            raise EngineError(str(exc)) from None
        self.weights_note = (f"published {self.name} weights" if published
                             else f"custom weights in {self._weights} (not checked against the published checksums)")
        self._use(net)

    def _use(self, net) -> None:
        self.net = net.eval().to(self.device)
        self.fast = self.inference_network(self.net)

    def inference_network(self, net):
        """The network sessions run: ``net`` itself unless an engine lays it out for speed."""
        return net

    @property
    def loaded(self) -> bool:
        return self.net is not None

    def close(self) -> None:
        self.net = None
        self.fast = None
        with self._lock:
            self._styles.clear()

    # -- the style cache ------------------------------------------------------------------
    def styled(self, ref) -> object:
        """The style branch's answer for a ReferencePicture, computed once per picture."""
        key = (getattr(ref, "key", None) or id(ref), STYLE_SIDE)
        with self._lock:
            hit = self._styles.get(key)
            if hit is not None:
                self._styles.move_to_end(key)
                return hit
        self.load()
        with torch.inference_mode():
            value = self.compute_style(style_tensor(ref.rgb).to(self.device))
        self.style_runs += 1
        with self._lock:
            self._styles[key] = value
            while len(self._styles) > self.style_cache_size:
                self._styles.popitem(last=False)
        return value

    def compute_style(self, style: torch.Tensor) -> object:
        raise NotImplementedError


class StyleSession(EngineSession):
    """Per-photo state of a style engine: the photo's L, and per working size its content
    features (a few sizes kept) and the latest answers."""

    keep_sizes = 3
    keep_results = 2

    def __init__(self, engine: StyleEngine, lightness: np.ndarray):
        light = np.asarray(lightness)
        if light.ndim != 2 or light.size == 0:
            raise EngineError("the photo's lightness must be a non-empty 2-D array")
        self.engine = engine
        self.full_lightness = light
        self._content: "OrderedDict[tuple, tuple]" = OrderedDict()
        self._results: "OrderedDict[tuple, Chroma]" = OrderedDict()
        #: How many times the content branch ran (the cache's effect, for tests).
        self.content_runs = 0

    # Subclasses say how big the working picture is and what the content branch keeps.
    def render_shape(self) -> tuple[int, int]:
        raise NotImplementedError

    def content_features(self, L: np.ndarray, should_stop) -> object:
        raise NotImplementedError

    def stylize(self, feats, styles: list, weights: list, options: dict, shape, should_stop) -> torch.Tensor:
        raise NotImplementedError

    def working_shape(self, quality: str, max_side: Optional[int]) -> tuple[int, int]:
        if quality not in ("preview", "render"):
            raise EngineError(f"quality must be 'preview' or 'render', not {quality!r}")
        H, W = self.full_lightness.shape
        if quality == "preview":
            h, w = working_shape(H, W, self.engine.preview_side)
        else:
            h, w = self.render_shape()
        if max_side is not None and max(h, w) > int(max_side):
            h, w = working_shape(h, w, int(max_side))
        return h, w

    def _content_at(self, shape, should_stop):
        hit = self._content.get(shape)
        if hit is not None:
            self._content.move_to_end(shape)
            return hit
        L = resize_lightness(self.full_lightness, *shape)
        check_stop(should_stop)
        feats = self.content_features(L, should_stop)
        self.content_runs += 1
        self._content[shape] = (L, feats)
        while len(self._content) > self.keep_sizes:
            self._content.popitem(last=False)
        return L, feats

    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None,
               should_stop: Optional[StopCallback] = None) -> Chroma:
        refs = [r for r in (references or ()) if r is not None]
        if not refs:
            raise EngineError("style needs a style picture: choose a painting or photo whose style to take")
        if len(refs) > 2:
            refs = refs[:2]
        options = dict(options or {})
        mix = float(options.get("mix", 0.5))
        if not 0.0 <= mix <= 1.0:
            raise EngineError(f"mix must be a number from 0 to 1, not {mix!r}")
        weights = [1.0] if len(refs) == 1 else [1.0 - mix, mix]
        shape = self.working_shape(quality, max_side)
        engine = self.engine
        engine.load()
        key = (shape, tuple(getattr(r, "key", id(r)) for r in refs), tuple(weights),
               tuple(sorted((k, v) for k, v in options.items() if k not in ("mix", "look", "strength"))))
        hit = self._results.get(key)
        if hit is not None:
            return hit
        check_stop(should_stop)
        styles = [engine.styled(r) for r in refs]
        check_stop(should_stop)
        L, feats = self._content_at(shape, should_stop)
        with torch.inference_mode():
            out = self.stylize(feats, styles, weights, options, shape, should_stop)
        lab = to_lab(out)
        message = "" if len(references or ()) <= 2 else "style uses the first two style pictures"
        result = Chroma(
            ab=np.ascontiguousarray(lab[..., 1:]), lightness=L,
            info={"device": str(engine.device), "precision": "float32", "message": message,
                  "engine": engine.name, "working_size": (shape[1], shape[0]), "weights": engine.weights_note},
            base_ab=None, painted_lightness=np.ascontiguousarray(lab[..., 0]))
        self._results[key] = result
        while len(self._results) > self.keep_results:
            self._results.popitem(last=False)
        return result
