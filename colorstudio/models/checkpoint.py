"""Checkpoint files: hash checks, safe reading, and strict loading into our networks.

Safety: a ``.pth`` file is a pickle, and a pickle can run code when it is opened. We only
ever read checkpoints with ``torch.load(..., weights_only=True)``, PyTorch's restricted
unpickler that rebuilds tensors and plain containers and refuses everything else, so a
file that tries to run code is refused before anything runs.
"""
from __future__ import annotations

import errno
import functools
import hashlib
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Callable, Mapping, Optional

import torch
from torch import nn

from ..core.files import FileError, open_regular
from .errors import ModelCancelled, ModelError
from .networks import ARCHITECTURES
from .registry import ModelInfo

Progress = Optional[Callable[[int, int], None]]
ShouldStop = Optional[Callable[[], bool]]

_CHUNK = 1 << 20


def sha256_file(path: Path | str, progress: Progress = None, should_stop: ShouldStop = None) -> str:
    """The hex SHA-256 of a file, read in chunks (``progress(done, total)`` in bytes)."""
    path = Path(path)
    try:
        fh = open_regular(path, what="model file")  # never a FIFO or a device: no hang, no endless read
    except FileError as exc:
        raise ModelError(str(exc)) from None
    total = os.fstat(fh.fileno()).st_size
    digest = hashlib.sha256()
    done = 0
    with fh:
        while True:
            if should_stop is not None and should_stop():
                raise ModelCancelled("the checksum was cancelled")
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def hash_matches(digest: str, prefix: str) -> bool:
    """torch.hub's rule: the published prefix must equal the digest's first characters."""
    return bool(prefix) and digest[:len(prefix)].lower() == prefix.lower()


def check_hash(path: Path | str, info: ModelInfo, *, progress: Progress = None,
               should_stop: ShouldStop = None, label: Optional[str] = None,
               advice: str = "the download may be damaged: delete it and install again") -> str:
    """Raise ModelError unless ``path`` has the published checksum of ``info``.

    ``label`` names the file in the message when ``path`` is a temporary copy; ``advice``
    ends the message.
    """
    digest = sha256_file(path, progress, should_stop)
    if not hash_matches(digest, info.sha256_prefix):
        what = label or str(Path(path))
        raise ModelError(
            f"{what} does not match the published checksum of {info.name} (SHA-256 starts with "
            f"{digest[:len(info.sha256_prefix)]}, expected {info.sha256_prefix}); {advice}")
    return digest


def check_file_hash(path: Path | str, info: ModelInfo, file, *, progress: Progress = None,
                    should_stop: ShouldStop = None, label: Optional[str] = None,
                    advice: str = "the download may be damaged: delete it and install again") -> str:
    """Raise ModelError unless ``path`` has the published checksum of ``file`` (one
    ModelFile of the model ``info``, which has several)."""
    digest = sha256_file(path, progress, should_stop)
    if not hash_matches(digest, file.sha256):
        what = label or str(Path(path))
        raise ModelError(
            f"{what} does not match the published checksum of {file.filename} of the {info.name} model "
            f"(SHA-256 starts with {digest[:len(file.sha256)][:16]}, expected {file.sha256[:16]}); {advice}")
    return digest


@functools.lru_cache(maxsize=None)
def expected_bytes(architecture: str) -> Optional[int]:
    """The bytes of ``architecture``'s state dict in float32 (built on the meta device: no
    memory), or None when that network cannot be built there."""
    try:
        with torch.device("meta"):
            module = ARCHITECTURES[architecture]()
        return sum(t.numel() * t.element_size() for t in module.state_dict().values())
    except Exception:  # noqa: BLE001 - the generic bound still applies
        return None


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 10e6 else f"{n / 1e6:,.0f} MB"


def _check_archive(fh, real: Path, path: str, architecture: Optional[str]) -> None:
    """Refuse a damaged zip archive, or one that declares far more data than it can hold.

    PyTorch checkpoints are zip archives whose records are stored uncompressed; a record
    that expands a hundredfold (a "zip bomb") would be unpacked by torch.load before any
    check could run, so the declared sizes in the central directory are checked first:
    at most twice what ``architecture`` needs (a float64 copy) plus room for the pickle, or,
    for an unknown architecture, twice the file's own size.
    """
    try:
        fh.seek(0)
        if fh.read(2) != b"PK":
            fh.seek(0)
            return  # the legacy (pre-1.6) format: no compression, nothing to expand
        fh.seek(0)
        with zipfile.ZipFile(fh) as archive:
            declared = sum(info.file_size for info in archive.infolist())
        fh.seek(0)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ModelError(f"{path} is incomplete or damaged (its archive cannot be read: it may have been cut "
                         f"short while downloading or copying); delete it and download it again") from exc
    except OSError as exc:
        raise ModelError(f"could not read {path}: {exc.strerror or exc}") from None
    if architecture is not None and expected_bytes(architecture) is not None:
        limit = 2 * expected_bytes(architecture) + (16 << 20)
        what = f"the {architecture} network needs {_mb(expected_bytes(architecture))}"
    else:
        limit = 2 * real.stat().st_size + (64 << 20)
        what = f"the file itself is {_mb(real.stat().st_size)}"
    if declared > limit:
        raise ModelError(f"{path} is not a plain weights file: it declares {_mb(declared)} of data "
                         f"when unpacked, and {what}; it was refused before it was unpacked")


