"""MicroAST: the published weights (real, when present), the bundled copy, the engine's
caches, tiling and working sizes."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from colorstudio.core.reference import ReferencePicture
from colorstudio.engines import microast
from colorstudio.engines._microast import HALO, MicroASTEngine, encode_tiled, upsample_tiled
from colorstudio.models import store
from colorstudio.models.checkpoint import read_state_dict
from colorstudio.models.style_networks import MicroASTNet
from colorstudio.models.testing import random_microast, style_checkpoints

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "models" / "microast"
BUNDLED = REPO / "resources" / "models" / "microast"
PUBLISHED = {f.filename: f.sha256 for f in microast.MODEL.files}

needs_real = pytest.mark.skipif(not all((SHARED / f).is_file() for f in PUBLISHED),
                                reason="the published MicroAST weights are not in ../shared/models/microast/")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def picture(h=40, w=56, seed=0, key="style") -> ReferencePicture:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([0.5 + 0.4 * np.sin(9 * x + seed), 0.3 + 0.3 * y, 0.6 - 0.4 * x], -1)
    rgb = np.clip(rgb + rng.normal(0, 0.05, rgb.shape), 0, 1).astype(np.float32)
    from colorstudio.core.color import rgb_to_lab
    return ReferencePicture(f"{key}.png", f"hash-{key}-{seed}", rgb, rgb_to_lab(rgb))


def photo_L(h=48, w=64, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    L = 50 + 30 * np.sin(x / 7.0) * np.cos(y / 5.0) + rng.normal(0, 4, (h, w))
    return np.clip(L, 0, 100).astype(np.float32)


# -- the published files ------------------------------------------------------------------

@needs_real
def test_the_shared_files_are_the_published_ones():
    for name, digest in PUBLISHED.items():
        assert _sha(SHARED / name) == digest, name


def test_the_bundled_copy_is_the_published_files_with_licence_and_notice():
    for name, digest in PUBLISHED.items():
        assert _sha(BUNDLED / name) == digest, name
    assert "MIT License" in (BUNDLED / "LICENSE").read_text()
    notice = (BUNDLED / "NOTICE").read_text()
    assert microast.COMMIT in notice and "MIT" in notice and "EndyWon/MicroAST" in notice
    if all((SHARED / f).is_file() for f in PUBLISHED):
        for name in PUBLISHED:
            assert (BUNDLED / name).read_bytes() == (SHARED / name).read_bytes()


def test_the_package_ships_the_bundled_files():
    """pyproject.toml's package-data globs (setuptools expands them with glob, recursively)
    take in every bundled file; tests/packaging/test_wheel.py checks the built wheel itself."""
    import glob
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["colorstudio.resources"]
    root = REPO / "resources"
    shipped = {Path(p).as_posix() for pat in patterns for p in glob.glob(pat, root_dir=root, recursive=True)}
    for f in microast.MODEL.files:
        assert f"models/microast/{f.filename}" in shipped, f.filename
    assert "models/microast/LICENSE" in shipped


@needs_real
def test_the_real_weights_load_strictly_and_safely_into_our_network():
    net = MicroASTNet()
    for f in microast.MODEL.files:
        state = read_state_dict(SHARED / f.filename)      # torch.load(weights_only=True)
        part = getattr(net, f.part)
        assert set(state) == set(part.state_dict()), f.filename
        part.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in net.parameters()) == 157_792 * 2 + 2_560 + 153_843


@needs_real
def test_real_output_size_range_and_determinism():
    engine = MicroASTEngine(weights=SHARED, device="cpu")
    torch.manual_seed(0)
    content = torch.rand(1, 3, 61, 90)        # not multiples of 4: the output is cropped
    style = torch.rand(1, 3, 512, 700)
    a = engine.stylize(content, style)
    b = engine.stylize(content, style)
    assert a.shape == (1, 3, 61, 90)
    assert torch.equal(a, b)
    assert 0.05 < float(a.clamp(0, 1).mean()) < 0.95 and float(a.std()) > 0.01
    # our staged pipeline (style branch, content encoder, decoder) is the whole network
    net = engine.net
    with torch.inference_mode():
        staged = net.upsample(net.modulate(net.content_features(content), net.style_signal(style)))[..., :61, :90]
    assert torch.equal(staged, a)


@needs_real
def test_the_engine_finds_the_bundled_model_and_checks_its_hashes(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "empty"))
    assert store.is_installed("microast")
    assert store.installed_path("microast") == BUNDLED.resolve() or store.installed_path("microast") == BUNDLED
    engine = MicroASTEngine(device="cpu")
    engine.load()
    assert engine.weights_note == "published microast weights"
    # a damaged bundled file is refused with a sentence
    from colorstudio.engines.base import EngineError
    fake = tmp_path / "fake"
    fake.mkdir()
    for name in PUBLISHED:
        (fake / name).write_bytes((BUNDLED / name).read_bytes())
    (fake / "modulator_iter_160000.pth.tar").write_bytes(b"broken")
    monkeypatch.setattr(store, "bundled_folder", lambda name: fake)
    with pytest.raises(EngineError, match="does not match the published checksum of modulator"):
        MicroASTEngine(device="cpu").load()


@needs_real
def test_real_style_on_a_photo_is_colourful_and_follows_the_style():
    engine = MicroASTEngine(weights=SHARED, device="cpu")
    session = engine.start(photo_L(96, 128))
    warm = picture(seed=0, key="warm")
    warm.rgb[..., 0] = np.clip(warm.rgb[..., 0] + 0.4, 0, 1)
    warm.rgb[..., 2] *= 0.3
    c = session.chroma(None, quality="preview", references=(warm,))
    assert c.ab.shape == (96, 128, 2) and c.lightness.shape == (96, 128)
    assert float(np.hypot(c.ab[..., 0], c.ab[..., 1]).mean()) > 5.0   # it painted in colour
    assert float(c.ab[..., 0].mean()) > 0 and float(c.ab[..., 1].mean()) > 0   # warm style, warm picture


# -- the engine with random weights in the published layout ----------------------------------

@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    return style_checkpoints(tmp_path_factory.mktemp("microast"), "microast")


def test_custom_weights_folder_loads_strictly(fake_weights):
    engine = MicroASTEngine(weights=fake_weights, device="cpu")
    engine.load()
    ref = random_microast()
    for (k, v), (k2, v2) in zip(engine.net.state_dict().items(), ref.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    assert "not checked" in engine.weights_note


def test_a_missing_or_wrong_file_is_a_sentence(tmp_path, fake_weights):
    from colorstudio.engines.base import EngineError
    with pytest.raises(EngineError, match="does not exist"):
        MicroASTEngine(weights=tmp_path / "nope", device="cpu").load()
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in PUBLISHED:
        (bad / f).write_bytes((fake_weights / f).read_bytes())
    torch.save({"enc1.0.conv_layer.weight": torch.zeros(3)}, bad / "decoder_iter_160000.pth.tar")
    with pytest.raises(EngineError, match="not a checkpoint of the microast network"):
        MicroASTEngine(weights=bad, device="cpu").load()


def test_style_branch_runs_once_per_picture_and_content_once_per_size():
    engine = MicroASTEngine.from_network(random_microast(), device="cpu")
    session = engine.start(photo_L(64, 96))
    a, b = picture(seed=0, key="a"), picture(seed=1, key="b")
    first = session.chroma(None, quality="preview", references=(a,))
    session.chroma(None, quality="preview", references=(b,))
    session.chroma(None, quality="preview", references=(a,))
    assert engine.style_runs == 2
    assert session.content_runs == 1
    session.chroma(None, quality="preview", max_side=48, references=(a,))
    assert session.content_runs == 2 and engine.style_runs == 2
    again = session.chroma(None, quality="preview", references=(a,))
    np.testing.assert_array_equal(again.ab, first.ab)
    # a second photo reuses the style branch
    engine.start(photo_L(40, 40, 3)).chroma(None, quality="preview", references=(a,))
    assert engine.style_runs == 2


def test_working_sizes_and_the_answer():
    engine = MicroASTEngine.from_network(random_microast(), device="cpu", preview_side=64, render_pixels=120 * 90)
    L = photo_L(300, 400)
    s = engine.start(L)
    p = s.chroma(None, quality="preview", references=(picture(),))
    assert p.ab.shape == (48, 64, 2) and p.painted_lightness.shape == (48, 64)
    assert p.base_ab is None and p.info["engine"] == "microast"
    r = s.chroma(None, quality="render", references=(picture(),))
    assert r.ab.shape[0] * r.ab.shape[1] <= 120 * 90 and abs(r.ab.shape[1] / r.ab.shape[0] - 4 / 3) < 0.05
    # the guide is the photo's own L at that size (area average), never the painting's
    np.testing.assert_allclose(r.lightness.mean(), L.mean(), atol=0.5)
    small = engine.start(photo_L(30, 20)).chroma(None, quality="render", references=(picture(),))
    assert small.ab.shape == (30, 20, 2)      # small photos render at their own size


def test_no_style_picture_is_a_sentence():
    from colorstudio.engines.base import EngineError
    engine = MicroASTEngine.from_network(random_microast(), device="cpu")
    with pytest.raises(EngineError, match="needs a style picture"):
        engine.start(photo_L()).chroma(None, references=())


def test_two_styles_interpolate():
    engine = MicroASTEngine.from_network(random_microast(), device="cpu")
    s = engine.start(photo_L())
    a, b = picture(seed=0, key="a"), picture(seed=5, key="b")
    only_a = s.chroma(None, quality="preview", references=(a,)).ab
    only_b = s.chroma(None, quality="preview", references=(b,)).ab
    mix0 = s.chroma(None, quality="preview", references=(a, b), options={"mix": 0.0}).ab
    mix1 = s.chroma(None, quality="preview", references=(a, b), options={"mix": 1.0}).ab
    mid = s.chroma(None, quality="preview", references=(a, b), options={"mix": 0.5}).ab
    np.testing.assert_allclose(mix0, only_a, atol=1e-5)
    np.testing.assert_allclose(mix1, only_b, atol=1e-5)
    apart = np.abs(only_a - only_b).mean()
    assert apart > 1e-4      # (random weights answer weakly to style, but they do answer)
    assert np.abs(mid - only_a).mean() > 0.2 * apart and np.abs(mid - only_b).mean() > 0.2 * apart


def test_cancel_between_tiles():
    from colorstudio.engines.base import Cancelled
    engine = MicroASTEngine.from_network(random_microast(), device="cpu", tile_above=0, tile=32)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3
    with pytest.raises(Cancelled):
        engine.start(photo_L(100, 100)).chroma(None, quality="render", references=(picture(),), should_stop=stop)


def test_tiles_equal_the_whole_picture():
    net = random_microast(3)
    torch.manual_seed(1)
    image = torch.rand(1, 3, 150, 203)
    with torch.inference_mode():
        whole = net.content_features(image)
        tiled = encode_tiled(net, image, tile=48, halo=HALO)
        assert tiled.shape == whole.shape
        assert float((tiled - whole).abs().max()) < 1e-4
        x4 = net.modulate(whole, net.style_signal(torch.rand(1, 3, 64, 80)))
        up_whole = net.upsample(x4)[:, :, :150, :203]
        up_tiled = upsample_tiled(net, x4, 150, 203, tile=48, halo=HALO)
        assert float((up_whole - up_tiled).abs().max()) < 1e-4
    # and too small a margin would show: the test can fail
    with torch.inference_mode():
        bad = encode_tiled(net, image, tile=48, halo=0)
    assert float((bad - whole).abs().max()) > 1e-3


def test_a_tiled_render_equals_an_untiled_one_through_the_engine():
    net = random_microast(4)
    L = photo_L(120, 180)
    ref = picture()
    whole = MicroASTEngine.from_network(net, device="cpu").start(L).chroma(None, quality="render", references=(ref,))
    tiled = MicroASTEngine.from_network(net, device="cpu", tile_above=0, tile=40).start(L).chroma(
        None, quality="render", references=(ref,))
    assert np.abs(whole.ab - tiled.ab).max() < 0.05
    assert np.abs(whole.painted_lightness - tiled.painted_lightness).max() < 0.05


# -- the copy that runs: the same function, laid out for speed -------------------------------

def test_the_inference_copy_is_the_same_network():
    from colorstudio.models.style_networks import GreyConv, PairSumConv, SplitConv, inference_copy
    net = random_microast(7)
    fast = inference_copy(net)
    kinds = [type(m) for m in fast.modules()]
    assert kinds.count(PairSumConv) == 2 and kinds.count(SplitConv) == 1 and kinds.count(GreyConv) == 1
    torch.manual_seed(2)
    g = torch.rand(1, 1, 70, 93)
    style = torch.rand(1, 3, 64, 88)
    cl = torch.channels_last
    with torch.inference_mode():
        want = net(g.expand(1, 3, 70, 93), style)
        got = fast(g.contiguous(memory_format=cl), style.contiguous(memory_format=cl))
    assert got.shape == want.shape
    assert float((got - want).abs().max()) < 1e-4 * max(1.0, float(want.abs().max()))
    # the published-layout network is untouched (it still loads and saves the published keys)
    assert set(net.state_dict()) == set(random_microast(7).state_dict())


def test_a_second_preview_with_the_same_style_picture_does_not_run_the_style_branch(monkeypatch):
    engine = MicroASTEngine.from_network(random_microast(), device="cpu")
    calls = {"style": 0, "content": 0}
    fast = engine.fast
    real_style, real_content = fast.style_signal, fast.content_features

    def style_spy(x):
        calls["style"] += 1
        return real_style(x)

    def content_spy(x):
        calls["content"] += 1
        return real_content(x)
    monkeypatch.setattr(fast, "style_signal", style_spy)
    monkeypatch.setattr(fast, "content_features", content_spy)
    a = picture(seed=0, key="a")
    session = engine.start(photo_L(64, 96))
    session.chroma(None, quality="preview", references=(a,))
    assert calls == {"style": 1, "content": 1}
    # the same picture again, decoded anew (same content hash): no style branch
    same = picture(seed=0, key="a")
    session.chroma(None, quality="preview", references=(same,), options={"other": 1})
    engine.start(photo_L(50, 50, 4)).chroma(None, quality="preview", references=(same,))
    assert calls["style"] == 1 and calls["content"] == 2
    # a new picture runs it once; the photo's content features at this size are reused
    session.chroma(None, quality="preview", references=(picture(seed=2, key="b"),))
    assert calls == {"style": 2, "content": 2}
