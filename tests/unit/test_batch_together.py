"""Photos of one size through a network together: the engines' stacked pass, its fallback
when the device runs out of memory, and a batch that groups the photos waiting for it.

The networks have random weights (the published files are not here); what is tested is
that a pass for several photos gives each photo what a pass of its own gives, and that a
batch makes such passes. Whether they pay is a GPU's matter (see bench/results/batch.md)."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from colorstudio.core.batch import BatchSettings, EngineCache, run_batch
from colorstudio.core.batch import run as batch_run
from colorstudio.core.batch import step
from colorstudio.core.hints import Hints, PointHint
from colorstudio.engines.eccv16 import Eccv16Engine
from colorstudio.engines.siggraph17 import Siggraph17Engine
from colorstudio.models.networks import Eccv16Net, Siggraph17Net
from colorstudio.models.testing import randomise_batch_norm


def _engine(cls, net_cls):
    torch.manual_seed(0)
    return cls.from_network(randomise_batch_norm(net_cls(), 0), device="cpu", precision="float32",
                            preview_side=64, render_side=96)


@pytest.fixture(scope="module")
def s17():
    return _engine(Siggraph17Engine, Siggraph17Net)


@pytest.fixture(scope="module")
def e16():
    return _engine(Eccv16Engine, Eccv16Net)


def lightness(h: int, w: int, seed: int) -> np.ndarray:
    """A photo of its own for each seed: a ramp in its own direction, a dark disc in its own
    place, noise."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w], np.float32)[:, None, None]
    angle = g.uniform(0, 2 * np.pi)
    cy, cx = g.uniform(0.2, 0.8, 2)
    L = 50 + 40 * ((x - 0.5) * np.cos(angle) + (y - 0.5) * np.sin(angle))
    L = np.where((y - cy) ** 2 + (x - cx) ** 2 < 0.04, 10.0, L)
    return (L + g.normal(0, 3, (h, w))).clip(0, 100).astype(np.float32)


class Passes:
    """Counts the photos in each pass of ``engine``'s network through ``forward_together``."""

    def __init__(self, engine, monkeypatch, fail_together: bool = False):
        self.sizes: list[int] = []
        original = type(engine).forward_together

        def counted(this, works, hints, should_stop=None):
            self.sizes.append(len(works))
            if fail_together:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return original(this, works, hints, should_stop)

        monkeypatch.setattr(type(engine), "forward_together", counted)


@pytest.mark.parametrize("which", ["s17", "e16"])
def test_a_pass_for_several_photos_gives_each_what_its_own_pass_gives(which, request, monkeypatch):
    engine = request.getfixturevalue(which)
    photos = [lightness(120, 180, i) for i in range(3)] + [lightness(150, 150, 7)]
    hints = [Hints(points=(PointHint(30, 40, "#c86432", 6),)), Hints(),
             Hints(points=(PointHint(150, 90, "#3366aa", 8),)), Hints()]
    alone = [engine.start(L).chroma(h, quality="render") for L, h in zip(photos, hints)]
    passes = Passes(engine, monkeypatch)
    together = engine.chroma_together([(engine.start(L), h) for L, h in zip(photos, hints)])
    # The three 120x180 photos share one pass; the square one, alone, takes the usual way.
    assert passes.sizes == [3]
    assert [c.info.get("together") for c in together] == [3, 3, 3, None]
    for a, b in zip(alone, together):
        assert a.ab.shape == b.ab.shape and np.array_equal(a.lightness, b.lightness)
        np.testing.assert_allclose(b.ab, a.ab, atol=1e-3)
    if which == "s17":
        # The photos get answers of their own, so a mix-up would show. (eccv16 with random
        # weights answers every photo alike: for it, this test checks the plumbing.)
        assert np.abs(alone[0].ab - alone[1].ab).max() > 1.0
        # The hints differ photo by photo and each photo got its own: the first and third
        # answers are not the plain network's for the same L.
        plain = engine.start(photos[0]).chroma(Hints(), quality="render")
        assert np.abs(plain.ab - together[0].ab).max() > 0.5
    assert engine.together_key(120, 180) == engine.together_key(121, 181) != engine.together_key(150, 150)


def test_out_of_memory_together_takes_the_photos_one_at_a_time(s17, monkeypatch, caplog):
    photos = [lightness(120, 180, i) for i in range(3)]
    alone = [s17.start(L).chroma(Hints(), quality="render") for L in photos]
    passes = Passes(s17, monkeypatch, fail_together=True)
    with caplog.at_level("WARNING"):
        together = s17.chroma_together([(s17.start(L), Hints()) for L in photos])
    assert passes.sizes == [3]
    assert "one at a time" in caplog.text
    for a, b in zip(alone, together):
        np.testing.assert_allclose(b.ab, a.ab, atol=1e-4)
        assert "together" not in b.info


def test_another_error_together_is_not_hidden(s17, monkeypatch):
    def broken(this, works, hints, should_stop=None):
        raise ValueError("a bug")

    monkeypatch.setattr(Siggraph17Engine, "forward_together", broken)
    with pytest.raises(ValueError, match="a bug"):
        s17.chroma_together([(s17.start(lightness(40, 60, i)), Hints()) for i in range(2)])


