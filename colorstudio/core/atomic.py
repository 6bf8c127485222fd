"""Atomic writes: a temporary file in the destination folder, then a rename into place.

An interrupted write (a crash, a full disk) leaves the old file, or nothing, never half a file.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


class WriteError(OSError):
    """A file could not be written; the message says why in a sentence."""


def describe_os_error(exc: OSError, path: Path | str) -> str:
    """One sentence for an OS error met while writing ``path``."""
    path = Path(path)
    if exc.errno == errno.ENOSPC:
        return f"the disk is full: could not write {path}; free some space and try again"
    if exc.errno == errno.ENOENT:
        return f"the folder {path.parent} does not exist"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write {path}"
    return f"could not write {path}: {exc.strerror or exc}"


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WriteError(errno.ENOENT, f"the folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise WriteError(exc.errno, describe_os_error(exc, path)) from exc
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        try:
            # Keep a normal file mode (mkstemp makes 0600 files).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        except OSError:
            pass
        os.replace(tmp_path, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, WriteError):
            raise
        raise WriteError(exc.errno, describe_os_error(exc, path)) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: Path | str, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: Path | str, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: Path | str, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then rename it into place."""
    with atomic_path(path) as tmp:
        writer(tmp)
