"""AdaIN: the published layout (built here with random weights), strict and safe loading,
the feature-space alpha and the interpolation between two styles."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from colorstudio.engines import adain
from colorstudio.engines._adain import AdaINEngine
from colorstudio.engines.base import EngineError
from colorstudio.models.checkpoint import read_state_dict
from colorstudio.models.style_networks import AdaINNet, mean_std
from colorstudio.models.testing import ADAIN_PARTS, random_adain, style_checkpoints

from colorstudio.core.reference import ReferencePicture


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


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return style_checkpoints(tmp_path_factory.mktemp("adain"), "adain")


def test_the_published_layout():
    net = AdaINNet()
    vgg = net.vgg.state_dict()
    convs = sorted({int(k.split(".")[0]) for k in vgg})
    assert convs == [0, 2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51]
    assert vgg["0.weight"].shape == (3, 3, 1, 1) and vgg["51.weight"].shape == (512, 512, 3, 3)
    dec = net.decoder.state_dict()
    assert sorted({int(k.split(".")[0]) for k in dec}) == [1, 5, 8, 11, 14, 18, 21, 25, 28]
    assert dec["1.weight"].shape == (256, 512, 3, 3) and dec["28.weight"].shape == (3, 64, 3, 3)
    assert [f.filename for f in adain.MODEL.files] == list(ADAIN_PARTS)
    assert adain.MODEL.files[0].sha256.startswith("804ca283") and adain.MODEL.files[1].sha256.startswith("379ca41d")


def test_files_load_strictly_and_the_engine_runs(weights):
    for name in ADAIN_PARTS:
        read_state_dict(weights / name)            # weights_only=True, plain state dicts
    engine = AdaINEngine(weights=weights, device="cpu", preview_side=64)
    s = engine.start(photo_L(60, 90))
    c = s.chroma(None, quality="preview", references=(picture(),))
    assert c.ab.shape == (43, 64, 2) and c.painted_lightness.shape == (43, 64)
    assert np.isfinite(c.ab).all()


def test_a_file_from_the_other_network_is_refused(tmp_path, weights):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "vgg_normalised.pth").write_bytes((weights / "decoder.pth").read_bytes())
    (bad / "decoder.pth").write_bytes((weights / "decoder.pth").read_bytes())
    with pytest.raises(EngineError, match="not a checkpoint of the adain network"):
        AdaINEngine(weights=bad, device="cpu").load()


def test_alpha_and_interpolation_follow_the_authors_formula():
    net = random_adain(1)
    engine = AdaINEngine.from_network(net, device="cpu", preview_side=48)
    s = engine.start(photo_L(40, 48))
    a, b = picture(seed=0, key="a"), picture(seed=4, key="b")
    a.rgb[..., 0] = 1.0
    only_a = s.chroma(None, quality="preview", references=(a,)).painted_lightness
    only_b = s.chroma(None, quality="preview", references=(b,)).painted_lightness
    mix0 = s.chroma(None, quality="preview", references=(a, b), options={"mix": 0.0}).painted_lightness
    np.testing.assert_allclose(mix0, only_a, atol=1e-3)
    assert np.abs(only_a - only_b).mean() > 1e-3
    # the engine's answer is the network's own transfer (features mixed, then decoded)
    from colorstudio.engines._style import grey_rgb, style_tensor, to_lab
    with torch.inference_mode():
        cf = net.encode(grey_rgb(s._content_at((40, 48), None)[0]))
        ref = net.transfer(cf, [net.encode(style_tensor(a.rgb)), net.encode(style_tensor(b.rgb))], (0.7, 0.3), 0.6)
    got = s.chroma(None, quality="preview", references=(a, b), options={"mix": 0.3, "alpha": 0.6})
    np.testing.assert_allclose(got.painted_lightness, to_lab(ref[:, :, :40, :48])[..., 0], atol=1e-3)
    # alpha 0 decodes the content's own features, whatever the style
    z1 = s.chroma(None, quality="preview", references=(a,), options={"alpha": 0.0}).painted_lightness
    z2 = s.chroma(None, quality="preview", references=(b,), options={"alpha": 0.0}).painted_lightness
    np.testing.assert_allclose(z1, z2, atol=1e-4)
    with pytest.raises(EngineError, match="alpha must be"):
        s.chroma(None, quality="preview", references=(a,), options={"alpha": 2.0})


def test_not_installed_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "m"))
    with pytest.raises(EngineError, match="colorstudio models install adain"):
        AdaINEngine(device="cpu").load()


def test_style_statistics_are_unbiased_with_epsilon():
    t = torch.arange(24, dtype=torch.float32).view(1, 2, 3, 4)
    m, s = mean_std(t)
    flat = t.view(2, -1)
    assert torch.allclose(m.flatten(), flat.mean(1))
    assert torch.allclose(s.flatten(), (flat.var(1, unbiased=True) + 1e-5).sqrt())