def read_state_dict(path: Path | str, label: Optional[str] = None, *,
                    architecture: Optional[str] = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint safely (tensors and plain containers only) into a flat state dict.

    ``label`` names the file in messages (default: its path). With ``architecture``, an
    archive that declares much more data than that network's weights is refused before it
    is unpacked. A file whose weights are not all finite numbers (NaN, infinity) is refused.
    """
    real = Path(path)
    path = label or str(real)
    if not os.path.lexists(real):
        raise ModelError(f"the model file {path} does not exist")
    try:
        # Only a regular file: a FIFO or a device is refused, never waited on or read forever.
        fh = open_regular(real, what="model file")
    except FileError as exc:
        raise ModelError(str(exc) if label is None else str(exc).replace(real.name, label, 1)) from None
    try:
        _check_archive(fh, real, path, architecture)
    except BaseException:
        fh.close()
        raise
    try:
        with fh, warnings.catch_warnings():
            # PyTorch warns about pickle protocols; the outcome (loaded or refused) is what counts.
            warnings.simplefilter("ignore")
            data = torch.load(fh, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "Weights only load failed" in text:
            raise ModelError(
                f"{path} is not a plain weights file: it asks to run code when opened, so it was "
                f"refused and nothing in it was run") from None
        raise ModelError(f"{path} is not a model checkpoint (it could not be read as PyTorch weights)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        if (isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.errno is not None
                and exc.errno not in (errno.EINVAL, errno.EFBIG, errno.ESPIPE)):
            raise ModelError(f"could not read {path}: {exc.strerror}") from None
        raise ModelError(
            f"{path} is incomplete or damaged (it could not be read as PyTorch weights); "
            f"delete it and download it again") from None
    except Exception:  # noqa: BLE001 - any other reader failure is a bad file, not a crash
        raise ModelError(f"{path} is not a model checkpoint (it could not be read as PyTorch weights)") from None
    if isinstance(data, Mapping) and "state_dict" in data and isinstance(data["state_dict"], Mapping):
        data = data["state_dict"]
    if not isinstance(data, Mapping) or not data:
        raise ModelError(f"{path} is not a model checkpoint (it holds no named weights)")
    out: dict[str, torch.Tensor] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ModelError(f"{path} is not a model checkpoint (entry {key!r} is not a tensor)")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelError(f"{path} is damaged: its weight {key} holds values that are not finite numbers "
                             f"(NaN or infinity); delete it and install or import it again")
        out[key] = value
    return out


def _shape(t) -> str:
    return "\u00d7".join(str(int(s)) for s in t) if len(t) else "a single number"


def check_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], name: str, source: str) -> None:
    """Raise ModelError naming the first key or shape of ``state`` that ``module`` cannot take."""
    expected = module.state_dict()
    for key, tensor in expected.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                continue  # absent from old checkpoints; PyTorch fills it in
            raise ModelError(f"{source} is not a checkpoint of the {name} network: it lacks the weight {key}")
        got = state[key]
        if tuple(got.shape) != tuple(tensor.shape):
            raise ModelError(f"{source} is not a checkpoint of the {name} network: {key} has shape {_shape(got.shape)}, "
                             f"expected {_shape(tensor.shape)}")
        if got.is_floating_point() != tensor.is_floating_point():
            raise ModelError(f"{source} is not a checkpoint of the {name} network: {key} holds {got.dtype}, expected {tensor.dtype}")
    for key in state:
        if key not in expected:
            raise ModelError(f"{source} is not a checkpoint of the {name} network: it has an unexpected weight {key}")


def build_network(architecture: str, state: Mapping[str, torch.Tensor], source: str) -> nn.Module:
    """Our module for ``architecture`` with ``state`` loaded strictly, in eval mode, on the CPU."""
    module = ARCHITECTURES[architecture]()
    check_state_dict(module, state, architecture, source)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # the checks above should have caught it; keep it one sentence
        first = str(exc).strip().splitlines()[-1].strip()
        raise ModelError(f"{source} is not a checkpoint of the {architecture} network ({first})") from None
    for p in module.parameters():
        p.requires_grad_(False)
    return module.eval()


def load_network(architecture: str, path: Path | str, label: Optional[str] = None) -> nn.Module:
    """Read ``path`` safely and load it strictly into a fresh ``architecture`` module."""
    label = label or str(Path(path))
    return build_network(architecture, read_state_dict(path, label, architecture=architecture), label)


def load_model(info: ModelInfo, paths: Mapping[str, Path], label: Optional[str] = None) -> nn.Module:
    """``info``'s network loaded strictly from its files (published name -> path), each read
    safely; a file whose ModelFile names a ``part`` loads into that sub-module. One-file
    models load as with :func:`load_network`."""
    if len(info.files) == 1 and not info.files[0].part:
        return load_network(info.architecture, paths[info.files[0].filename], label)
    state: dict[str, torch.Tensor] = {}
    for f in info.files:
        where = f"{f.filename} from {label}" if label else str(Path(paths[f.filename]))
        for key, value in read_state_dict(paths[f.filename], where).items():
            state[f"{f.part}.{key}" if f.part else key] = value
    return build_network(info.architecture, state, label or f"the {info.name} files")
