"""The public Python API, exactly as the README shows it, and the session's contract."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

import colorstudio as cs
from colorstudio.core.hints import HintsError


@pytest.fixture
def photo_file(tmp_path):
    rng = np.random.default_rng(6)
    yy, xx = np.mgrid[0:180, 0:300]
    g = np.clip(60 + 120 * (xx > 150) + 20 * np.sin(yy / 7.0) + rng.normal(0, 4, xx.shape), 0, 255)
    path = tmp_path / "photo.jpg"
    Image.fromarray(g.astype(np.uint8)).save(path, quality=95)
    return path


@pytest.fixture
def hints_file(tmp_path):
    path = tmp_path / "photo.hints.json"
    path.write_text(json.dumps({
        "format": "colorstudio.hints", "version": 1, "image": {"width": 300, "height": 180},
        "points": [{"x": 60.5, "y": 88.0, "radius": 3.0, "color": "#c86432"}],
        "strokes": [{"points": [[200, 20], [260, 40], [280, 150]], "width": 6.0, "color": "#3366aa"}],
    }))
    return path


def test_the_readme_flow(photo_file, hints_file, tmp_path):
    photo = cs.open_image(str(photo_file))
    assert isinstance(photo, cs.SourceImage) and photo.size == (300, 180)
    hints = cs.Hints.load(str(hints_file))
    assert len(hints) == 2
    result = cs.colorize(photo, hints=hints)
    assert isinstance(result, cs.ColorizeResult)
    assert result.size == (300, 180) and result.rgb.dtype == np.uint8
    out = result.save(tmp_path / "out.png")
    with Image.open(out) as im:
        assert im.size == (300, 180) and im.mode == "RGB"
        pixels = np.asarray(im)
    lab = rgb2lab(pixels / 255.0)
    assert np.hypot(lab[88, 60, 1], lab[88, 60, 2]) > 10          # the point coloured its side
    assert abs(lab[88, 60, 0] - photo.lightness[88, 60]) < 0.3     # and kept its lightness

    session = cs.ColorizeSession(photo)
    for max_side in (1024, 128, 77):
        preview = session.preview(hints, max_side=max_side)
        assert isinstance(preview, np.ndarray) and preview.dtype == np.uint8
        assert preview.ndim == 3 and preview.shape[2] == 3
        assert max(preview.shape[:2]) <= max_side
        assert max(preview.shape[:2]) == min(max_side, 300)
        # The preview keeps the photo's proportions.
        assert abs(preview.shape[1] / preview.shape[0] - 300 / 180) < 0.05
    final = session.render(hints)
    assert final.rgb.shape == (180, 300, 3)
    np.testing.assert_array_equal(final.rgb, result.rgb)


def test_hints_round_trip_through_the_api(hints_file, tmp_path):
    hints = cs.Hints.load(hints_file)
    again = cs.Hints.from_dict(hints.to_dict())
    assert again == hints
    hints.save(tmp_path / "copy.json")
    assert cs.Hints.load(tmp_path / "copy.json") == hints


def test_colorize_and_session_accept_a_path(photo_file):
    a = cs.colorize(photo_file).rgb
    b = cs.ColorizeSession(photo_file).render().rgb
    np.testing.assert_array_equal(a, b)
    assert (a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all()  # no hints: grey


def test_colorize_refuses_hints_outside_the_photo(photo_file):
    hints = cs.Hints.of(points=[(10, 10, "#ff0000"), (400, 10, "#00ff00")])
    with pytest.raises(HintsError, match=r"points\[1\] at \(400, 10\) lies outside the 300\u00d7180 photo"):
        cs.colorize(photo_file, hints=hints)


def test_result_provenance_names_source_engine_and_hints(photo_file, hints_file):
    result = cs.colorize(photo_file, hints=cs.Hints.load(hints_file))
    prov = result.provenance()
    assert prov["software"] == f"Colorstudio {cs.__version__}"
    assert prov["source"] == "photo.jpg" and prov["engine"] == "propagation" and prov["hints"] == "2"
    assert len(prov["source_sha256"]) == 64
    assert result.seconds > 0 and result.engine == "propagation"


def test_result_save_refuses_the_source_and_existing_files(photo_file, tmp_path):
    result = cs.colorize(photo_file)
    before = photo_file.read_bytes()
    with pytest.raises(cs.ExportError, match="is the source photo"):
        result.save(photo_file, fmt="jpeg", overwrite=True)
    assert photo_file.read_bytes() == before
    out = result.save(tmp_path / "o.png")
    with pytest.raises(cs.ExportError, match="already exists"):
        result.save(out)
    result.save(out, overwrite=True)


def test_preview_of_a_photo_smaller_than_max_side_is_full_size():
    photo = cs.SourceImage.from_array(np.full((40, 70), 100, np.uint8))
    preview = cs.ColorizeSession(photo).preview(cs.Hints.of(points=[(5, 5, "#ff0000")]), max_side=1024)
    assert preview.shape == (40, 70, 3)


def test_an_engine_name_that_does_not_exist_is_an_engine_error():
    photo = cs.SourceImage.from_array(np.zeros((8, 8), np.uint8))
    with pytest.raises(cs.EngineError, match="there is no engine called 'nope'"):
        cs.ColorizeSession(photo, engine="nope")


def test_public_names():
    assert isinstance(cs.__version__, str) and cs.__version__.count(".") >= 1
    for name in cs.__all__:
        assert getattr(cs, name) is not None
    for name in ("open_image", "Hints", "colorize", "ColorizeSession", "__version__"):
        assert name in cs.__all__ and name in dir(cs)
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        cs.nothing_here  # noqa: B018


def test_a_draft_reuses_the_settled_answer_to_the_same_question():
    """Moving a composition slider (drafts) after a settled preview runs no engine."""
    calls = []

    from colorstudio.engines.base import Chroma, Engine, EngineSession

    class Counting(EngineSession):
        def chroma(self, hints, *, quality="render", max_side=None, references=(), options=None, should_stop=None):
            calls.append(quality)
            return Chroma(np.full((8, 8, 2), 20.0, np.float32), np.full((8, 8), 50.0, np.float32))

    class Eng(Engine):
        name = "counting"

        def start(self, lightness, photo=None):
            return Counting()

    photo = cs.SourceImage.from_array(np.full((16, 16), 128, np.uint8))
    s = cs.ColorizeSession(photo, Eng())
    hints = cs.Hints.of(points=[(5, 5, "#ff0000")])
    s.preview(hints, max_side=64)
    for strength in (0.8, 0.5, 0.2):
        s.preview(hints, max_side=32, draft=True, strength=strength)
    assert calls == ["render"]
    s.preview(hints.with_point(cs.PointHint(9, 9, "#00ff00")), max_side=32, draft=True)
    assert calls == ["render", "preview"]
