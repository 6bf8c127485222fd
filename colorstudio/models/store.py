"""The model cache folder: where installed weights live, listing, importing and removing.

The folder is the platform's per-user data folder, or ``$COLORSTUDIO_MODELS`` when set:

* Linux and other Unix: ``$XDG_DATA_HOME/colorstudio/models`` (``~/.local/share/...``)
* macOS: ``~/Library/Application Support/Colorstudio/models``
* Windows: ``%LOCALAPPDATA%\\Colorstudio\\models``

A model is installed when its published file name is in the folder. Downloads in progress
are ``<file>.part`` beside it and never count as installed.
"""
from __future__ import annotations

import errno
import ntpath
import os
import posixpath
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..core.atomic import WriteError, atomic_path
from .errors import ModelCancelled, ModelError
from .registry import MODELS, ModelInfo, get_model

# Same shapes as in .checkpoint; not imported from there so that listing never loads torch.
Progress = Optional[Callable[[int, int], None]]
ShouldStop = Optional[Callable[[], bool]]

ENV_VAR = "COLORSTUDIO_MODELS"
PART_SUFFIX = ".part"


def default_models_folder(platform: str, environ, home: str) -> str:
    """The per-user models folder for a platform ("linux", "darwin", "win32"), as text.

    Pure (no file access) so that every platform's answer can be tested anywhere.
    """
    if platform == "darwin":
        return posixpath.join(home, "Library", "Application Support", "Colorstudio", "models")
    if platform.startswith("win"):
        base = environ.get("LOCALAPPDATA") or ntpath.join(home, "AppData", "Local")
        return ntpath.join(base, "Colorstudio", "models")
    base = environ.get("XDG_DATA_HOME") or ""
    if not posixpath.isabs(base):  # the XDG spec says to ignore relative values
        base = posixpath.join(home, ".local", "share")
    return posixpath.join(base, "colorstudio", "models")


def models_path() -> Path:
    """The folder installed models live in: $COLORSTUDIO_MODELS, else the platform's
    per-user data folder (not created here)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    platform = "win32" if os.name == "nt" else sys.platform
    return Path(default_models_folder(platform, os.environ, str(Path.home())))


def ensure_models_path() -> Path:
    folder = models_path()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"could not create the models folder {folder}: {exc.strerror or exc}; "
                         f"set {ENV_VAR} to a folder you can write") from None
    return folder


def model_file(name: str) -> Path:
    """Where model ``name`` is (or would be) installed."""
    return models_path() / get_model(name).filename


def part_file(name: str) -> Path:
    return models_path() / (get_model(name).filename + PART_SUFFIX)


def is_installed(name: str) -> bool:
    """Whether model ``name``'s published file is in the models folder (an interrupted
    download does not count). Cheap: one ``stat``, no checksum, never imports torch.

    Raises ModelError for a name the registry does not know.
    """
    return model_file(name).is_file()


def installed_path(name: str) -> Optional[Path]:
    """The installed file of ``name``, or None when it is not installed."""
    path = model_file(name)
    return path if path.is_file() else None


@dataclass(frozen=True)
class ModelStatus:
    """A registry entry and whether (and where) it is installed."""

    info: ModelInfo
    installed: bool
    path: Path
    size: Optional[int]          # bytes on disk when installed
    partial: Optional[int]       # bytes of an interrupted download, if any

    @property
    def name(self) -> str:
        return self.info.name


def list_models() -> list[ModelStatus]:
    """Every known model, installed or not, with its path and size."""
    out = []
    for info in MODELS.values():
        path = models_path() / info.filename
        part = path.with_name(path.name + PART_SUFFIX)
        size = path.stat().st_size if path.is_file() else None
        partial = part.stat().st_size if part.is_file() else None
        out.append(ModelStatus(info, size is not None, path, size, partial))
    return out


def not_installed_message(name: str) -> str:
    return (f"the {name} model is not installed; install it with `colorstudio models install {name}`, "
            f"or on an offline machine `colorstudio models import {name} FILE`")


def verify_file(name: str, path: Path | str, *, progress: Progress = None, should_stop: ShouldStop = None,
                label: Optional[str] = None, advice: Optional[str] = None) -> None:
    """Check that ``path`` is the published ``name`` file: checksum, then a safe strict load."""
    from .checkpoint import check_hash, load_network
    info = get_model(name)
    extra = {"advice": advice} if advice else {}
    check_hash(path, info, progress=progress, should_stop=should_stop, label=label, **extra)
    load_network(info.architecture, path, label)


def import_model(name: str, file: Path | str, progress: Progress = None,
                 should_stop: ShouldStop = None) -> Path:
    """Install ``file`` as model ``name`` (for machines without network access).

    The file is copied beside its final place, the copy is verified (published checksum,
    safe strict load), and only then renamed into the cache; on any failure the cache is
    unchanged. Returns the installed path.
    """
    info = get_model(name)
    src = Path(file).expanduser()
    if not src.is_file():
        raise ModelError(f"the file {src} does not exist")
    folder = ensure_models_path()
    dest = folder / info.filename
    total = src.stat().st_size

    def copy_progress(done: int, _total: int) -> None:
        if progress is not None:
            progress(done // 2, total)

    def hash_progress(done: int, _total: int) -> None:
        if progress is not None:
            progress(total // 2 + done // 2, total)

    try:
        with atomic_path(dest) as tmp:
            _copy(src, tmp, copy_progress, should_stop)
            # Verify the copy, so that what is installed is exactly what was checked.
            verify_file(name, tmp, progress=hash_progress, should_stop=should_stop, label=str(src),
                        advice=f"it is not the published {name} file (or it is damaged); download {info.url} "
                               f"again and import that, or run `colorstudio models install {name}`")
    except WriteError as exc:
        raise ModelError(str(exc)) from None
    if progress is not None:
        progress(total, total)
    return dest


def _copy(src: Path, dest: Path, progress: Progress, should_stop: ShouldStop) -> None:
    total = src.stat().st_size
    done = 0
    try:
        with open(src, "rb") as fi, open(dest, "wb") as fo:
            while True:
                if should_stop is not None and should_stop():
                    raise ModelCancelled("the import was cancelled")
                chunk = fi.read(1 << 20)
                if not chunk:
                    break
                fo.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
            fo.flush()
            os.fsync(fo.fileno())
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ModelError(f"the disk is full: could not copy {src} into {dest.parent}; free some space") from None
        raise ModelError(f"could not copy {src}: {exc.strerror or exc}") from None


def remove(name: str) -> Path:
    """Delete the installed file of ``name`` (and any interrupted download). Returns its path."""
    path = model_file(name)
    part = part_file(name)
    had_part = part.is_file()
    if had_part:
        part.unlink()
    if not path.is_file():
        if had_part:
            return part
        raise ModelError(f"the {name} model is not installed (nothing to remove in {path.parent})")
    try:
        path.unlink()
    except OSError as exc:
        raise ModelError(f"could not remove {path}: {exc.strerror or exc}") from None
    return path

