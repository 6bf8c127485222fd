"""The model cache folder: where installed weights live, listing, importing and removing.

The folder is ``models`` in the platform's per-user data folder (platformdirs; see
:mod:`colorstudio.core.paths`), or ``$COLORSTUDIO_MODELS`` when set.

A model is installed when its published file name is in the folder. Downloads in progress
are ``<file>.part`` beside it and never count as installed.

A model of several files (MicroAST's four parts, AdaIN's two) lives in a folder of its own,
``<models folder>/<name>/``, and is installed when all its files are there. A *bundled* model
(``ModelSpec.bundled``) ships inside the package, in ``resources/models/<name>/``, and is
always installed; a copy in the models folder (``models install`` or ``models import``)
is used first when it is complete. Either copy's checksums are checked when it is loaded.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from ..core.atomic import WriteError, atomic_path
from ..core.files import FileError, open_regular, os_error_sentence
from ..core.paths import MODELS_ENV as ENV_VAR
from ..core.paths import models_dir
from .errors import ModelCancelled, ModelError
from .registry import MODELS, ModelInfo, get_model

# Same shapes as in .checkpoint; not imported from there so that listing never loads torch.
Progress = Optional[Callable[[int, int], None]]
ShouldStop = Optional[Callable[[], bool]]

PART_SUFFIX = ".part"


def models_path() -> Path:
    """The folder installed models live in: $COLORSTUDIO_MODELS, else the platform's
    per-user data folder (not created here; see :mod:`colorstudio.core.paths`)."""
    return models_dir()


def ensure_models_path() -> Path:
    folder = models_path()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"could not create the models folder {folder}: {os_error_sentence(exc, folder)}; "
                         f"set {ENV_VAR} to a folder you can write") from None
    return folder


def model_file(name: str) -> Path:
    """Where model ``name`` is (or would be) installed in the models folder: its file, or
    for a model of several files the folder that holds them."""
    info = get_model(name)
    if info.multi_file:
        return models_path() / info.name
    return models_path() / info.filename


def part_file(name: str) -> Path:
    return models_path() / (get_model(name).filename + PART_SUFFIX)


def user_files(info) -> dict[str, Path]:
    """Where each file of ``info`` is (or would be) in the models folder, by published name."""
    folder = models_path() / info.name if info.multi_file else models_path()
    return {f.filename: folder / f.filename for f in info.files}


def _resources_folder() -> Optional[Path]:
    """The package's resources folder (see :mod:`colorstudio.core.resources`)."""
    from ..core import resources
    return resources.resource_root()


def bundled_folder(name: str) -> Optional[Path]:
    """The folder a bundled model ships in (``resources/models/<name>/``) when all its files
    are there; None for a model that is not bundled (or a package missing them)."""
    info = get_model(name)
    if not info.bundled:
        return None
    root = _resources_folder()
    if root is None:
        return None
    folder = root / "models" / info.name
    return folder if all((folder / f.filename).is_file() for f in info.files) else None


def installed_files(name: str) -> Optional[dict[str, Path]]:
    """Every file of model ``name`` by published name, from one complete copy (the models
    folder's first, then the bundled one), or None when it is not installed. No checksum."""
    info = get_model(name)
    mine = user_files(info)
    if all(p.is_file() for p in mine.values()):
        return mine
    folder = bundled_folder(name)
    if folder is not None:
        return {f.filename: folder / f.filename for f in info.files}
    return None


def is_installed(name: str) -> bool:
    """Whether all of model ``name``'s published files are in the models folder (an
    interrupted download does not count), or it is bundled. Cheap: a ``stat`` per file, no
    checksum, never imports torch.

    Raises ModelError for a name the registry does not know.
    """
    return installed_files(name) is not None


def installed_path(name: str) -> Optional[Path]:
    """The installed file of ``name`` (for a model of several files, the folder holding
    them), or None when it is not installed."""
    info = get_model(name)
    files = installed_files(name)
    if files is None:
        return None
    first = files[info.files[0].filename]
    return first.parent if info.multi_file else first


