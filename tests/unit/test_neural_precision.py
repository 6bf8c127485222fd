"""The CPU capability probe, and both neural engines on a CPU without native bfloat16.

This machine may well have AVX512-BF16; the probe's override (``COLORSTUDIO_CPU_CAPS``)
makes it behave as an AVX2-only CPU (an AMD EPYC Rome, say), where oneDNN's bfloat16
kernels raise. There, nothing may try bfloat16, and both engines must work end to end.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from colorstudio.core.hints import Hints
from colorstudio.engines._neural import cpu_caps, precision, prepare_lightness
from colorstudio.engines.eccv16 import Eccv16Engine
from colorstudio.engines.siggraph17 import Siggraph17Engine
from colorstudio.models.testing import colourful_network, randomise_batch_norm

#: /proc/cpuinfo flags of an AVX2-only AMD EPYC (Zen 2), abridged.
EPYC_ROME = ("fpu sse sse2 ssse3 sse4_1 sse4_2 popcnt aes xsave avx f16c rdrand fma cx16 bmi1 avx2 bmi2 "
             "sha_ni clflushopt clwb adx smap rdpid").split()


@pytest.fixture
def fresh_probe(monkeypatch):
    """The probe's cache, emptied before and after (a test may fake what the CPU says), and
    no override from the environment (the suite may run with one)."""
    monkeypatch.delenv(precision.ENV, raising=False)
    precision._probe.cache_clear()
    yield
    precision._probe.cache_clear()


def test_an_avx2_only_cpu_is_told_apart_without_running_a_kernel(monkeypatch, fresh_probe):
    def must_not_run():
        raise AssertionError("bfloat16 was tried on a CPU that lacks it")

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(EPYC_ROME))
    monkeypatch.setattr(precision, "_trial_bfloat16", must_not_run)
    monkeypatch.setattr(precision, "onednn_bfloat16", must_not_run)
    caps = cpu_caps()
    assert not caps.bfloat16 and caps.has("avx2") and not caps.has("avx512f")
    assert "no native bfloat16" in caps.reason
    assert "avx2" in caps.describe() and "bfloat16: no" in caps.describe()
    assert precision.cpu_precisions(caps) == []
    # AVX-512 without BF16 (a Skylake server): oneDNN would emulate bfloat16, slower than float32.
    precision._probe.cache_clear()
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(EPYC_ROME + ["avx512f", "avx512bw", "avx512vl",
                                                                              "avx512dq"]))
    assert not cpu_caps().bfloat16


def test_a_cpu_with_bfloat16_is_trusted_only_after_a_trial(monkeypatch, fresh_probe):
    flags = frozenset(EPYC_ROME + ["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"])
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision, "onednn_bfloat16", lambda: True)
    monkeypatch.setattr(precision, "_trial_bfloat16", lambda: "a trial bfloat16 convolution failed: boom")
    caps = cpu_caps()
    assert not caps.bfloat16 and caps.reason == "a trial bfloat16 convolution failed: boom"
    precision._probe.cache_clear()
    monkeypatch.setattr(precision, "_trial_bfloat16", lambda: None)
    assert cpu_caps().bfloat16
    # oneDNN's own refusal is enough to say no.
    precision._probe.cache_clear()
    monkeypatch.setattr(precision, "onednn_bfloat16", lambda: False)
    assert not cpu_caps().bfloat16


def test_the_override_only_takes_capabilities_away(monkeypatch, fresh_probe):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(EPYC_ROME))
    monkeypatch.setattr(precision, "onednn_bfloat16", lambda: True)
    monkeypatch.setattr(precision, "_trial_bfloat16", lambda: None)
    boasting = cpu_caps(["avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16"])
    assert not boasting.bfloat16 and not boasting.has("avx512_bf16") and boasting.has("avx2")
    monkeypatch.setenv(precision.ENV, "avx2, fma")
    caps = cpu_caps()
    assert caps.overridden == "avx2, fma" and caps.flags == frozenset({"avx2", "fma"})
    assert "forced by COLORSTUDIO_CPU_CAPS" in caps.describe()


def test_the_real_probe_answers_and_the_trial_agrees_where_it_says_yes():
    caps = cpu_caps()
    assert isinstance(caps.bfloat16, bool) and caps.reason
    if caps.bfloat16:
        assert precision._trial_bfloat16() is None


# -- both engines with the probe forced to "no bfloat16" ------------------------------------------

@pytest.fixture
def no_bfloat16(monkeypatch):
    """This process behaves as on an AVX2-only CPU; any bfloat16 tensor is an error."""
    monkeypatch.setenv(precision.ENV, ",".join(EPYC_ROME))
    assert not cpu_caps().bfloat16
    real = torch.Tensor.to

    def guarded(self, *args, **kwargs):
        if torch.bfloat16 in args or kwargs.get("dtype") is torch.bfloat16:
            raise AssertionError("bfloat16 was tried with the probe saying no")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", guarded)


def photo(h=40, w=60):
    y, x = np.mgrid[0:h, 0:w]
    return (25 + 50 * x / w + 15 * np.sin(y / 4)).clip(0, 100).astype(np.float32)


@pytest.mark.parametrize("choice", ["auto", "bfloat16"])
def test_both_engines_work_end_to_end_without_bfloat16(no_bfloat16, choice):
    hints = Hints.of(points=[(30, 20, "#c03020", 4)])
    for engine_cls, name in ((Siggraph17Engine, "siggraph17"), (Eccv16Engine, "eccv16")):
        net = randomise_batch_norm(colourful_network(name))
        with torch.no_grad():
            reference = {k: v.clone() for k, v in net.state_dict().items()}
        engine = engine_cls.from_network(net, device="cpu", precision=choice, preview_side=64, render_side=96)
        assert engine.runner.precision == "float32" and engine.precision_checks == {}
        assert all(p.dtype == torch.float32 for p in engine.runner.net.parameters())
        session = engine.start(photo())
        chroma = session.chroma(hints, quality="preview")
        assert chroma.ab.shape == (43, 64, 2) and np.isfinite(chroma.ab).all()
        assert chroma.info["precision"] == "float32" and chroma.info["device"] == "cpu"
        if choice == "bfloat16":
            assert "cannot run bfloat16 natively" in chroma.info["message"]
        else:
            assert "message" not in chroma.info
        # The answer is the network's own float32 forward (on an unchanged copy of the weights).
        plain = type(net)()
        plain.load_state_dict(reference)
        plain.eval()
        work = prepare_lightness(photo(), 64)
        with torch.no_grad():
            if name == "siggraph17":
                from colorstudio.engines._neural import hint_tensors
                expected = plain(work.padded, *hint_tensors(hints, work))
            else:
                expected = plain(work.padded)
        expected = expected[0, :, :43, :64].permute(1, 2, 0).numpy()
        assert np.abs(expected).max() > 1.0
        assert np.abs(chroma.ab - expected).max() < 1e-2
        assert engine.start(photo(80, 120)).chroma(hints, quality="render").ab.shape == (64, 96, 2)
        if name == "siggraph17":
            assert len(session.suggest_colors(hints, 10, 10, count=3)) >= 1


def test_a_mixed_precision_converts_only_the_blocks_the_network_names():
    from torch import nn

    from colorstudio.engines._neural import BFLOAT16_MIDDLE, prepare_network
    from colorstudio.models.networks import Eccv16Net
    net = Eccv16Net().eval()
    prepared = prepare_network(net, torch.device("cpu"), BFLOAT16_MIDDLE)
    dtypes = {name: p.dtype for name, p in prepared.named_parameters()}
    low = net.low_resolution_blocks
    assert {d for n, d in dtypes.items() if n.split(".")[0] in low} == {torch.bfloat16}
    assert {d for n, d in dtypes.items() if n.split(".")[0] not in low} == {torch.float32}
    # A copy: the engine's float32 network is untouched, and the checkpoint keys are the same.
    assert prepared is not net and all(p.dtype == torch.float32 for p in net.parameters())
    assert list(prepared.state_dict()) == list(net.state_dict())
    if cpu_caps().bfloat16:  # the blocks take and give float32
        with torch.inference_mode():
            out = prepared.model4(torch.rand(1, 256, 8, 8).contiguous(memory_format=torch.channels_last))
        assert out.dtype == torch.float32
    with pytest.raises(ValueError, match="declares no low-resolution blocks"):
        prepare_network(nn.Sequential(nn.Conv2d(1, 1, 1)), torch.device("cpu"), BFLOAT16_MIDDLE)
