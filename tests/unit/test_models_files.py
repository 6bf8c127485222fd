"""Model files are read only when they are regular files: a FIFO or a device never hangs an import."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from colorstudio.models.checkpoint import read_state_dict, sha256_file
from colorstudio.models.errors import ModelError
from colorstudio.models.store import import_model

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "weights.pth"
    os.mkfifo(path)
    return path


def test_a_fifo_checkpoint_is_refused_without_blocking(fifo):
    with pytest.raises(ModelError, match="weights.pth is a named pipe .FIFO., not a model file"):
        read_state_dict(fifo)
    with pytest.raises(ModelError, match="weights.pth is a named pipe"):
        sha256_file(fifo)


def test_importing_a_fifo_or_a_device_is_refused(fifo, tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "models"))
    with pytest.raises(ModelError, match="weights.pth is a named pipe"):
        import_model("siggraph17", fifo)
    if Path("/dev/zero").exists():
        with pytest.raises(ModelError, match="zero is a character device, not a model file"):
            import_model("siggraph17", "/dev/zero")
    assert not (tmp_path / "models").exists()  # refused before anything was made


def test_a_missing_checkpoint_is_still_said_to_be_missing(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        read_state_dict(tmp_path / "nope.pth")
