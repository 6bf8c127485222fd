"""The training job without Qt: losses fall, exact resume, the result as a user model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from colorstudio.training.errors import TrainingError
from colorstudio.training.loop import TrainConfig, train

from .conftest import TINY


def config(folder, **kw) -> TrainConfig:
    args = {**TINY, "evaluate": False, "checkpoint_every": 100, **kw}
    return TrainConfig(str(folder), **args)


def falls(losses, n=4) -> bool:
    values = [v for _, v in losses]
    return np.mean(values[-n:]) < 0.7 * np.mean(values[:n])


@pytest.mark.parametrize("arch", ["unet", "pix2pix", "vae", "restore"])
def test_each_architecture_learns_a_small_set(photo_folder, arch):
    result = train(config(photo_folder, arch=arch, steps=12, name=f"t-{arch}"))
    assert result.finished and result.step == 12 and len(result.losses) == 12
    assert falls(result.losses), result.losses


def test_siggraph17_trains_from_random_weights(photo_folder, tmp_path):
    # The published network is large: a few steps on one 16-pixel picture (every crop is the
    # whole picture, flipped or not) show the path runs end to end from random weights
    # (simulated points, Huber loss, optimiser) and the loss falls.
    from PIL import Image
    one = tmp_path / "one"
    one.mkdir()
    Image.open(photo_folder / "kodim05.png").convert("RGB").crop((200, 200, 216, 216)).save(one / "a.png")
    result = train(config(one, arch="siggraph17", steps=8, size=16, options={}, learning_rate=1e-4, name="t-sig"))
    assert result.finished
    assert falls(result.losses, 3), result.losses


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def test_a_crashed_run_resumed_reaches_the_same_weights(photo_folder):
    # The VAE draws noise from torch's generator every step, so its random state must be
    # restored too; the crash comes after the checkpoint at step 4, before step 6's.
    base = dict(arch="vae", steps=7, checkpoint_every=2)
    straight = train(config(photo_folder, name="straight", **base))

    def crash(done, total):
        if done == 5:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        train(config(photo_folder, name="crashed", **base), progress=crash)
    resumed = train(config(photo_folder, name="crashed", resume=True, **base))
    assert resumed.finished and resumed.step == 7
    assert [s for s, _ in resumed.losses] == list(range(1, 8))
    a, b = _weights(straight.model_path), _weights(resumed.model_path)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed.losses == straight.losses


def test_stop_keeps_a_checkpoint_and_resume_finishes(photo_folder):
    steps = []
    result = train(config(photo_folder, steps=6, name="stopped"), progress=lambda d, t: steps.append(d),
                   should_stop=lambda: len(steps) >= 3)
    assert not result.finished and result.step == 3 and result.model_path is None
    assert result.checkpoint.is_file()
    again = train(config(photo_folder, steps=6, name="stopped", resume=True))
    assert again.finished and again.step == 6


def test_the_result_is_a_user_engine_with_a_manifest(photo_folder, models_folder):
    from colorstudio.core.spec import Mode
    from colorstudio.engines.registry import ENGINES, create_engine, engines_for_mode
    from colorstudio.models.registry import MODELS
    from colorstudio.models.trainable import build
    from colorstudio.models.user import read_manifest
    from colorstudio.training.data import scan_folder

    assert "mine" not in ENGINES
    result = train(config(photo_folder, steps=3, name="mine", evaluate=True))
    manifest = read_manifest(result.manifest_path)
    assert manifest == json.loads(result.manifest_path.read_text())
    assert manifest["architecture"] == "unet" and manifest["steps"] == 3 and manifest["modes"] == ["auto"]
    data = manifest["data"]
    assert (data["colour_photos"], data["grey_skipped"], data["broken_skipped"]) == (3, 1, 0)
    assert data["file_list_sha256"] == scan_folder(photo_folder).list_hash()
    held = manifest["held_out"]
    assert held["photos"] == data["held_out"] >= 1
    for key in ("model", "grey", "propagation"):
        assert held[key]["delta_e00"] > 0 and held[key]["psnr_db"] > 0
    # A plain state_dict, loaded strictly into the network the manifest names.
    net = build(manifest["network"], manifest["options"])
    net.load_state_dict(torch.load(result.model_path, weights_only=True), strict=True)
    # The engine registry and the model catalogue list it.
    assert "mine" in ENGINES and ENGINES["mine"].modes == (Mode.AUTO,)
    assert "mine" in engines_for_mode("auto") and "mine" not in engines_for_mode("hints")
    assert MODELS["mine"].filename == "user/mine.pth"
    L = np.tile(np.linspace(10, 90, 40, dtype=np.float32), (24, 1))
    chroma = create_engine("mine", device="cpu").start(L).chroma(None)
    assert chroma.ab.shape[:2] == chroma.lightness.shape and np.isfinite(chroma.ab).all()
    # Removing the manifest unregisters it.
    result.manifest_path.unlink()
    assert "mine" not in ENGINES


def test_a_changed_model_file_is_refused(photo_folder):
    from colorstudio.engines.base import EngineError
    from colorstudio.engines.registry import create_engine
    result = train(config(photo_folder, steps=1, name="changed"))
    state = torch.load(result.model_path, weights_only=True)
    next(iter(state.values())).add_(1)
    torch.save(state, result.model_path)
    with pytest.raises(EngineError, match="not the one"):
        create_engine("changed", device="cpu").start(np.full((16, 16), 50, np.float32))


def test_names_are_not_reused_without_asking(photo_folder):
    train(config(photo_folder, steps=1, name="once"))
    with pytest.raises(TrainingError, match="already exists"):
        train(config(photo_folder, steps=1, name="once"))
    with pytest.raises(TrainingError, match="built-in engine"):
        train(config(photo_folder, steps=1, name="propagation"))
    with pytest.raises(TrainingError, match="nothing|no training"):
        train(config(photo_folder, steps=1, name="never", resume=True))


def test_the_warm_up_scales_with_the_budget_and_survives_a_resume(photo_folder, models_folder, monkeypatch):
    # --steps: a tenth of the run; a resume that lengthens the run keeps the warm-up it began with.
    steps = []
    first = train(config(photo_folder, steps=20, name="warm"), progress=lambda d, t: steps.append(d),
                  should_stop=lambda: len(steps) >= 5)
    assert not first.finished and first.step == 5
    done = train(config(photo_folder, steps=60, name="warm", resume=True))
    manifest = json.loads((models_folder / "user" / "warm.json").read_text())
    assert done.finished and manifest["steps"] == 60 and manifest["warmup_steps"] == 2   # not 6
    # --minutes: the warm-up comes from the budget's estimated steps, never longer than the run.
    # The loop's clock ticks 10 ms at every reading, so the second step "takes" 10 ms and the
    # 3-second budget is estimated to hold 300 steps: a warm-up of 30.
    import time
    import types

    from colorstudio.training import loop
    ticks = iter(range(10 ** 9))
    clock = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    clock.monotonic = lambda: next(ticks) * 0.01
    monkeypatch.setattr(loop, "time", clock)
    timed = train(config(photo_folder, minutes=0.05, name="timed"))
    manifest = json.loads((models_folder / "user" / "timed.json").read_text())
    assert timed.finished and timed.step >= 2
    assert manifest["warmup_steps"] == loop.warmup_steps(0.05 * 60 / 0.01) == 30
    assert manifest["warmup_steps"] < timed.step          # the warm-up ends before the run does
