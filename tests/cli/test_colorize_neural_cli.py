"""`colorstudio colorize` with the neural engines, end to end, with test checkpoints.

The checkpoints are the real architectures saved as the release files are (a plain
state_dict), with random weights; the output layers are scaled so that the random networks
answer in clear colours rather than near-grey, which lets "not grey" mean something. They
are written once per test session (~130 MB each) and loaded with ``--weights``, which skips
only the registry's checksum (that check itself is exercised below with a tampered install).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab

from colorstudio.models import get_model
from colorstudio.models.testing import test_checkpoint


def make_checkpoint(tmp_path_factory, name: str) -> Path:
    """A test checkpoint of ``name`` in the published key format, written once per session."""
    return test_checkpoint(tmp_path_factory.getbasetemp() / "neural-test-checkpoints", name)


@pytest.fixture(scope="session")
def siggraph17_file(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory, "siggraph17")


@pytest.fixture(scope="session")
def eccv16_file(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory, "eccv16")


def lightness(path: Path) -> np.ndarray:
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0
    return rgb2lab(rgb)


def check_colour_result(src: Path, out: Path) -> np.ndarray:
    """The output is full size, keeps the input's lightness, and is not grey; returns its Lab."""
    with Image.open(src) as a, Image.open(out) as b:
        assert b.size == a.size, "full size"
    lab_in, lab_out = lightness(src), lightness(out)
    assert np.abs(lab_out[..., 0] - lab_in[..., 0]).max() <= 0.5, "the photo's lightness is kept"
    chroma = np.hypot(lab_out[..., 1], lab_out[..., 2])
    assert np.median(chroma) > 3.0, f"not grey: median chroma {np.median(chroma):.2f}"
    return lab_out


@pytest.mark.parametrize("engine", ["siggraph17", "eccv16"])
def test_automatic_mode_with_a_checkpoint(main, photo, tmp_path, engine, siggraph17_file, eccv16_file):
    weights = {"siggraph17": siggraph17_file, "eccv16": eccv16_file}[engine]
    out = tmp_path / f"{engine}.png"
    r = main("colorize", photo, "-o", out, "--mode", "auto", "--engine", engine, "--weights", weights,
             "--device", "cpu")
    assert r.rc == 0, r.err
    assert f"engine {engine}" in r.err and "64\u00d748" in r.err
    check_colour_result(photo, out)


def test_hints_mode_with_siggraph17_moves_colour_where_the_hint_is(main, photo, tmp_path, make_hints,
                                                                  siggraph17_file):
    hints = make_hints(tmp_path / "one.hints.json", points=[(12, 24, "#2050ff", 3)])
    plain, hinted = tmp_path / "plain.png", tmp_path / "hinted.png"
    common = ("--engine", "siggraph17", "--weights", siggraph17_file, "--device", "cpu")
    r = main("colorize", photo, "-o", plain, "--mode", "hints", *common)
    assert r.rc == 0, r.err
    r = main("colorize", photo, "-o", hinted, "--mode", "hints", "--hints", hints, *common)
    assert r.rc == 0, r.err
    assert "engine siggraph17, 1 hints" in r.err
    a = check_colour_result(photo, plain)
    b = check_colour_result(photo, hinted)
    change = np.hypot(*(b[..., 1:] - a[..., 1:]).transpose(2, 0, 1))
    near = change[18:31, 6:19].mean()
    far = change[:, 48:].mean()   # the other side of the photo's strong edge, 36 px away
    assert near > 2.0 and near > 5 * far, f"the hint changed the colour near it ({near:.2f}) more than far ({far:.2f})"


def test_weights_without_an_engine(main, photo, tmp_path, siggraph17_file):
    out = tmp_path / "out.png"
    r = main("colorize", photo, "-o", out, "--mode", "auto", "--weights", siggraph17_file)
    assert r.rc == 2 and not out.exists()
    assert r.err_lines == ["colorstudio: --weights needs --engine to say which network the file holds: "
                           "--engine siggraph17 or --engine eccv16"]
    # In hints mode only siggraph17 takes a checkpoint, so the file is for it.
    r = main("colorize", photo, "-o", out, "--weights", siggraph17_file, "--device", "cpu")
    assert r.rc == 0, r.err
    assert "engine siggraph17" in r.err


def test_a_checkpoint_of_the_other_network_is_refused_clearly(main, photo, tmp_path, siggraph17_file):
    out = tmp_path / "out.png"
    r = main("colorize", photo, "-o", out, "--mode", "auto", "--engine", "eccv16", "--weights", siggraph17_file)
    assert r.rc == 2 and not out.exists()
    assert len(r.err_lines) == 1 and "is not a checkpoint of the eccv16 network" in r.err


def test_automatic_mode_without_a_model_says_how_to_install_one(main, photo, tmp_path):
    out = tmp_path / "out.png"
    r = main("colorize", photo, "-o", out, "--mode", "auto")
    assert r.rc == 2 and not out.exists()
    assert len(r.err_lines) == 1
    assert "`colorstudio models install siggraph17`" in r.err and "models import" in r.err


def test_an_installed_file_that_is_not_the_published_one_is_refused(main, photo, tmp_path, isolated_home,
                                                                   siggraph17_file):
    # Right architecture, right file name, wrong bytes: the registry's checksum refuses it.
    installed = isolated_home / "models" / get_model("siggraph17").filename
    os.symlink(siggraph17_file, installed)
    out = tmp_path / "out.png"
    r = main("colorize", photo, "-o", out, "--mode", "auto", "--device", "cpu")
    assert r.rc == 2 and not out.exists()
    assert len(r.err_lines) == 1 and "does not match the published checksum of siggraph17" in r.err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_clear_error(main, photo, tmp_path, siggraph17_file):
    out = tmp_path / "out.png"
    r = main("colorize", photo, "-o", out, "--mode", "auto", "--engine", "siggraph17", "--weights",
             siggraph17_file, "--device", "cuda")
    assert r.rc == 2 and not out.exists()
    assert len(r.err_lines) == 1 and "no CUDA GPU is available" in r.err and "--device cpu" in r.err


def test_the_installed_command_colours_a_photo(cli, photo, tmp_path, eccv16_file):
    out = tmp_path / "out.png"
    r = cli("colorize", photo, "-o", out, "--mode", "auto", "--engine", "eccv16", "--weights", eccv16_file)
    assert r.rc == 0, r.err
    assert "without the published checksum check" in r.err   # --weights says what it skipped
    check_colour_result(photo, out)
