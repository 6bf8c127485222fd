"""User models: networks trained with ``colorstudio train``, kept in the models folder.

They live in ``<models folder>/user/``: ``NAME.pth`` (a plain state_dict, read with
``weights_only=True``) and ``NAME.json`` (the manifest: architecture, network and options,
modes, data summary, steps, time, held-out scores, and the model file's SHA-256). The
manifest is written last, so a model is registered only once its file is complete. Listing
reads the small manifests only (no torch) and is cached until the folder changes.
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..core.atomic import atomic_write_text
from .errors import ModelError
from .store import models_path

FOLDER = "user"
MANIFEST_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def user_models_path() -> Path:
    return models_path() / FOLDER


def name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot name a user model, or None."""
    if not _NAME.match(name or "") or name.endswith((".json", ".pth", ".training")):
        return (f"{name!r} cannot name a model: use letters, digits, '-', '_' or '.', starting with a "
                f"letter or digit (at most 64)")
    return None


@dataclass(frozen=True)
class UserModel:
    name: str
    manifest: dict
    model_path: Path
    manifest_path: Path

    @property
    def architecture(self) -> str:
        return str(self.manifest.get("architecture", ""))

    @property
    def network(self) -> str:
        return str(self.manifest.get("network", ""))

    @property
    def options(self) -> dict:
        return dict(self.manifest.get("options", {}))

    @property
    def modes(self) -> tuple:
        return tuple(self.manifest.get("modes", ("auto",)))

    @property
    def sha256(self) -> str:
        return str(self.manifest.get("model_sha256", ""))

    @property
    def size(self) -> int:
        return int(self.manifest.get("model_bytes", 0))


def model_paths(name: str) -> tuple[Path, Path]:
    folder = user_models_path()
    return folder / f"{name}.pth", folder / f"{name}.json"


def training_folder(name: str) -> Path:
    """Where the checkpoints of an unfinished training of ``name`` live."""
    return user_models_path() / f"{name}.training"


_lock = threading.Lock()
_cache: dict = {}


def list_user_models() -> list[UserModel]:
    """Every registered user model whose file is there, by name. Unreadable manifests are
    skipped (a model half-copied by hand does not break the engine list)."""
    folder = user_models_path()
    try:
        stamp = (str(folder), folder.stat().st_mtime_ns)
    except OSError:
        return []
    with _lock:
        if _cache.get("stamp") == stamp:
            return list(_cache["models"])
    out = []
    for manifest_path in sorted(folder.glob("*.json")):
        name = manifest_path.stem
        model_path = folder / f"{name}.pth"
        if name_problem(name) or not model_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("name") != name:
            continue
        out.append(UserModel(name, manifest, model_path, manifest_path))
    with _lock:
        _cache.update(stamp=stamp, models=out)
    return list(out)


def get_user_model(name: str) -> UserModel:
    for m in list_user_models():
        if m.name == name:
            return m
    raise ModelError(f"there is no trained model called {name!r} in {user_models_path()}")


def read_manifest(path) -> dict:
    """A manifest file, read back (ModelError when it is not one)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} is not a model manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION:
        raise ModelError(f"{path} is not a model manifest of this version")
    return data


def write_manifest(name: str, manifest: dict) -> Path:
    """Register a model whose file is already in place: write its manifest atomically."""
    _, manifest_path = model_paths(name)
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    with _lock:
        _cache.clear()
    return manifest_path
