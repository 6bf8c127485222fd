"""Stand-ins for the compute side, for GUI tests that must control time.

``MiniSession`` follows the ColorizeSession contract (preview / render / suggest_colors)
on top of any Engine, with a plain compose; ``SlowEngine`` takes a fixed time per
colorization (checking should_stop) so tests can prove the window stays responsive.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from colorstudio.core.color import hex_to_ab, lab_to_rgb
from colorstudio.engines.base import Cancelled, Chroma, Engine, EngineSession


def _resize_nearest(a: np.ndarray, h: int, w: int) -> np.ndarray:
    ys = (np.arange(h) * a.shape[0] // h).clip(0, a.shape[0] - 1)
    xs = (np.arange(w) * a.shape[1] // w).clip(0, a.shape[1] - 1)
    return a[ys][:, xs]


def preview_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    s = min(1.0, max_side / max(width, height))
    return max(1, round(width * s)), max(1, round(height * s))


class MiniResult:
    def __init__(self, rgb, photo):
        self.rgb = rgb
        self.alpha = None
        self._photo = photo

    def save(self, path, fmt=None, quality=95, overwrite=False):
        from colorstudio.core.export import write_image
        return write_image(path, self.rgb, source=self._photo, fmt=fmt, quality=quality, overwrite=overwrite)


class MiniSession:
    """The ColorizeSession contract on top of an engine, with nearest-neighbour chroma upsampling."""

    def __init__(self, photo, engine):
        self.photo = photo
        self.engine = engine
        self.session = engine.start(photo.lightness)
        self.previews = 0

    def _rgb(self, L, ab, saturation):
        lab = np.concatenate([L[..., None], ab * saturation], axis=-1)
        return lab_to_rgb(lab)

    def warm_up(self, max_side=1024, should_stop=None, progress=None):
        pass

    def preview(self, hints, max_side=1024, saturation=1.0, should_stop=None, **composition):
        self.previews += 1
        w, h = preview_size(self.photo.width, self.photo.height, max_side)
        ch = self.session.chroma(hints, quality="preview", max_side=max_side, should_stop=should_stop)
        L = _resize_nearest(self.photo.lightness, h, w)
        ab = _resize_nearest(ch.ab, h, w)
        return (self._rgb(L, ab, saturation) * 255 + 0.5).astype(np.uint8)

    def render(self, hints, saturation=1.0, progress=None, should_stop=None, **composition):
        ch = self.session.chroma(hints, quality="render", should_stop=should_stop)
        H, W = self.photo.lightness.shape
        ab = _resize_nearest(ch.ab, H, W)
        if progress:
            progress(1, 2)
        rgb = (self._rgb(self.photo.lightness, ab, saturation) * 255 + 0.5).astype(np.uint8)
        if progress:
            progress(2, 2)
        return MiniResult(rgb, self.photo)

    def suggest_colors(self, hints, x, y, count=8):
        return []


class FlatSession(EngineSession):
    """Every pixel gets the chroma of the last hint (no edges): a cheap, predictable engine."""

    def __init__(self, engine, lightness):
        self.engine = engine
        self.lightness = lightness

    def chroma(self, hints, *, quality="render", max_side=None, references=(), options=None, should_stop=None):
        eng = self.engine
        with eng.lock:
            eng.calls += 1
            eng.active += 1
            eng.max_active = max(eng.max_active, eng.active)
        try:
            deadline = time.perf_counter() + eng.delay
            while time.perf_counter() < deadline:
                if eng.gate is not None:
                    eng.gate.wait(0.01)
                if should_stop is not None and should_stop():
                    raise Cancelled()
                time.sleep(0.005)
            if eng.gate is not None:
                while not eng.gate.wait(0.01):
                    if should_stop is not None and should_stop():
                        raise Cancelled()
            h, w = self.lightness.shape
            s = min(1.0, (max_side or 256) / max(h, w))
            hh, ww = max(1, round(h * s)), max(1, round(w * s))
            ab = np.zeros((hh, ww, 2), np.float32)
            colors = [p.color for p in hints.points] + [st.color for st in hints.strokes]
            if colors:
                ab[...] = hex_to_ab(colors[-1])
            return Chroma(ab, _resize_nearest(self.lightness, hh, ww))
        finally:
            with eng.lock:
                eng.active -= 1


class SlowEngine(Engine):
    """Takes ``delay`` seconds per colorization (or waits for ``gate``), honouring should_stop."""

    name = "propagation"  # stands in for the default engine of the Hints mode
    label = "Slow test engine"

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None):
        self.delay = delay
        self.gate = gate
        self.calls = 0
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()

    def start(self, lightness, photo=None):
        return FlatSession(self, lightness)


def mini_factory(photo, engine):
    return MiniSession(photo, engine)


def edge_photo(path: Path, width: int = 240, height: int = 160) -> Path:
    """A grey photo with a strong vertical edge in the middle: dark left, light right."""
    from PIL import Image
    a = np.full((height, width), 60, np.uint8)
    a[:, width // 2:] = 200
    # A little texture so it is not a perfectly flat test card.
    rng = np.random.default_rng(0)
    a = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    Image.fromarray(a, "L").save(path)
    return path
