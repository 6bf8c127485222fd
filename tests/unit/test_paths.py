"""The data and models folders: platformdirs' per-user folder, overridden by the environment."""
from __future__ import annotations

import os
import sys

import pytest
from platformdirs.macos import MacOS
from platformdirs.unix import Unix

from colorstudio.core import paths
from colorstudio.core.document import AutosaveStore
from colorstudio.models import store


def test_environment_overrides_each_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COLORSTUDIO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(tmp_path / "weights"))
    assert paths.data_dir() == tmp_path / "data"
    assert AutosaveStore().folder == tmp_path / "data" / "autosave"
    assert store.models_path() == tmp_path / "weights"
    assert not (tmp_path / "data").exists() and not (tmp_path / "weights").exists()


@pytest.mark.skipif(os.name == "nt" or sys.platform == "darwin", reason="the XDG rules are the Unix ones")
def test_unix_folders_follow_xdg(tmp_path, monkeypatch):
    monkeypatch.delenv("COLORSTUDIO_DATA", raising=False)
    monkeypatch.delenv("COLORSTUDIO_MODELS", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.data_dir() == tmp_path / "xdg" / "colorstudio"
    assert store.models_path() == tmp_path / "xdg" / "colorstudio" / "models"
    # COLORSTUDIO_DATA moves the documents, not the models.
    monkeypatch.setenv("COLORSTUDIO_DATA", str(tmp_path / "docs"))
    assert store.models_path() == tmp_path / "xdg" / "colorstudio" / "models"
    assert not (tmp_path / "xdg").exists(), "asking never creates a folder"


def test_folder_names_per_platform(monkeypatch):
    assert paths.app_name("linux") == "colorstudio"
    assert paths.app_name("darwin") == "Colorstudio" and paths.app_name("win32") == "Colorstudio"
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", "/home/ann")
    assert Unix(paths.app_name("linux"), appauthor=False).user_data_dir == "/home/ann/.local/share/colorstudio"
    monkeypatch.setenv("XDG_DATA_HOME", "relative")  # the XDG spec says to ignore relative values
    assert Unix(paths.app_name("linux"), appauthor=False).user_data_dir == "/home/ann/.local/share/colorstudio"
    assert MacOS(paths.app_name("darwin"), appauthor=False).user_data_dir.endswith(
        "/Library/Application Support/Colorstudio")
