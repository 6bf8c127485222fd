"""`colorstudio.models.is_installed`: a cheap check the app makes before the window shows."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from colorstudio import models
from colorstudio.models.errors import ModelError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(folder))
    return folder


def test_installed_only_when_the_published_file_is_in_the_cache(cache):
    info = models.get_model("siggraph17")
    assert models.is_installed("siggraph17") is False      # no folder at all
    cache.mkdir()
    (cache / (info.filename + ".part")).write_bytes(b"half a download")
    assert models.is_installed("siggraph17") is False      # an interrupted download does not count
    (cache / "siggraph17.pth").write_bytes(b"x")             # nor a file under another name
    assert models.is_installed("siggraph17") is False
    (cache / info.filename).write_bytes(b"anything")
    assert models.is_installed("siggraph17") is True
    assert models.is_installed("eccv16") is False          # each model is its own file
    (cache / info.filename).unlink()
    (cache / info.filename).mkdir()                          # a folder by that name is not a model
    assert models.is_installed("siggraph17") is False


def test_an_unknown_model_is_an_error_that_names_the_known_ones(cache):
    with pytest.raises(ModelError, match="siggraph17"):
        models.is_installed("nonsense")


def test_asking_never_imports_torch(cache):
    cache.mkdir()
    (cache / models.get_model("eccv16").filename).write_bytes(b"x")
    code = ("import json, sys\nfrom colorstudio import models\n"
            "print(json.dumps([models.is_installed('siggraph17'), models.is_installed('eccv16'),"
            " 'torch' in sys.modules]))")
    env = {**os.environ, "COLORSTUDIO_MODELS": str(cache), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [False, True, False]
