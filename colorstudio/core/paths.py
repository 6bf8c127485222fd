"""Where Colorstudio keeps its files: one per-user data folder, from platformdirs.

* the data folder (autosaved documents, ``settings.json``): ``$COLORSTUDIO_DATA`` if set,
  else the platform's per-user data folder;
* the models folder (installed weights): ``$COLORSTUDIO_MODELS`` if set, else ``models``
  inside the platform's per-user data folder.

The platform folders, as platformdirs gives them:

* Linux and other Unix: ``$XDG_DATA_HOME/colorstudio`` (``~/.local/share/colorstudio``)
* macOS: ``~/Library/Application Support/Colorstudio``
* Windows: ``%LOCALAPPDATA%\\Colorstudio``

Nothing here creates a folder; asking is free.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

DATA_ENV = "COLORSTUDIO_DATA"
MODELS_ENV = "COLORSTUDIO_MODELS"


def app_name(platform: str = sys.platform) -> str:
    """The folder name: lower case where the platform's convention is (Unix), else capitalised."""
    return "Colorstudio" if platform == "darwin" or platform.startswith("win") else "colorstudio"


def platform_data_dir() -> Path:
    """The platform's per-user data folder for Colorstudio (environment overrides ignored)."""
    import platformdirs
    return Path(platformdirs.user_data_dir(app_name(), appauthor=False, roaming=False))


def data_dir() -> Path:
    """The user data folder: $COLORSTUDIO_DATA, else the platform's per-user data folder."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else platform_data_dir()


def models_dir() -> Path:
    """The installed-models folder: $COLORSTUDIO_MODELS, else ``models`` in the platform's
    per-user data folder."""
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else platform_data_dir() / "models"
