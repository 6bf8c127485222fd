"""The one engine interface.

An engine turns a photo's lightness (and hints, and optionally a reference) into chroma at
a working size of its own choosing. It never sees full-resolution pixels on the way out:
``core.compose`` brings the chroma back to the photo's size, edge-aware, and joins it with
the photo's own L, so no engine can change a photo's tones.

Lifecycle: ``engine.start(lightness)`` is called once per photo on the compute thread and
returns an ``EngineSession`` that may cache whatever does not depend on the hints. Each
request then calls ``session.chroma(hints, quality=...)``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from ..core.hints import Hints
from ..core.cancel import Cancelled  # noqa: F401  (engines raise it; re-exported here)

StopCallback = Callable[[], bool]


class EngineError(RuntimeError):
    """An engine could not produce a result; the message is a sentence for the user."""


@dataclass
class Chroma:
    """An engine's answer at its working size.

    ``ab`` is (h, w, 2) float32 CIELAB chroma; ``lightness`` is the (h, w) L the engine
    worked from (the guide for edge-aware upsampling). ``info`` says how it was made
    (``device``, ``precision``, a ``message`` for the user when the engine had to adapt).

    Strength (reference, palette and style modes) is applied at composition, never by
    running the engine again: the composed chroma is ``base_ab + strength * (ab - base_ab)``,
    where ``base_ab`` (same shape as ``ab``; None means neutral grey) is what strength 0
    looks like. ``painted_lightness`` (h, w), where an engine has one, is its own L (a
    stylization's): the "full painting" look blends the photo's L towards it by strength.
    Every other look keeps the photo's L.
    """

    ab: np.ndarray
    lightness: np.ndarray
    info: dict = field(default_factory=dict)
    base_ab: Optional[np.ndarray] = None
    painted_lightness: Optional[np.ndarray] = None


class EngineSession(ABC):
    """Per-photo state of an engine. Created and used on the compute thread only."""

    def warm_up(self, max_side: Optional[int] = None, should_stop: Optional[StopCallback] = None,
                progress: Optional[Callable[[int, int], None]] = None) -> None:
        """The per-photo work to do before the first hint arrives (none by default). An
        engine that does it in steps reports each to ``progress(done, total)``: on the
        app's compute thread that is where a request that arrived meanwhile is answered."""

    @abstractmethod
    def chroma(self, hints: Hints, *, quality: str = "render", max_side: Optional[int] = None,
               references: tuple = (), options: Optional[dict] = None,
               should_stop: Optional[StopCallback] = None) -> Chroma:
        """Chroma for ``hints`` (in full-resolution photo coordinates).

        ``quality`` is "preview" (fast, coarse, for live feedback while the user edits) or
        "render" (converged, for export). ``max_side`` caps the working size's long side.
        ``references`` are decoded ``core.reference.ReferencePicture`` objects
        (reference, palette and style engines); ``options`` the engine's own settings, as
        its SPEC declares them. Engines ignore what they do not use.
        """


class Engine(ABC):
    """A colorization method. Subclasses set the class attributes below."""

    name: str = ""
    label: str = ""
    description: str = ""
    needs_weights: bool = False
    uses_hints: bool = True
    uses_reference: bool = False

    @abstractmethod
    def start(self, lightness: np.ndarray, photo=None) -> EngineSession:
        """Begin work on a photo whose full-resolution L* (h, w, float32, 0..100) is given;
        ``photo`` is its SourceImage where there is one (an engine that needs the photo's
        own colour, like palette transfer, reads it from there)."""

    def together_key(self, height: int, width: int):
        """A key under which photos of this size may go through the engine together, in one
        pass (:meth:`chroma_together`): photos with equal keys have equal network inputs'
        shapes. None (the default): this engine takes photos one at a time."""
        return None

    def chroma_together(self, items: list, should_stop: Optional[StopCallback] = None) -> list:
        """The render chroma for several ``(session, hints)`` pairs of this engine whose
        photos have one :meth:`together_key`, in their order. By default one at a time."""
        return [session.chroma(hints, quality="render", should_stop=should_stop) for session, hints in items]

    def close(self) -> None:  # pragma: no cover - optional
        """Release models and memory."""
