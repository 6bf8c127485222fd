"""The siggraph17 engine: loading, working size, hints, precisions, suggested colours.

The network has random weights (and random BatchNorm statistics); what is tested is the
plumbing and arithmetic around it, compared with our plain PyTorch forward (itself checked
against the published forward in test_models_networks.py).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from colorstudio.core.color import rgb_to_lab
from colorstudio.core.hints import Hints
from colorstudio.engines.base import Cancelled, EngineError
from colorstudio.engines._neural import (BFLOAT16, BFLOAT16_MIDDLE, FLOAT32, cpu_caps, hint_tensors,
                                         prepare_lightness)
from colorstudio.engines.registry import create_engine
from colorstudio.engines.siggraph17 import Siggraph17Engine, suggest_from_distribution
from colorstudio.models import checkpoint, registry
from colorstudio.models.networks import Siggraph17Net, bin_centres
from colorstudio.models.testing import randomise_batch_norm


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return randomise_batch_norm(Siggraph17Net(), 0)


@pytest.fixture(scope="module")
def engine(net):
    return Siggraph17Engine.from_network(net, device="cpu", precision="float32", preview_side=64, render_side=96)


@pytest.fixture(scope="module")
def weights_file(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("s17") / "siggraph17-test.pth"
    torch.save(net.state_dict(), path)  # the release files' format: a plain state_dict
    return path


def photo(h=32, w=48, seed=1) -> np.ndarray:
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    return (20 + 50 * x / w + 20 * (y > h / 2) + g.normal(0, 3, (h, w))).clip(0, 100).astype(np.float32)


def plain_forward(net, work, hints=Hints()):
    ab, mask = hint_tensors(hints, work)
    with torch.no_grad():
        out = net(work.padded, ab, mask)
    h, w = work.size
    return out[0, :, :h, :w].permute(1, 2, 0).numpy()


def test_engine_identity(engine):
    assert engine.name == "siggraph17" and engine.needs_weights and engine.uses_hints
    assert registry.get_model("siggraph17").architecture == "siggraph17"


def test_chroma_keeps_the_aspect_ratio_and_crops_the_padding(engine, net):
    L = photo(32, 48)
    session = engine.start(L)
    chroma = session.chroma(Hints(), quality="preview")
    assert chroma.ab.shape == (43, 64, 2) and chroma.ab.dtype == np.float32
    assert chroma.lightness.shape == (43, 64)
    assert chroma.info["working_size"] == (64, 43) and chroma.info["engine"] == "siggraph17"
    expected = plain_forward(net, prepare_lightness(L, 64))
    assert np.abs(chroma.ab - expected).max() < 1e-2
    # Portrait photos, the render size (up to the photo's own size), and a capped side.
    tall = engine.start(photo(48, 32))
    assert tall.chroma(Hints(), quality="render").ab.shape == (64, 43, 2)
    assert engine.start(photo(120, 80)).chroma(Hints(), quality="render").ab.shape == (96, 64, 2)
    assert tall.chroma(Hints(), quality="render", max_side=40).ab.shape == (40, 27, 2)


def test_hints_reach_the_network(engine, net):
    L = photo()
    hints = Hints.of(points=[(24, 16, "#d02020", 4)], strokes=[([(5, 5), (20, 8)], 4, "#2050d0")])
    session = engine.start(L)
    with_hints = session.chroma(hints, quality="preview")
    without = session.chroma(Hints(), quality="preview")
    expected = plain_forward(net, prepare_lightness(L, 64), hints)
    assert np.abs(with_hints.ab - expected).max() < 1e-2
    assert np.abs(with_hints.ab - without.ab).max() > 1e-3
    assert with_hints.info["hints_used"] == 2


def precisions_here():
    """float32, and the bfloat16 precisions only where the CPU probe allows them."""
    out = [(FLOAT32, 1e-2)]
    if cpu_caps().bfloat16:
        out += [(BFLOAT16, 3.0), (BFLOAT16_MIDDLE, 3.0)]
    return out


def test_every_precision_this_cpu_has_agrees_with_plain_float32(net):
    g = torch.Generator().manual_seed(5)
    L = torch.rand(1, 1, 40, 56, generator=g) * 100
    ab = torch.zeros(1, 2, 40, 56)
    mask = torch.zeros(1, 1, 40, 56)
    ab[:, :, 8:12, 8:12], mask[:, :, 8:12, 8:12] = 45.0, 1.0
    from colorstudio.engines.siggraph17 import Siggraph17Runner
    with torch.no_grad():
        expected = net(L, ab, mask)
    for precision, tolerance in precisions_here():
        runner = Siggraph17Runner(net, torch.device("cpu"), precision)
        with torch.inference_mode():
            got = runner.decode(runner.encode(L, ab, mask))
        assert got.dtype == torch.float32 and got.shape == expected.shape
        assert (got - expected).abs().max().item() < tolerance, runner.precision
        # The runner runs the network's own modules: the published key layout, unchanged.
        assert list(runner.net.state_dict()) == list(net.state_dict())


def test_loads_a_published_format_file_once_and_strictly(weights_file, net, monkeypatch, caplog):
    calls = []
    real = checkpoint.load_network

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "load_network", counting)
    eng = create_engine("siggraph17", weights=str(weights_file), device="cpu", precision="float32",
                        preview_side=64)
    assert not eng.loaded  # lazily, on the compute thread
    with caplog.at_level("WARNING"):
        first = eng.start(photo())
        second = eng.start(photo(40, 40))
    assert len(calls) == 1 and eng.loaded
    assert "without the published checksum check" in caplog.text
    assert "not checked against the published checksum" in first.chroma(Hints(), quality="preview").info["weights"]
    for key, value in eng.runner.net.state_dict().items():
        assert torch.equal(value, net.state_dict()[key])
    assert second.chroma(Hints(), quality="preview").ab.shape == (64, 64, 2)


def test_bad_weights_files_are_clear_errors(tmp_path):
    wrong = tmp_path / "wrong.pth"
    torch.save({"model1.0.weight": torch.zeros(64, 4, 3, 3)}, wrong)
    with pytest.raises(EngineError, match=r"wrong\.pth is not a checkpoint of the siggraph17 network: "
                                          r"it lacks the weight model1\.0\.bias"):
        Siggraph17Engine(weights=wrong, device="cpu").start(photo())
    with pytest.raises(EngineError, match="does not exist"):
        Siggraph17Engine(weights=tmp_path / "missing.pth", device="cpu").start(photo())


def test_missing_model_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "empty"))
    with pytest.raises(EngineError) as err:
        Siggraph17Engine(device="cpu").start(photo())
    assert str(err.value) == ("the siggraph17 model is not installed; install it with `colorstudio models "
                              "install siggraph17`, or on an offline machine `colorstudio models import "
                              "siggraph17 FILE`")


def test_installed_model_is_checked_against_the_published_checksum(weights_file, tmp_path, monkeypatch):
    from dataclasses import replace
    cache = tmp_path / "models"
    cache.mkdir()
    info = registry.get_model("siggraph17")
    os.symlink(weights_file, cache / info.filename)
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(cache))
    with pytest.raises(EngineError, match="does not match the published checksum.*install again"):
        Siggraph17Engine(device="cpu", precision="float32").start(photo())
    digest = checkpoint.sha256_file(weights_file)
    monkeypatch.setitem(registry.MODELS, "siggraph17", registry.derive(info, sha256_prefix=digest[:8]))
    eng = Siggraph17Engine(device="cpu", precision="float32", preview_side=64)
    chroma = eng.start(photo()).chroma(Hints(), quality="preview")
    assert chroma.info["weights"] == "published siggraph17 weights"


def test_cancel(engine):
    session = engine.start(photo())
    with pytest.raises(Cancelled):
        session.chroma(Hints(), quality="preview", should_stop=lambda: True)
    answers = iter([False, True])
    with pytest.raises(Cancelled):  # between the encoder and the decoder
        session.chroma(Hints(), quality="preview", should_stop=lambda: next(answers, True))


def test_bad_arguments(engine):
    with pytest.raises(EngineError, match="quality must be"):
        engine.start(photo()).chroma(Hints(), quality="fast")
    with pytest.raises(EngineError, match="no device called"):
        Siggraph17Engine(device="gpu0")


# -- suggested colours -------------------------------------------------------------------------

def test_suggestions_are_deterministic_ordered_and_distinct(engine):
    L = photo()
    hints = Hints.of(points=[(24, 16, "#c08040")])
    first = engine.start(L).suggest_colors(hints, 30, 10)
    again = engine.start(L).suggest_colors(hints, 30, 10)
    assert first == again and 1 <= len(first) <= 8
    shares = [s for _, s in first]
    assert shares == sorted(shares, reverse=True) and all(0 < s <= 1 for s in shares)
    colours = [c for c, _ in first]
    assert len(set(colours)) == len(colours)
    assert all(len(c) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c) for c in colours)
    assert len(engine.start(L).suggest_colors(hints, 30, 10, count=3)) <= 3


def test_suggestions_reuse_the_last_preview_when_the_hints_match(engine, monkeypatch):
    session = engine.start(photo())
    hints = Hints.of(points=[(24, 16, "#c08040")])
    session.chroma(hints, quality="preview")
    calls = []
    real = type(engine.runner).encode
    monkeypatch.setattr(type(engine.runner), "encode", lambda self, *a: calls.append(1) or real(self, *a))
    session.suggest_colors(hints, 10, 10)
    assert calls == []
    session.suggest_colors(Hints(), 10, 10)
    assert calls == [1]


def test_suggestions_read_the_bins_in_the_published_a_b_order(engine, net):
    """Only bin (a=60, b=-30) is likely: the first suggestion must have that chroma.

    A transposed reading of the 23x23 grid would suggest a=-30, b=60 (a yellow-green)
    instead of this magenta.
    """
    head = net.model_class[0]
    saved = head.weight.detach().clone(), head.bias.detach().clone()
    target = int(((60 + 110) // 10) * 23 + (-30 + 110) // 10)
    assert tuple(bin_centres()[target].tolist()) == (60.0, -30.0)
    try:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
            head.bias[target] = 60.0   # x0.2 softening -> 12: ~99.7 % of the mass
        L = np.full((32, 48), 50.0, np.float32)
        suggestions = engine.start(L).suggest_colors(Hints(), 20, 20)
    finally:
        with torch.no_grad():
            head.weight.copy_(saved[0])
            head.bias.copy_(saved[1])
    (rgb, share), *_ = suggestions
    lab = rgb_to_lab(np.array([rgb], np.float32) / 255)[0]
    assert abs(lab[0] - 50) < 1.5
    assert abs(lab[1] - 60) < 3 and abs(lab[2] + 30) < 3
    assert share > 0.99


def test_suggestions_outside_the_photo_or_with_a_bad_count(engine):
    session = engine.start(photo())
    with pytest.raises(EngineError, match="outside the 48\u00d732 photo"):
        session.suggest_colors(Hints(), 100, 10)
    with pytest.raises(EngineError, match="count must be at least 1"):
        session.suggest_colors(Hints(), 10, 10, count=0)


def test_grouping_of_a_distribution():
    centres = bin_centres().numpy()

    def index(a, b):
        return int(np.flatnonzero((centres[:, 0] == a) & (centres[:, 1] == b))[0])

    p = np.full(529, 1e-4)
    p[index(20, 40)] = 0.30      # an orange-ish peak with a neighbour
    p[index(30, 40)] = 0.25
    p[index(-30, 30)] = 0.20     # a distinct green
    out = suggest_from_distribution(p, 60.0, count=4)
    (first, s1), (second, s2) = out[0], out[1]
    lab1 = rgb_to_lab(np.array([first], np.float32) / 255)[0]
    lab2 = rgb_to_lab(np.array([second], np.float32) / 255)[0]
    # The two neighbouring bins are one suggestion (their weighted mean), the likeliest.
    assert 22 < lab1[1] < 28 and abs(lab1[2] - 40) < 3 and s1 > 0.5
    assert abs(lab2[1] + 30) < 3 and abs(lab2[2] - 30) < 3 and 0.2 < s2 < 0.27
    assert suggest_from_distribution(np.zeros(529), 50.0) == []
    with pytest.raises(ValueError):
        suggest_from_distribution(np.ones(313), 50.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_half_precision_stays_within_one_ab_unit(net):
    eng = Siggraph17Engine.from_network(net, device="cuda", preview_side=64)
    assert eng.runner.device.type == "cuda" and eng.runner.precision in ("float16", "float32")
    chroma = eng.start(photo()).chroma(Hints(), quality="preview")
    expected = plain_forward(net.cpu(), prepare_lightness(photo(), 64))
    assert np.abs(chroma.ab - expected).max() <= 1.0 + 1e-3


def test_suggestions_do_not_depend_on_what_ran_last(engine):
    L = photo(60, 90)
    hints = Hints.of(points=[(40, 30, "#4080c0")])
    fresh = engine.start(L).suggest_colors(hints, 70, 20)
    session = engine.start(L)
    session.chroma(hints, quality="render")   # a render at another working size ran last
    assert session.suggest_colors(hints, 70, 20) == fresh
