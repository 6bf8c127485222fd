"""Colour stays where it is put: protect strokes, the edge strength, a hint's reach.

A flat grey photo makes the answer obvious: without anything in the way, one red point
colours the whole photo; a protect stroke across it must keep the far side and the stroke
itself neutral, and a protect stroke must survive the hints file round trip.
"""
from __future__ import annotations

import numpy as np
import pytest

from colorstudio.core.document import Document
from colorstudio.core.hints import PROTECT_COLOR, Hints, HintsError, Stroke
from colorstudio.engines.propagation import SPEC, PropagationEngine
from colorstudio.engines._propagation import sigma_for_edge_strength

RED = "#c83232"


def chroma(ab: np.ndarray) -> np.ndarray:
    return np.hypot(ab[..., 0], ab[..., 1])


def wall(x: float = 100.0) -> Stroke:
    return Stroke(((x, 0.0), (x, 100.0)), 10.0, PROTECT_COLOR, protect=True)


@pytest.fixture
def flat():
    return PropagationEngine().start(np.full((100, 200), 50.0, np.float32))


def test_protect_stroke_round_trips_and_is_validated():
    h = Hints.of(points=[(20, 50, RED)], image_size=(200, 100)).with_stroke(wall())
    d = h.to_dict()
    assert d["strokes"][0]["protect"] is True
    back = Hints.from_dict(d)
    assert back == h and back.strokes[0].protect and back.has_protect
    # A reader that knows nothing of protect strokes still sees a neutral stroke.
    assert d["strokes"][0]["color"] == PROTECT_COLOR
    d["strokes"][0]["protect"] = "yes"
    with pytest.raises(HintsError, match=r"strokes\[0\]\.protect"):
        Hints.from_dict(d)


def test_protect_stroke_takes_no_colour():
    s = wall()
    assert s.recoloured("#ff0000") is s
    assert Stroke(((0, 0),), 4.0, "#ff0000", protect=True).color == PROTECT_COLOR


def test_colour_does_not_cross_a_protect_stroke_and_the_stroke_stays_neutral(flat):
    point = Hints.of(points=[(20, 50, RED, 5)], image_size=(200, 100))
    free = chroma(flat.chroma(point).ab)
    assert free[:, -20:].mean() > 40  # nothing in the way: the far side is red
    guarded = chroma(flat.chroma(point.with_stroke(wall())).ab)
    assert guarded[:, -90:].max() < 1.0          # the far side stays neutral
    assert guarded[:, 97:103].max() < 1.0        # so does the stroke itself
    assert guarded[:, :60].mean() > 0.9 * free[:, :60].mean()  # the near side keeps its colour


def test_reach_is_the_share_of_one_hint(flat):
    hints = Hints.of(points=[(20, 50, RED, 5), (180, 50, "#3232c8", 5)], image_size=(200, 100))
    reach = flat.reach(hints, ("point", 0))
    assert reach.min() >= 0 and reach.max() <= 1
    assert reach[:, :10].mean() > 0.8 and reach[:, -10:].mean() < 0.2
    walled = flat.reach(hints.with_stroke(wall()), ("point", 0))
    assert walled[:, -40:].max() < 0.01
    assert flat.reach(hints, ("point", 5)).max() == 0


def test_edge_strength_is_an_option_that_changes_where_colour_stops():
    opt = SPEC.option("edge_strength")
    assert opt.validate(0.5) == 0.5 and opt.default == 0.5
    with pytest.raises(ValueError):
        opt.validate(1.5)
    assert sigma_for_edge_strength(0.5) == pytest.approx(PropagationEngine().params.sigma)
    assert sigma_for_edge_strength(0.2) > sigma_for_edge_strength(0.8)
    # Two regions 6 L* apart: a weak edge. Strong edges keep the colour on its side.
    L = np.full((100, 200), 50.0, np.float32)
    L[:, 100:] = 56.0
    s = PropagationEngine().start(L)
    hints = Hints.of(points=[(20, 50, RED, 5)], image_size=(200, 100))
    soft = chroma(s.chroma(hints, options={"edge_strength": 0.2}).ab)[:, -40:].mean()
    hard = chroma(s.chroma(hints, options={"edge_strength": 0.8}).ab)[:, -40:].mean()
    assert soft > 20 > 5 > hard


def test_edge_strength_is_saved_with_the_document():
    doc = Document().with_option("edge_strength", 0.7)
    again = Document.from_dict(doc.to_dict())
    assert dict(again.options)["edge_strength"] == 0.7


def test_the_reach_job_runs_on_a_runtime_without_qt():
    from colorstudio.core.image import SourceImage
    from colorstudio.core.jobs import ReachJob
    from colorstudio.core.runtime import EngineChoice, Runtime
    grey = np.full((100, 200, 3), 128, np.uint8)
    grey[:, 100:] = 230   # a strong edge in the middle
    photo = SourceImage.from_array(grey)
    hints = Hints.of(points=[(20, 50, RED, 5)], image_size=(200, 100))
    job = ReachJob(photo, photo.content_hash, EngineChoice("propagation", "cpu"), hints, ("point", 0))
    out = job.run(Runtime())
    assert out.selection == ("point", 0) and out.hints == hints
    h, w = out.reach.shape
    assert out.reach[:, : w // 3].mean() > 0.8 and out.reach[:, -w // 3:].max() < 0.2
