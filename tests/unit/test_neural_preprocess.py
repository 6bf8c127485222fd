"""Shared neural-engine plumbing: devices, working size, padding, hints, memory fallback."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from colorstudio.core.color import hex_to_ab
from colorstudio.core.hints import Hints
from colorstudio.engines.base import EngineError
from colorstudio.engines._neural import (FLOAT32, NeuralEngine, NeuralSession, Runner, hint_tensors,
                                         is_out_of_memory, prepare_lightness, resolve_device, round_up,
                                         shrink_side, working_shape)


def test_working_shape_keeps_the_aspect_ratio():
    assert working_shape(32, 48, 64) == (43, 64)
    assert working_shape(48, 32, 64) == (64, 43)
    assert working_shape(1000, 1000, 256) == (256, 256)
    assert working_shape(3000, 4000, 512) == (384, 512)
    assert working_shape(10, 5000, 256) == (1, 256)  # never zero
    assert working_shape(20, 30, 256) == (171, 256)  # small photos are enlarged to the network's scale


def test_prepare_lightness_pads_to_multiples_of_8_with_edge_values():
    H, W = 32, 48
    L = np.tile(np.linspace(10, 90, W, dtype=np.float32), (H, 1))
    L[-1, :] = 70.0
    work = prepare_lightness(L, 64)
    assert work.size == (43, 64) and work.full_size == (32, 48)
    assert work.lightness.shape == (43, 64) and work.lightness.dtype == np.float32
    assert work.padded.shape == (1, 1, 48, 64)
    pad = work.padded[0, 0].numpy()
    np.testing.assert_array_equal(pad[:43], work.lightness)
    # The padding repeats the last real row (edge padding), so no false edge is invented.
    for row in range(43, 48):
        np.testing.assert_array_equal(pad[row], work.lightness[-1])
    # A horizontal ramp stays a ramp: the resize keeps the photo's content where it was.
    assert np.all(np.diff(work.lightness[10]) > 0)
    assert 0 <= work.lightness.min() and work.lightness.max() <= 100


def test_hint_tensors_mark_the_hint_and_leave_the_padding_empty():
    L = np.full((32, 48), 50.0, np.float32)
    work = prepare_lightness(L, 64)           # scale 4/3: working (43, 64), padded (48, 64)
    hints = Hints.of(points=[(24.0, 16.0, "#3366cc", 3.0)])
    ab, mask = hint_tensors(hints, work)
    assert ab.shape == (1, 2, 48, 64) and mask.shape == (1, 1, 48, 64)
    m = mask[0, 0].numpy()
    assert set(np.unique(m)) == {0.0, 1.0}
    ys, xs = np.nonzero(m)
    # Centre (24, 16) in photo pixels is (32, 21.3) at the working size; radius 3 -> 4.
    assert abs(xs.mean() + 0.5 - 32) < 0.6 and abs(ys.mean() + 0.5 - 21.33) < 0.6
    assert 3.5 <= (xs.max() - xs.min() + 1) / 2 <= 4.6
    a, b = hex_to_ab("#3366cc")
    np.testing.assert_allclose(ab[0, 0].numpy()[m > 0], a, atol=1e-4)
    np.testing.assert_allclose(ab[0, 1].numpy()[m > 0], b, atol=1e-4)
    assert not ab[0].numpy()[:, m == 0].any()
    assert not m[43:].any()
    empty_ab, empty_mask = hint_tensors(Hints(), work)
    assert not empty_ab.any() and not empty_mask.any()


def test_round_up_and_shrink():
    assert [round_up(n) for n in (1, 8, 9, 43)] == [8, 8, 16, 48]
    assert shrink_side(512) == 360 and shrink_side(360) == 256 and shrink_side(256) == 184
    assert shrink_side(184) == 128 and shrink_side(128) is None and shrink_side(136) is None
    assert shrink_side(64) is None


def test_devices():
    assert resolve_device("auto").type in ("cuda", "mps", "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(EngineError, match="no device called 'tpu'"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_without_cuda():
    with pytest.raises(EngineError, match="no CUDA GPU is available.*--device cpu"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_auto_prefers_cuda():
    assert resolve_device("auto").type == "cuda"


def test_is_out_of_memory():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried 9 GB"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


# -- the out-of-memory fallback, with a tiny stand-in network ---------------------------------

class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)


class TinyRunner(Runner):
    def forward(self, L):
        with torch.inference_mode():
            return self.net.conv(self.to_input(L)).float().cpu()


class FakeGpuRunner(TinyRunner):
    """Claims to be on CUDA and runs out of memory above ``limit`` pixels of long side."""

    def __init__(self, net, limit):
        super().__init__(net, torch.device("cpu"), FLOAT32)
        self.device = torch.device("cuda")
        self.limit = limit
        self.sides = []

    def to_input(self, t):
        return t.float()

    def forward(self, L):
        self.sides.append(max(L.shape[2:]))
        if max(L.shape[2:]) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return super().forward(L)


class TinyEngine(NeuralEngine):
    name = "tiny"

    def make_runner(self, net, device, precision=FLOAT32):
        return TinyRunner(net, device, precision)

    def calibrate(self, runner, size=128):
        return runner.forward(torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(0)) * 100)

    def start(self, lightness, photo=None):
        return TinySession(self, lightness)


class TinySession(NeuralSession):
    def chroma(self, hints, *, quality="render", max_side=None, references=(), options=None, should_stop=None):
        side = self.side_for(quality, max_side)
        (work, out), messages = self.engine.run_with_fallback(
            lambda s: (self.working(s), self.engine.runner.forward(self.working(s).padded)), side)
        return work, out, self.info(work, messages)


@pytest.fixture
def tiny_engine():
    torch.manual_seed(0)
    return TinyEngine.from_network(TinyNet(), device="cpu", precision="float32", render_side=512)


def test_out_of_gpu_memory_retries_smaller(tiny_engine):
    fake = FakeGpuRunner(tiny_engine._cpu_net, limit=300)
    tiny_engine.runner = fake
    work, out, info = tiny_engine.start(np.full((600, 800), 50, np.float32)).chroma(Hints())
    assert fake.sides == [512, 360, 256]
    assert work.size == (192, 256) and out.shape[2:] == (192, 256)
    assert info["device"] == "cuda"
    assert "ran out of memory at 512 px" in info["message"] and "worked at 256 px" in info["message"]


def test_out_of_gpu_memory_everywhere_moves_to_the_cpu(tiny_engine):
    fake = FakeGpuRunner(tiny_engine._cpu_net, limit=0)
    tiny_engine.runner = fake
    work, out, info = tiny_engine.start(np.full((600, 800), 50, np.float32)).chroma(Hints())
    assert fake.sides == [512, 360, 256, 184, 128]
    assert tiny_engine.runner is not fake and tiny_engine.runner.device.type == "cpu"
    # The full working size again, computed on the CPU: a real result, not the input.
    assert work.size == (384, 512) and info["device"] == "cpu"
    with torch.no_grad():
        expected = tiny_engine._cpu_net.conv(work.padded)
    assert torch.allclose(out, expected, atol=1e-5)
    assert "now runs on the CPU" in info["message"]


def test_out_of_memory_on_the_cpu_is_a_clear_error(tiny_engine):
    class Greedy(TinyRunner):
        def forward(self, L):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 99 GB")

    tiny_engine.runner = Greedy(tiny_engine._cpu_net, torch.device("cpu"))
    with pytest.raises(EngineError, match="not enough memory to run tiny at 256 px"):
        tiny_engine.start(np.full((30, 40), 50, np.float32)).chroma(Hints())


def test_other_errors_are_not_mistaken_for_memory(tiny_engine):
    class Broken(TinyRunner):
        def forward(self, L):
            raise ValueError("a bug")

    tiny_engine.runner = Broken(tiny_engine._cpu_net, torch.device("cpu"))
    with pytest.raises(ValueError, match="a bug"):
        tiny_engine.start(np.full((30, 40), 50, np.float32)).chroma(Hints())


def test_side_and_argument_checks(tiny_engine):
    assert tiny_engine.side_for("preview", None) == 256
    assert tiny_engine.side_for("render", None) == 512
    assert tiny_engine.side_for("render", 300) == 300
    assert tiny_engine.side_for("preview", 1024) == 256
    # Renders of small photos work at the photo's size, but never below the preview side.
    assert tiny_engine.side_for("render", None, 400) == 400
    assert tiny_engine.side_for("render", None, 100) == 256
    assert tiny_engine.side_for("render", None, 4000) == 512
    assert tiny_engine.start(np.zeros((300, 200), np.float32)).side_for("render", None) == 300
    with pytest.raises(EngineError, match="quality must be 'preview' or 'render'"):
        tiny_engine.side_for("best", None)
    with pytest.raises(EngineError, match="no precision called 'int8'"):
        TinyEngine(precision="int8")
    with pytest.raises(EngineError, match="non-empty 2-D"):
        tiny_engine.start(np.zeros((0, 3), np.float32))


class ScriptedRunner:
    """Stands in for a runner in a precision: never runs anything."""

    def __init__(self, precision):
        self.precision, self.device = precision.name, torch.device("cpu")

    def release(self):
        pass


def scripted_engine(monkeypatch, bfloat16: bool, verdicts=()):
    """An engine whose CPU probe answers ``bfloat16`` and whose precision checks answer
    ``verdicts`` in turn; it records the precisions it built and checked."""
    from dataclasses import replace
    from colorstudio.engines._neural import engine as engine_module
    caps = replace(engine_module.cpu_caps(), bfloat16=bfloat16, reason="scripted")
    monkeypatch.setattr(engine_module, "cpu_caps", lambda: caps)

    class Scripted(TinyEngine):
        def make_runner(self, net, device, precision=FLOAT32):
            self.built.append(precision.name)
            return ScriptedRunner(precision)

        def _close_enough(self, reference, candidate):
            self.tried.append(candidate.precision)
            return self.verdicts.pop(0)

    class MixedTinyNet(TinyNet):
        low_resolution_blocks = ("conv",)

    def make(precision="auto"):
        eng = Scripted(device="cpu", precision=precision)
        eng.built, eng.tried, eng.verdicts = [], [], list(verdicts)
        eng._cpu_net = MixedTinyNet()
        return eng
    return make


def test_precision_ladder_on_cpus_with_bfloat16(monkeypatch):
    """All-bfloat16 when close enough, else bfloat16 only in the middle, else float32."""
    outcomes = []
    for verdicts in ([True], [False, True], [False, False]):
        eng = scripted_engine(monkeypatch, True, verdicts)()
        outcomes.append((eng._choose_runner(torch.device("cpu")).precision, eng.tried))
    assert outcomes == [
        ("bfloat16", ["bfloat16"]),
        ("float32 (bfloat16 middle)", ["bfloat16", "float32 (bfloat16 middle)"]),
        ("float32", ["bfloat16", "float32 (bfloat16 middle)"]),
    ]


def test_a_cpu_without_bfloat16_never_builds_a_bfloat16_runner(monkeypatch):
    make = scripted_engine(monkeypatch, False)
    for choice in ("auto", "bfloat16", "float16"):
        eng = make(choice)
        assert eng._choose_runner(torch.device("cpu")).precision == "float32"
        assert eng.built == ["float32"] and eng.tried == []
    assert eng.notices == ["this CPU cannot run float16 natively (scripted), so tiny runs in float32"]
    # Forced on a CPU that has it, bfloat16 is used as asked, without a check.
    forced = scripted_engine(monkeypatch, True)("bfloat16")
    assert forced._choose_runner(torch.device("cpu")).precision == "bfloat16" and forced.tried == []


def test_a_gpu_too_small_for_the_model_falls_back_to_the_cpu_at_load(monkeypatch):
    from colorstudio.engines._neural import engine as engine_module
    monkeypatch.setattr(engine_module, "resolve_device",
                        lambda name="auto": torch.device("cuda" if name == "cuda" else "cpu"))
    real = TinyEngine._choose_runner
    tried = []

    def choose(self, device):
        tried.append(device.type)
        if device.type == "cuda":
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 140.00 MiB")
        return real(self, device)

    monkeypatch.setattr(TinyEngine, "_choose_runner", choose)
    eng = TinyEngine.from_network(TinyNet(), device="cuda", precision="float32")
    assert tried == ["cuda", "cpu"] and eng.runner.device.type == "cpu"
    session = eng.start(np.full((30, 40), 50, np.float32))
    _, _, info = session.chroma(Hints())
    assert "does not have enough memory for tiny, so it runs on the CPU" in info["message"]
    _, _, info = session.chroma(Hints())
    assert "message" not in info  # said once
