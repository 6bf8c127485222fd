"""Colorize sessions: one photo, one engine, many requests.

``ColorizeSession`` keeps what does not depend on the hints (the engine's per-photo state,
the lightness at preview sizes, the last answers) so that each edit costs only the engine's
solve and the composition. Strength, saturation and the look are applied here, at
composition, never by running the engine again. ``colorize`` is the one-shot form; both
take their engines from a :class:`~colorstudio.core.runtime.Runtime` (the process's shared
one unless told otherwise), so a model is loaded once however many photos are colorized.

What you see is what you export: the settled preview (``draft=False``, the default) and
``render`` ask the engine for the same answer, computed once and cached, and differ only in
the size they are composed at. Draft previews (``draft=True``, while the user drags) may be
coarser.
"""
from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .compose import FixedChroma, chroma_field, compose
from .hints import Hints, HintsError
from .cancel import Progress, ShouldStop, check_stop
from .resample import downsample_lightness_bands, fit_size
from .style_blend import blend_style, painted_lightness_full

DEFAULT_ENGINE = "propagation"


class Picture(np.ndarray):
    """An (h, w, 3) uint8 preview that also says how it was made: ``info`` holds the
    engine's ``device``, ``precision`` and ``message`` (what it had to adapt), and
    ``engine`` its name. It is a numpy array in every other respect."""

    info: dict
    engine: str

    def __new__(cls, rgb: np.ndarray, info: Optional[dict] = None, engine: str = ""):
        obj = np.asarray(rgb).view(cls)
        obj.info = dict(info or {})
        obj.engine = engine
        return obj

    def __array_finalize__(self, obj):
        self.info = dict(getattr(obj, "info", {}) or {})
        self.engine = getattr(obj, "engine", "")


def _plain_info(info: dict) -> dict:
    """The engine's info without arrays (those are for the engine's own callers)."""
    return {k: v for k, v in (info or {}).items() if isinstance(v, (str, int, float, bool)) or v is None}


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
        for key in ("mode", "references", "strength", "look"):
            if self.info.get(key) not in (None, ""):
                prov[key] = str(self.info[key])
        if self.info.get("look") == "painting":
            prov["tones"] = "changed: the full-painting look takes the painting's lightness"
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


def _options_key(options: Optional[dict]) -> tuple:
    return tuple(sorted((str(k), repr(v)) for k, v in (options or {}).items()))


def _answer_key(quality: str, max_side: Optional[int], hints: Hints, references: tuple = (),
                options: Optional[dict] = None) -> tuple:
    """What a session's engine answer is kept under: the question it answers."""
    return (quality, max_side, hints, tuple(getattr(r, "key", id(r)) for r in references), _options_key(options))