def _photos(folder: Path) -> list[str]:
    folder.mkdir()
    names = []
    for i in range(4):
        Image.fromarray((lightness(120, 180, i) * 2.55).astype(np.uint8)).save(folder / f"same-{i}.png")
        names.append(f"same-{i}.png")
    Image.fromarray((lightness(150, 150, 9) * 2.55).astype(np.uint8)).save(folder / "square.png")
    return names + ["square.png"]


def test_a_batch_puts_the_photos_waiting_through_the_network_together(s17, tmp_path, monkeypatch):
    names = _photos(tmp_path / "src")
    settings = dict(mode="auto", engine="siggraph17", autosave=str(tmp_path / "autosave"))
    # One photo at a time first: the reference outputs.
    one = run_batch(tmp_path / "src", tmp_path / "one", BatchSettings(together=1, **settings),
                    runtime=EngineCache(engine=s17))
    assert one.counts["done"] == 5

    # The compute thread is held until every photo is decoded and waiting for it, so the
    # group it takes does not depend on how fast the decoding threads are. (Counted as the
    # photos enter the pipeline's waiting room: a photo is decoded a moment before it gets
    # there, and a count of decodes let the compute thread start one photo short.)
    all_waiting, entered = threading.Event(), []

    class WaitingRoom(list):
        def append(self, item) -> None:
            super().append(item)
            entered.append(item)       # the first compute call takes its photo out before it waits
            if len(entered) == len(names):
                all_waiting.set()

    pipeline_init = batch_run.LocalPipeline.__init__

    def init(self, *args, **kwargs) -> None:
        pipeline_init(self, *args, **kwargs)
        self._waiting = WaitingRoom()

    class HeldRuntime(EngineCache):
        def engine(self, choice, device=None):
            assert all_waiting.wait(60), "the photos were not all decoded and waiting"
            return super().engine(choice, device)

    monkeypatch.setattr(batch_run.LocalPipeline, "__init__", init)
    passes = Passes(s17, monkeypatch)
    records = []
    summary = run_batch(tmp_path / "src", tmp_path / "out", BatchSettings(together=4, **settings),
                        runtime=HeldRuntime(engine=s17), on_record=records.append)
    assert summary.counts["done"] == 5 and summary.pool == "threads"
    assert passes.sizes == [4], "the four photos of one size went through in one pass, the square one alone"
    for name in names:
        a = np.asarray(Image.open(tmp_path / "one" / name), np.int16)
        b = np.asarray(Image.open(tmp_path / "out" / name), np.int16)
        assert a.shape == b.shape and a.ndim == 3
        assert np.abs(a - b).max() <= 1, name
    assert all(r["status"] == "done" and r["seconds_colorize"] > 0 for r in records)


def test_how_many_photos_go_together(monkeypatch):
    cpu = BatchSettings(mode="auto", engine="siggraph17")
    monkeypatch.setattr(batch_run, "gpu_may_be_used", lambda device: False)
    assert batch_run.photos_together(cpu, "threads") == 1
    assert batch_run.photos_together(BatchSettings(mode="auto", engine="siggraph17", together=3), "threads") == 3
    monkeypatch.setattr(batch_run, "gpu_may_be_used", lambda device: True)
    assert batch_run.photos_together(cpu, "threads") == step.GPU_TOGETHER
    assert batch_run.photos_together(cpu, "processes") == 1
    # A weight-free engine never runs on a GPU: nothing to group.
    assert batch_run.photos_together(BatchSettings(mode="hints", engine="propagation"), "threads") == 1
    pipeline = batch_run.LocalPipeline(cpu, jobs=1, together=4)
    try:
        assert pipeline.in_flight == 1 + 2 + 1 + 3
    finally:
        pipeline.close()


@pytest.mark.parametrize("value", [0, 65, True, 2.5])
def test_a_bad_together_is_one_sentence(value, tmp_path):
    (tmp_path / "src").mkdir()
    with pytest.raises(step.BatchError, match="--together must be a whole number from 1 to 64"):
        run_batch(tmp_path / "src", tmp_path / "out", BatchSettings(mode="hints", together=value))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_a_shared_pass_gives_each_photo_its_own_answer(monkeypatch):
    torch.manual_seed(0)
    engine = Siggraph17Engine.from_network(randomise_batch_norm(Siggraph17Net(), 0), device="cuda",
                                           preview_side=64, render_side=96)
    assert engine.runner.device.type == "cuda"
    photos = [lightness(120, 180, i) for i in range(4)]
    hints = [Hints(points=(PointHint(30 + 20 * i, 40, "#c86432", 6),)) for i in range(4)]
    alone = [engine.start(L).chroma(h, quality="render") for L, h in zip(photos, hints)]
    passes = Passes(engine, monkeypatch)
    together = engine.chroma_together([(engine.start(L), h) for L, h in zip(photos, hints)])
    assert passes.sizes == [4]
    for a, b in zip(alone, together):
        # Half precision may round a stacked pass's sums otherwise: within one ab unit.
        assert np.abs(a.ab - b.ab).max() <= 1.0
