"""The models folder: where it is, listing, importing (verified, atomic) and removing.

A tiny architecture stands in for the real networks so that files are small; it is
registered the way real models are (an architecture and a registry entry whose published
hash prefix is the test file's).
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from colorstudio.models import networks, registry, store
from colorstudio.models.errors import ModelCancelled, ModelError


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3)
        self.norm = nn.BatchNorm2d(8)


class RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def register_tiny(monkeypatch, folder: Path, payload: bytes, url: str = "http://127.0.0.1:9/tiny.pth"):
    digest = hashlib.sha256(payload).hexdigest()
    monkeypatch.setitem(networks.ARCHITECTURES, "tiny", TinyNet)
    info = registry.derive(registry.get_model("eccv16"), name="tiny", filename=f"tiny-{digest[:8]}.pth", url=url,
                   sha256_prefix=digest[:8], architecture="tiny", approx_bytes=len(payload))
    monkeypatch.setitem(registry.MODELS, "tiny", info)
    return info


def tiny_checkpoint(path: Path, seed: int = 0) -> bytes:
    torch.manual_seed(seed)
    torch.save(TinyNet().state_dict(), path)
    return path.read_bytes()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(folder))
    return folder


@pytest.fixture
def tiny(tmp_path, cache, monkeypatch):
    src = tmp_path / "downloads" / "tiny.pth"
    src.parent.mkdir()
    payload = tiny_checkpoint(src)
    return register_tiny(monkeypatch, cache, payload), src


def test_models_path_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "elsewhere"))
    assert store.models_path() == tmp_path / "elsewhere"
    monkeypatch.delenv("COLORSTUDIO_MODELS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name != "nt" and sys.platform != "darwin":
        assert store.models_path() == tmp_path / "xdg" / "colorstudio" / "models"
    assert not (tmp_path / "xdg").exists()  # asking never creates it


def test_list_shows_every_model_installed_or_not(tiny, cache):
    info, src = tiny
    listing = {s.name: s for s in store.list_models()}
    assert {"siggraph17", "eccv16", "tiny"} <= set(listing)
    assert not listing["tiny"].installed and listing["tiny"].size is None
    assert listing["tiny"].path == cache / info.filename
    store.import_model("tiny", src)
    (cache / (registry.get_model("eccv16").filename + ".part")).write_bytes(b"x" * 10)
    listing = {s.name: s for s in store.list_models()}
    assert listing["tiny"].installed and listing["tiny"].size == src.stat().st_size
    assert not listing["eccv16"].installed and listing["eccv16"].partial == 10


def test_import_verifies_then_installs_atomically(tiny, cache):
    info, src = tiny
    seen = []
    path = store.import_model("tiny", src, progress=lambda d, t: seen.append((d, t)))
    assert path == cache / info.filename and path.read_bytes() == src.read_bytes()
    assert store.installed_path("tiny") == path
    assert seen and seen[-1] == (src.stat().st_size,) * 2
    assert sorted(p.name for p in cache.iterdir()) == [info.filename]  # no temporary files left
    assert src.exists()  # the user's file is copied, not moved


def test_import_refuses_a_file_with_the_wrong_checksum(tiny, cache, tmp_path):
    other = tmp_path / "other.pth"
    tiny_checkpoint(other, seed=1)
    with pytest.raises(ModelError) as err:
        store.import_model("tiny", other)
    assert str(other) in str(err.value) and "does not match the published checksum" in str(err.value)
    assert store.installed_path("tiny") is None
    assert list(cache.iterdir()) == []


def test_import_refuses_right_checksum_wrong_shapes(tmp_path, cache, monkeypatch):
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(8, 8, 5, 5)}, bad)
    register_tiny(monkeypatch, cache, bad.read_bytes())
    with pytest.raises(ModelError, match=r"bad\.pth is not a checkpoint of the tiny network"):
        store.import_model("tiny", bad)
    assert list(cache.iterdir()) == []


def test_import_refuses_a_pickle_that_runs_code(tmp_path, cache, monkeypatch):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"conv.weight": RunsCode(marker)}, evil)
    register_tiny(monkeypatch, cache, evil.read_bytes())  # even with a matching checksum
    with pytest.raises(ModelError, match="asks to run code"):
        store.import_model("tiny", evil)
    assert not marker.exists()
    assert list(cache.iterdir()) == []


def test_import_can_be_cancelled_and_leaves_nothing(tiny, cache):
    _, src = tiny
    with pytest.raises(ModelCancelled):
        store.import_model("tiny", src, should_stop=lambda: True)
    assert list(cache.iterdir()) == []


def test_import_of_a_missing_file_or_unknown_model(tiny, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        store.import_model("tiny", tmp_path / "nope.pth")
    with pytest.raises(ModelError, match="no model called 'vgg'"):
        store.import_model("vgg", tiny[1])


def test_remove(tiny, cache):
    info, src = tiny
    with pytest.raises(ModelError, match="tiny model is not installed"):
        store.remove("tiny")
    store.import_model("tiny", src)
    assert store.remove("tiny") == cache / info.filename
    assert store.installed_path("tiny") is None and not (cache / info.filename).exists()
    # An interrupted download is removed too.
    (cache / (info.filename + ".part")).write_bytes(b"partial")
    store.remove("tiny")
    assert list(cache.iterdir()) == []


def test_not_installed_message_says_what_to_do():
    text = store.not_installed_message("siggraph17")
    assert text == ("the siggraph17 model is not installed; install it with `colorstudio models install "
                    "siggraph17`, or on an offline machine `colorstudio models import siggraph17 FILE`")