class ColorizeSession:
    """Interactive colorization of one photo with one engine.

    ``engine`` is an engine name (taken from ``runtime``, default: the process's shared
    runtime; ``engine_options`` such as ``weights=`` build a private engine instead) or an
    Engine instance. Not thread-safe: use it from one thread (the compute thread, a script).
    """

    def __init__(self, photo, engine: Union[str, object] = DEFAULT_ENGINE, *, runtime=None,
                 engine_name: Optional[str] = None, **engine_options):
        if isinstance(photo, (str, Path)):
            from .image import open_image
            photo = open_image(photo)
        self.photo = photo
        from ..engines.base import Engine
        if isinstance(engine, Engine) or not isinstance(engine, str) and engine is not None:
            self.engine = engine
        else:
            name = engine or DEFAULT_ENGINE
            from .runtime import EngineChoice, default_runtime
            device = engine_options.pop("device", "auto")
            if engine_options:
                from ..engines.registry import create_engine
                if device != "auto":
                    engine_options["device"] = device
                self.engine = create_engine(name, **engine_options)
            else:
                self.engine = (runtime or default_runtime()).engine(EngineChoice(name, device))
            engine_name = engine_name or name
        self._name = engine_name
        self._state = None
        self._preview_L: dict[int, np.ndarray] = {}
        self._answers: "collections.OrderedDict[tuple, object]" = collections.OrderedDict()
        #: The info of the engine's last answer: device, precision, a message.
        self.last_info: dict = {}

    @property
    def engine_name(self) -> str:
        return self._name or getattr(self.engine, "name", "") or type(self.engine).__name__

    def _engine_session(self):
        if self._state is None:
            self._state = self.engine.start(self.photo.lightness, self.photo)
        return self._state

    def warm_up(self, max_side: int = 1024, should_stop: Optional[ShouldStop] = None,
                progress: Optional[Progress] = None) -> None:
        """Do the per-photo work before the first edit (the preview's lightness, the
        engine's per-photo state), so the first hint is answered quickly. An engine that
        warms up in steps reports them to ``progress`` (where a waiting request may run)."""
        self.preview_lightness(max_side)
        self._engine_session().warm_up(max_side, should_stop=should_stop, progress=progress)

    def preview_lightness(self, max_side: int) -> np.ndarray:
        """The photo's L downscaled so the long side is at most ``max_side`` (cached)."""
        if max_side not in self._preview_L:
            L = self.photo.lightness
            w, h = fit_size(L.shape[1], L.shape[0], max_side)
            self._preview_L[max_side] = downsample_lightness_bands(L, h, w)
        return self._preview_L[max_side]

    def chroma(self, hints: Optional[Hints] = None, *, draft: bool = False, max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None, should_stop: Optional[ShouldStop] = None):
        """The engine's answer (a Chroma at its working size), cached: the settled preview
        and the render share one answer for the same hints, references and options."""
        hints = hints or Hints()
        references = tuple(references or ())
        quality = "preview" if draft else "render"
        key = _answer_key(quality, max_side if draft else None, hints, references, options)
        if key not in self._answers and draft:
            # A settled answer to the same question is better than a draft and costs nothing
            # (a strength or saturation slider moving: composition only, no engine run).
            settled = _answer_key("render", None, hints, references, options)
            key = settled if settled in self._answers else key
        hit = self._answers.get(key)
        if hit is not None:
            self._answers.move_to_end(key)
            return hit
        kwargs = {"quality": quality, "max_side": max_side if draft else None, "should_stop": should_stop}
        if references:
            kwargs["references"] = references
        if options:
            kwargs["options"] = dict(options)
        answer = self._engine_session().chroma(hints, **kwargs)
        check_stop(should_stop)
        self.last_info = _plain_info(getattr(answer, "info", None) or {})
        self._answers[key] = answer
        while len(self._answers) > 4:
            self._answers.popitem(last=False)
        return answer

    @staticmethod
    def chroma_together(sessions: list, hints: list, should_stop: Optional[ShouldStop] = None) -> None:
        """Find the render answers of several photos' sessions on one engine at once, as the
        engine can (:meth:`Engine.chroma_together`: a network takes photos of one working
        size in one pass), and keep each with its session: their :meth:`render` then uses
        it. For photos without references or options (what the batch sends)."""
        if not sessions:
            return
        engine = sessions[0].engine
        if any(s.engine is not engine for s in sessions):
            raise ValueError("sessions that go together share one engine")
        hints = [h or Hints() for h in hints]
        answers = engine.chroma_together([(s._engine_session(), h) for s, h in zip(sessions, hints)],
                                         should_stop=should_stop)
        for s, h, answer in zip(sessions, hints, answers):
            s._answers[_answer_key("render", None, h)] = answer
            s.last_info = _plain_info(getattr(answer, "info", None) or {})

    def preview(self, hints: Optional[Hints] = None, max_side: int = 1024, saturation: float = 1.0, *,
                draft: bool = False, references: tuple = (), options: Optional[dict] = None,
                strength: float = 1.0, look: str = "tones", should_stop: Optional[ShouldStop] = None) -> Picture:
        """The result at screen size: (h, w, 3) uint8 with the long side at most ``max_side``.

        The settled preview (the default) is the export's picture composed smaller: the same
        engine answer as :meth:`render`. ``draft=True`` is a quick, coarser look for while
        the user drags. The returned :class:`Picture` carries the engine's info.
        """
        L = self.preview_lightness(max_side)
        answer = self.chroma(hints, draft=draft, max_side=max_side, references=references, options=options,
                             should_stop=should_stop)
        _, ab = blend_style(answer.lightness, answer, strength, look)
        if look == "painting":
            L = painted_lightness_full(L, answer, strength)
        rgb = compose(L, chroma_field(ab, answer.lightness), saturation=saturation, bit_depth=8)
        return Picture(rgb, self.last_info, self.engine_name)

    def render(self, hints: Optional[Hints] = None, saturation: float = 1.0, *, references: tuple = (),
               options: Optional[dict] = None, strength: float = 1.0, look: str = "tones", mode: str = "",
               progress: Optional[Progress] = None, should_stop: Optional[ShouldStop] = None) -> ColorizeResult:
        """The converged result at full resolution and the photo's bit depth."""
        hints = hints or Hints()
        t0 = time.perf_counter()
        answer = self.chroma(hints, references=references, options=options, should_stop=should_stop)
        _, ab = blend_style(answer.lightness, answer, strength, look)
        field_ = chroma_field(ab, answer.lightness)
        lightness = self.photo.lightness
        if look == "painting" and getattr(answer, "painted_lightness", None) is not None and strength > 0:
            # The one look that changes the photo's tones, on purpose (labelled in provenance).
            lightness = painted_lightness_full(lightness, answer, strength)
        rgb = compose(lightness, field_, saturation=saturation,
                      bit_depth=16 if getattr(self.photo, "bit_depth", 8) == 16 else 8,
                      progress=progress, should_stop=should_stop)
        info = dict(self.last_info)
        if mode:
            info["mode"] = str(mode)
        if references:
            info["references"] = ", ".join(Path(getattr(r, "path", "")).name for r in references)
        if strength < 1.0 or references:
            info["strength"] = f"{float(strength):g}"
        if look == "painting":
            info["look"] = "painting"
        return ColorizeResult(rgb, getattr(self.photo, "alpha", None), self.photo, self.engine_name, hints,
                              time.perf_counter() - t0, info)

    def render_region(self, hints: Optional[Hints], rect: tuple, saturation: float = 1.0, *,
                      references: tuple = (), options: Optional[dict] = None, strength: float = 1.0,
                      look: str = "tones", should_stop: Optional[ShouldStop] = None) -> Picture:
        """The export's own pixels (8-bit, for the screen) for ``rect`` = (x0, y0, x1, y1) in
        photo pixels: what a restorer zoomed in to 100 % sees is what will be written. Only
        the region is composed, from the same engine answer as :meth:`render`."""
        H, W = self.photo.lightness.shape
        x0, y0, x1, y1 = (int(v) for v in rect)
        x0, x1 = max(0, min(W, x0)), max(0, min(W, x1))
        y0, y1 = max(0, min(H, y0)), max(0, min(H, y1))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"the region {rect} lies outside the {W}\u00d7{H} photo")
        answer = self.chroma(hints, references=references, options=options, should_stop=should_stop)
        _, ab = blend_style(answer.lightness, answer, strength, look)
        field_ = chroma_field(ab, answer.lightness)
        L = self.photo.lightness
        if look == "painting" and getattr(answer, "painted_lightness", None) is not None and strength > 0:
            L = painted_lightness_full(L, answer, strength)
        L_region = np.ascontiguousarray(L[y0:y1, x0:x1], dtype=np.float32)
        # The field evaluated for whole rows of the photo (as the export does), then cut.
        ab_rows = field_.at(np.asarray(L[y0:y1], np.float32), rows=(y0, y1), full_shape=(H, W))
        rgb = compose(L_region, FixedChroma(ab_rows[:, :, x0:x1]), saturation=saturation, bit_depth=8)
        return Picture(rgb, self.last_info, self.engine_name)

    def reach(self, hints: Hints, selection: tuple, *, max_side: Optional[int] = None,
              options: Optional[dict] = None) -> Optional[np.ndarray]:
        """How much of the colour at each working pixel comes from one hint (``("point", i)``
        or ``("stroke", j)``), (h, w) in [0, 1] on the engine's working grid; None when the
        engine cannot say (it has no per-hint solve)."""
        fn = getattr(self._engine_session(), "reach", None)
        if fn is None:
            return None
        return fn(hints, selection, max_side=max_side, options=options)

    def suggest_colors(self, hints: Optional[Hints], x: float, y: float, count: int = 8) -> list:
        """Likely colours at (x, y) from the engine, most likely first; [] when it offers none."""
        state = self._engine_session()
        fn = getattr(state, "suggest_colors", None)
        return list(fn(hints or Hints(), x, y, count)) if fn else []

    def close(self) -> None:
        """Let go of the per-photo state (the engine itself belongs to the runtime)."""
        self._answers.clear()
        state, self._state = self._state, None
        close = getattr(state, "close", None)
        if callable(close):
            close()


