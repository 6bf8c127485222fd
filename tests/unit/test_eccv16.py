"""The eccv16 engine: automatic colorization at the photo's aspect ratio, hints ignored."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from colorstudio.core.hints import Hints
from colorstudio.engines.base import EngineError
from colorstudio.engines.eccv16 import Eccv16Engine, Eccv16Runner
from colorstudio.engines._neural import BFLOAT16, BFLOAT16_MIDDLE, FLOAT32, cpu_caps, prepare_lightness
from colorstudio.engines.registry import create_engine
from colorstudio.models.networks import Eccv16Net


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    module = Eccv16Net()
    g = torch.Generator().manual_seed(0)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    with torch.no_grad():
        # Sharpen the 313-bin scores so the expectation is not a flat average.
        module.model8[6].weight.mul_(40.0)
        module.model_out.weight.copy_(torch.rand(2, 313, 1, 1, generator=g) * 2 - 1)
    return module.eval()


@pytest.fixture(scope="module")
def engine(net):
    return Eccv16Engine.from_network(net, device="cpu", precision="float32", preview_side=64, render_side=96)


def photo(h=32, w=48, seed=2):
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    return (30 + 40 * y / h + 15 * np.sin(x / 3) + g.normal(0, 2, (h, w))).clip(0, 100).astype(np.float32)


def test_identity():
    assert Eccv16Engine.name == "eccv16" and Eccv16Engine.needs_weights and not Eccv16Engine.uses_hints


def test_chroma_matches_the_network_at_the_photos_aspect(engine, net):
    L = photo()
    chroma = engine.start(L).chroma(Hints(), quality="preview")
    assert chroma.ab.shape == (43, 64, 2) and chroma.lightness.shape == (43, 64)
    work = prepare_lightness(L, 64)
    with torch.no_grad():
        expected = net(work.padded)[0, :, :43, :64].permute(1, 2, 0).numpy()
    assert np.abs(expected).max() > 1.0
    assert np.abs(chroma.ab - expected).max() < 1e-2
    assert engine.start(photo(120, 80)).chroma(Hints(), quality="render").ab.shape == (96, 64, 2)


def test_hints_are_ignored(engine):
    session = engine.start(photo())
    plain = session.chroma(Hints(), quality="preview")
    hinted = session.chroma(Hints.of(points=[(10, 10, "#ff0000", 5)]), quality="preview")
    np.testing.assert_array_equal(plain.ab, hinted.ab)
    assert hinted.info["hints_used"] == 0


def test_every_precision_this_cpu_has_agrees_with_plain_float32(net):
    L = torch.rand(1, 1, 48, 40, generator=torch.Generator().manual_seed(1)) * 100
    with torch.no_grad():
        expected = net(L)
    plans = [(FLOAT32, 1e-2)] + ([(BFLOAT16, 3.0), (BFLOAT16_MIDDLE, 3.0)] if cpu_caps().bfloat16 else [])
    for precision, tolerance in plans:
        runner = Eccv16Runner(net, torch.device("cpu"), precision)
        with torch.inference_mode():
            got = runner.forward(L)
        assert got.dtype == torch.float32
        assert (got - expected).abs().max().item() < tolerance, runner.precision


def test_registry_builds_it_and_missing_model_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path))
    eng = create_engine("eccv16", device="cpu")
    assert isinstance(eng, Eccv16Engine) and not eng.loaded
    with pytest.raises(EngineError, match="the eccv16 model is not installed; install it with "
                                          "`colorstudio models install eccv16`"):
        eng.start(photo())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda(net):
    eng = Eccv16Engine.from_network(net, device="cuda", preview_side=64)
    chroma = eng.start(photo()).chroma(Hints(), quality="preview")
    with torch.no_grad():
        expected = net.cpu()(prepare_lightness(photo(), 64).padded)[0, :, :43, :64].permute(1, 2, 0).numpy()
    assert np.abs(chroma.ab - expected).max() <= 1.0 + 1e-3