@dataclass(frozen=True)
class ModelStatus:
    """A registry entry and whether (and where) it is installed."""

    info: ModelInfo
    installed: bool
    path: Path
    size: Optional[int]          # bytes on disk when installed
    partial: Optional[int]       # bytes of an interrupted download, if any
    bundled: bool = False        # shipped inside the package (cannot be removed)

    @property
    def name(self) -> str:
        return self.info.name


def list_models() -> list[ModelStatus]:
    """Every known model, installed or not, with its path and size."""
    out = []
    for info in MODELS.values():
        if not info.multi_file and not info.bundled:
            path = models_path() / info.filename
            part = path.with_name(path.name + PART_SUFFIX)
            size = path.stat().st_size if path.is_file() else None
            partial = part.stat().st_size if part.is_file() else None
            out.append(ModelStatus(info, size is not None, path, size, partial))
            continue
        mine = user_files(info)
        parts = [p.with_name(p.name + PART_SUFFIX) for p in mine.values()]
        partial = sum(p.stat().st_size for p in parts if p.is_file()) or None
        files = installed_files(info.name)
        if files is None:
            out.append(ModelStatus(info, False, model_file(info.name), None, partial))
            continue
        first = files[info.files[0].filename]
        path = first.parent if info.multi_file else first
        size = sum(p.stat().st_size for p in files.values())
        out.append(ModelStatus(info, True, path, size, partial, bundled=files != mine))
    return out


def not_installed_message(name: str) -> str:
    return (f"the {name} model is not installed; install it with `colorstudio models install {name}`, "
            f"or on an offline machine `colorstudio models import {name} FILE`")


def verify_file(name: str, path: Path | str, *, progress: Progress = None, should_stop: ShouldStop = None,
                label: Optional[str] = None, advice: Optional[str] = None) -> None:
    """Check that ``path`` is the published ``name`` file: checksum, then a safe strict load.

    For a model of several files ``path`` is the folder that holds them (by published name).
    """
    from .checkpoint import check_hash, load_network
    info = get_model(name)
    if info.multi_file:
        folder = Path(path)
        verify_files(name, {f.filename: folder / f.filename for f in info.files}, progress=progress,
                     should_stop=should_stop, label=label, advice=advice)
        return
    extra = {"advice": advice} if advice else {}
    check_hash(path, info, progress=progress, should_stop=should_stop, label=label, **extra)
    load_network(info.architecture, path, label)


def verify_files(name: str, paths: dict, *, progress: Progress = None, should_stop: ShouldStop = None,
                 label: Optional[str] = None, advice: Optional[str] = None, load: bool = True) -> None:
    """Check every file of model ``name`` (``paths``: published name -> where it is): each
    one's checksum, then (``load``) a safe strict load of the whole network from them.

    ``label`` names where the files came from in messages (a folder, a download)."""
    from .checkpoint import check_file_hash, load_model
    info = get_model(name)
    sizes = {f.filename: Path(paths[f.filename]).stat().st_size if Path(paths[f.filename]).is_file() else 0
             for f in info.files}
    total = sum(sizes.values())
    done = 0
    for f in info.files:
        path = Path(paths[f.filename])
        if not path.is_file():
            raise ModelError(f"{label or path.parent} lacks the file {f.filename} of the {name} model")
        base = done

        def sub(d: int, _t: int, base=base) -> None:
            if progress is not None:
                progress(base + d, total)

        extra = {"advice": advice} if advice else {}
        check_file_hash(path, info, f, progress=sub, should_stop=should_stop,
                        label=f"{f.filename} from {label}" if label else None, **extra)
        done += sizes[f.filename]
    if load:
        load_model(info, {k: Path(v) for k, v in paths.items()}, label)


def import_model(name: str, file: Path | str, progress: Progress = None,
                 should_stop: ShouldStop = None) -> Path:
    """Install ``file`` as model ``name`` (for machines without network access).

    The file is copied beside its final place, the copy is verified (published checksum,
    safe strict load), and only then renamed into the cache; on any failure the cache is
    unchanged. Returns the installed path.
    """
    info = get_model(name)
    src = Path(file).expanduser()
    if info.multi_file:
        return _import_folder(info, src, progress, should_stop)
    if not os.path.lexists(src):
        raise ModelError(f"the file {src} does not exist")
    try:
        open_regular(src, what="model file").close()  # a FIFO, device or folder: a sentence, never a hang
    except FileError as exc:
        raise ModelError(str(exc)) from None
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


