"""Colorize sessions: one photo, one engine, many requests.

``ColorizeSession`` keeps what does not depend on the hints (the engine's per-photo state,
the lightness at preview sizes) so that each edit costs only the engine's solve and the
composition. ``colorize`` is the one-shot form used by the CLI and batch runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .compose import chroma_field, compose
from .hints import Hints, HintsError
from .jobs import Progress, ShouldStop, check_stop
from .resample import downsample_lightness_bands, fit_size

DEFAULT_ENGINE = "propagation"


def _make_engine(engine, options):
    from ..engines.base import Engine
    if isinstance(engine, Engine):
        return engine
    from ..engines.registry import create_engine
    return create_engine(engine or DEFAULT_ENGINE, **options)


@dataclass
class ColorizeResult:
    """A full-resolution colorized photo, ready to save."""

    rgb: np.ndarray                 # (H, W, 3) uint8 or uint16
    alpha: Optional[np.ndarray]
    photo: object                   # the SourceImage it came from
    engine: str
    hints: Hints
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    def provenance(self) -> dict:
        from .. import __version__
        photo = self.photo
        prov = {"software": f"Colorstudio {__version__}", "engine": self.engine,
                "hints": str(len(self.hints))}
        if getattr(photo, "path", None) is not None:
            prov["source"] = Path(photo.path).name
        if getattr(photo, "content_hash", None):
            prov["source_sha256"] = photo.content_hash
        return prov

    def save(self, path, fmt: str | None = None, quality: int = 95, overwrite: bool = False) -> Path:
        """Write the result atomically; never the source file, never over a file unless ``overwrite``."""
        from .export import write_image
        return write_image(path, self.rgb, alpha=self.alpha, source=self.photo, fmt=fmt, quality=quality,
                           overwrite=overwrite, provenance=self.provenance())


class ColorizeSession:
    """Interactive colorization of one photo with one engine.

    Not thread-safe: use it from one thread (the app's compute thread, or a script).
    """

    def __init__(self, photo, engine: Union[str, object] = DEFAULT_ENGINE, **engine_options):
        if isinstance(photo, (str, Path)):
            from .image import open_image
            photo = open_image(photo)
        self.photo = photo
        self.engine = _make_engine(engine, engine_options)
        self._state = None
        self._preview_L: dict[int, np.ndarray] = {}

    @property
    def engine_name(self) -> str:
        return getattr(self.engine, "name", type(self.engine).__name__)

    def _engine_session(self):
        if self._state is None:
            self._state = self.engine.start(self.photo.lightness, self.photo)
        return self._state

    def preview_lightness(self, max_side: int) -> np.ndarray:
        """The photo's L downscaled so the long side is at most ``max_side`` (cached)."""
        if max_side not in self._preview_L:
            L = self.photo.lightness
            w, h = fit_size(L.shape[1], L.shape[0], max_side)
            self._preview_L[max_side] = downsample_lightness_bands(L, h, w)
        return self._preview_L[max_side]

    def preview(self, hints: Optional[Hints] = None, max_side: int = 1024, saturation: float = 1.0,
                should_stop: Optional[ShouldStop] = None) -> np.ndarray:
        """A fast look at the result: (h, w, 3) uint8 with the long side at most ``max_side``."""
        hints = hints or Hints()
        L = self.preview_lightness(max_side)
        chroma = self._engine_session().chroma(hints, quality="preview", max_side=max_side,
                                               should_stop=should_stop)
        check_stop(should_stop)
        return compose(L, chroma_field(chroma.ab, chroma.lightness), saturation=saturation, bit_depth=8)

    def render(self, hints: Optional[Hints] = None, saturation: float = 1.0,
               progress: Optional[Progress] = None, should_stop: Optional[ShouldStop] = None) -> ColorizeResult:
        """The converged result at full resolution and the photo's bit depth."""
        hints = hints or Hints()
        t0 = time.perf_counter()
        chroma = self._engine_session().chroma(hints, quality="render", should_stop=should_stop)
        check_stop(should_stop)
        field_ = chroma_field(chroma.ab, chroma.lightness)
        del chroma
        rgb = compose(self.photo.lightness, field_, saturation=saturation,
                      bit_depth=16 if getattr(self.photo, "bit_depth", 8) == 16 else 8,
                      progress=progress, should_stop=should_stop)
        return ColorizeResult(rgb, getattr(self.photo, "alpha", None), self.photo, self.engine_name, hints,
                              time.perf_counter() - t0)

    def suggest_colors(self, hints: Optional[Hints], x: float, y: float, count: int = 8) -> list:
        """Likely colours at (x, y) from the engine, most likely first; [] when it offers none."""
        state = self._engine_session()
        fn = getattr(state, "suggest_colors", None)
        return list(fn(hints or Hints(), x, y, count)) if fn else []


def colorize(photo, hints: Optional[Hints] = None, engine: Union[str, object] = DEFAULT_ENGINE, *,
             saturation: float = 1.0, progress: Optional[Progress] = None,
             should_stop: Optional[ShouldStop] = None, **engine_options) -> ColorizeResult:
    """Colorize ``photo`` (a SourceImage or a path) at full resolution.

    Hints outside the photo raise ``HintsError`` naming them.
    """
    session = ColorizeSession(photo, engine, **engine_options)
    hints = hints or Hints()
    problems = hints.scaled_to(session.photo.width, session.photo.height).problems_outside(
        session.photo.width, session.photo.height)
    if problems:
        raise HintsError("; ".join(problems))
    return session.render(hints, saturation=saturation, progress=progress, should_stop=should_stop)
