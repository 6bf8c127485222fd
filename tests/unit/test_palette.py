"""Palette transfer: Reinhard (mean and spread) and Monge-Kantorovich (mean and covariance)
of a*, b*, the engine on a colour photo file, and a grey photo refused with a sentence."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage.color import lab2rgb, rgb2lab

from colorstudio.core.image import SourceImage, open_image
from colorstudio.core.reference import ReferenceError, load_photo_colour, load_reference
from colorstudio.engines._palette import PaletteEngine, monge_kantorovich, reinhard, transfer
from colorstudio.engines.base import EngineError
from colorstudio.engines.registry import ENGINES


def correlated(n, mean, cov, seed):
    return np.random.default_rng(seed).multivariate_normal(mean, cov, n).astype(np.float32)


SRC = correlated(20000, [5.0, 10.0], [[100.0, 30.0], [30.0, 50.0]], 1)
REF = correlated(30000, [-20.0, 25.0], [[60.0, -40.0], [-40.0, 90.0]], 2)


def test_reinhard_matches_each_channels_mean_and_spread():
    out = reinhard(SRC, REF)
    assert np.allclose(out.mean(axis=0), REF.mean(axis=0), atol=1e-3)
    assert np.allclose(out.std(axis=0), REF.std(axis=0), rtol=1e-4)
    # Reinhard scales channels separately: the source's positive correlation stays positive
    # although the reference's is negative (the reason for the MK method).
    assert np.corrcoef(out.T)[0, 1] > 0 > np.corrcoef(REF.T)[0, 1]


def test_monge_kantorovich_matches_mean_and_covariance():
    out = monge_kantorovich(SRC, REF)
    assert np.allclose(out.mean(axis=0), REF.mean(axis=0), atol=1e-3)
    assert np.allclose(np.cov(out.T, bias=True), np.cov(REF.T, bias=True), rtol=2e-3, atol=0.05)


def test_monge_kantorovich_of_a_picture_onto_itself_changes_nothing():
    assert np.allclose(monge_kantorovich(SRC, SRC), SRC, atol=1e-2)


def test_a_neutral_source_takes_the_references_mean():
    out = reinhard(np.zeros((10, 10, 2), np.float32), REF)
    assert np.allclose(out, REF.mean(axis=0), atol=1e-3)


def lab_png(path, lab):
    rgb = (np.clip(lab2rgb(lab), 0, 1) * 255 + 0.5).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(0)
    h, w = 80, 100
    photo = np.zeros((h, w, 3))
    photo[..., 0] = np.linspace(30, 80, w)[None, :]
    photo[..., 1] = 10 + 15 * rng.standard_normal((h, w))
    photo[..., 2] = 20 + 10 * rng.standard_normal((h, w))
    ref = np.zeros((60, 70, 3))
    ref[..., 0] = 60
    ref[..., 1] = -25 + 8 * rng.standard_normal((60, 70))
    ref[..., 2] = -15 + 12 * rng.standard_normal((60, 70))
    return lab_png(tmp_path / "photo.png", photo), lab_png(tmp_path / "ref.png", ref)


@pytest.mark.parametrize("method", ["mk", "reinhard"])
def test_the_engine_gives_a_colour_photo_the_references_palette(pictures, method):
    photo_path, ref_path = pictures
    photo = open_image(photo_path)
    ref = load_reference(ref_path, need_color=True)
    c = PaletteEngine().start(photo.lightness, photo).chroma(None, references=(ref,), options={"method": method})
    ref_ab = ref.lab[..., 1:].reshape(-1, 2)
    ab = c.ab.reshape(-1, 2)
    assert np.allclose(ab.mean(axis=0), ref_ab.mean(axis=0), atol=0.5)
    assert np.allclose(ab.std(axis=0), ref_ab.std(axis=0), rtol=0.05)
    # base_ab is the photo's own chroma (strength 0 = the photo as it was), its L the photo's.
    own = rgb2lab(np.asarray(Image.open(photo_path)) / 255.0)
    assert np.allclose(c.base_ab, own[..., 1:], atol=0.5)
    assert np.allclose(c.lightness, photo.lightness)


def test_a_grey_photo_has_no_palette_to_change(tmp_path, pictures):
    _, ref_path = pictures
    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(0, 200, 2, dtype=np.uint8), (50, 1))).save(path)
    photo = open_image(path)
    with pytest.raises(EngineError, match=r"grey\.png is grey.*colour it first"):
        PaletteEngine().start(photo.lightness, photo).chroma(None, references=(load_reference(ref_path),))
    with pytest.raises(ReferenceError, match="not available"):
        load_photo_colour(SourceImage.from_array(np.full((8, 8, 3), (200, 20, 20), np.uint8)))


def test_a_grey_reference_has_no_palette_to_give(tmp_path, pictures):
    photo_path, _ = pictures
    path = tmp_path / "greyref.png"
    Image.fromarray(np.full((30, 30), 90, np.uint8)).save(path)
    photo = open_image(photo_path)
    with pytest.raises(EngineError, match=r"greyref\.png has no colour"):
        PaletteEngine().start(photo.lightness, photo).chroma(None, references=(load_reference(path),))


def test_method_is_declared_and_checked():
    opt = ENGINES["palette"].option("method")
    assert set(opt.choices) == {"mk", "reinhard"} and opt.default in opt.choices
    with pytest.raises(ValueError):
        opt.validate("histogram")
    with pytest.raises(EngineError, match="method"):
        transfer(SRC, (), "histogram")
    with pytest.raises(EngineError, match="needs a reference"):
        transfer(SRC, (), "mk")