def _import_folder(info, src: Path, progress: Progress, should_stop: ShouldStop) -> Path:
    """Install a model of several files from a folder holding them by their published names
    (a path to one of them stands for its folder). All are copied beside their final
    places, verified together, and only then renamed in; on failure nothing is installed."""
    import contextlib
    folder_in = src.parent if src.is_file() else src
    if not folder_in.is_dir():
        raise ModelError(f"the folder {src} does not exist (the {info.name} model is {len(info.files)} files: "
                         f"give the folder that holds them)")
    missing = [f.filename for f in info.files if not (folder_in / f.filename).is_file()]
    if missing:
        raise ModelError(f"{folder_in} lacks {', '.join(missing)} of the {info.name} model (it needs "
                         f"{', '.join(f.filename for f in info.files)})")
    ensure_models_path()
    dests = user_files(info)
    dest_folder = next(iter(dests.values())).parent
    try:
        dest_folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"could not create {dest_folder}: {os_error_sentence(exc, dest_folder / 'x')}") from None
    total = sum((folder_in / f.filename).stat().st_size for f in info.files)
    done = [0]

    def copy_progress(d: int, _t: int, base=0) -> None:
        if progress is not None:
            progress((done[0] + d) // 2, total)

    def hash_progress(d: int, _t: int) -> None:
        if progress is not None:
            progress(total // 2 + d // 2, total)

    try:
        with contextlib.ExitStack() as stack:
            tmps = {}
            for f in info.files:
                tmp = stack.enter_context(atomic_path(dests[f.filename]))
                _copy(folder_in / f.filename, tmp, copy_progress, should_stop)
                done[0] += (folder_in / f.filename).stat().st_size
                tmps[f.filename] = tmp
            verify_files(info.name, tmps, progress=hash_progress, should_stop=should_stop, label=str(folder_in),
                         advice=f"they are not the published {info.name} files (or are damaged); download them "
                                f"again, or run `colorstudio models install {info.name}`")
    except WriteError as exc:
        raise ModelError(str(exc)) from None
    if progress is not None:
        progress(total, total)
    return dest_folder


def _copy(src: Path, dest: Path, progress: Progress, should_stop: ShouldStop) -> None:
    total = src.stat().st_size
    done = 0
    try:
        with open_regular(src, what="model file") as fi, open(dest, "wb") as fo:
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
    except FileError as exc:
        raise ModelError(str(exc)) from None
    except OSError as exc:
        raise ModelError(f"could not copy {src}: {os_error_sentence(exc, dest)}") from None


def remove(name: str) -> Path:
    """Delete the installed file of ``name`` (and any interrupted download). Returns its path.

    For a model of several files, all of them (and the folder, when empty); a bundled model's
    own copy inside the package is never removed (a ModelError says so)."""
    info = get_model(name)
    if info.multi_file or info.bundled:
        return _remove_files(info)
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
        raise ModelError(f"could not remove {path}: {os_error_sentence(exc, path)}") from None
    return path



def _remove_files(info) -> Path:
    mine = user_files(info)
    parts = [p.with_name(p.name + PART_SUFFIX) for p in mine.values()]
    present = [p for p in [*mine.values(), *parts] if p.is_file()]
    if not present:
        if bundled_folder(info.name) is not None:
            raise ModelError(f"the {info.name} model is part of Colorstudio itself ({bundled_folder(info.name)}) "
                             f"and cannot be removed")
        raise ModelError(f"the {info.name} model is not installed (nothing to remove in {model_file(info.name)})")
    for p in present:
        try:
            p.unlink()
        except OSError as exc:
            raise ModelError(f"could not remove {p}: {os_error_sentence(exc, p)}") from None
    folder = next(iter(mine.values())).parent
    if info.multi_file:
        try:
            folder.rmdir()
        except OSError:
            pass  # something else is in it: leave it
        return folder
    return next(iter(mine.values()))