def colorize(photo, hints: Optional[Hints] = None, engine: Union[str, object] = DEFAULT_ENGINE, *,
             saturation: float = 1.0, references: tuple = (), options: Optional[dict] = None,
             strength: float = 1.0, look: str = "tones", runtime=None,
             progress: Optional[Progress] = None, should_stop: Optional[ShouldStop] = None,
             **engine_options) -> ColorizeResult:
    """Colorize ``photo`` (a SourceImage or a path) at full resolution.

    Engines come from ``runtime`` (default: the process's shared one), so calling this for
    many photos loads a model once. ``references`` are paths, Reference or ReferencePicture
    objects. Hints outside the photo raise ``HintsError`` naming them.
    """
    session = ColorizeSession(photo, engine, runtime=runtime, **engine_options)
    hints = hints or Hints()
    problems = hints.scaled_to(session.photo.width, session.photo.height).problems_outside(
        session.photo.width, session.photo.height)
    if problems:
        raise HintsError("; ".join(problems))
    refs = load_references(references)
    return session.render(hints, saturation=saturation, references=refs, options=options, strength=strength,
                          look=look, progress=progress, should_stop=should_stop)


def load_references(references, need_color: bool = False) -> tuple:
    """Paths, Reference or ReferencePicture objects -> decoded ReferencePictures."""
    from .reference import ReferencePicture, load_reference
    out = []
    for ref in references or ():
        out.append(ref if isinstance(ref, ReferencePicture) else load_reference(ref, need_color=need_color))
    return tuple(out)
