"""Reading files safely, and saying in words what went wrong with a file.

Every file Colorstudio reads (photos, references, hints and documents, checkpoints) is opened
through :func:`open_regular`: only a regular file is read. A FIFO, a socket, a device such as
``/dev/zero`` or a folder is refused with a sentence before it is opened (``os.stat``) and
again on the opened descriptor (``os.fstat``, in case the name was swapped in between); the
open itself uses ``O_NONBLOCK``, so a FIFO can never block the process.

:func:`os_error_sentence` is the one place that turns an ``OSError`` into a sentence: "the disk
is full", "the disk is read-only", "you may not write to FOLDER"; never a raw ``[Errno 28]``.
"""
from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path

__all__ = ["FileError", "MAX_TEXT_BYTES", "open_regular", "read_regular_bytes", "os_error_sentence",
           "special_file_kind"]

#: Hints files and documents larger than this are refused before being read (64 MiB; a
#: document with a million hint points is about 60 MB of JSON).
MAX_TEXT_BYTES = 64 * 1024 * 1024


class FileError(ValueError):
    """A file cannot be read; the message is one sentence naming the file."""

    def __init__(self, message: str, path: Path | str | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    return "not a regular file"


def special_file_kind(path) -> str | None:
    """What ``path`` is, in words, when it exists and is neither a regular file nor a link to
    one (a folder, a FIFO, a device ...); None otherwise. Writers refuse to replace those."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _kind(st.st_mode)


def _refuse_kind(path: Path, kind: str, what: str) -> FileError:
    return FileError(f"{path} is {kind}, not a {what}; Colorstudio reads only regular files", path)


def _megabytes(n: int) -> str:
    if n >= 2 ** 20:
        return f"{n / 2 ** 20:.0f} MB"
    return f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def open_regular(path, *, what: str = "file", max_bytes: int | None = None) -> io.BufferedReader:
    """Open ``path`` for binary reading, only if it is a regular file (at most ``max_bytes``).

    ``what`` names the kind of file in messages ("photo", "hints file" ...). Raises FileError
    with one sentence naming the file: missing, a folder, a FIFO, socket or device, no
    permission, unreadable, too big. The caller closes the returned file.
    """
    path = Path(path)
    name = path.name or str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileError(f"{path} does not exist", path) from None
    except OSError as exc:
        raise FileError(os_error_sentence(exc, path, reading=True), path) from None
    kind = _kind(st.st_mode)
    if kind is not None:
        raise _refuse_kind(path, kind, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileError(f"{path} does not exist", path) from None
    except OSError as exc:
        raise FileError(os_error_sentence(exc, path, reading=True), path) from None
    try:
        st = os.fstat(fd)
        kind = _kind(st.st_mode)
        if kind is not None:  # the name was swapped for something else after the first check
            raise _refuse_kind(path, kind, what)
        if max_bytes is not None and st.st_size > max_bytes:
            raise FileError(f"{name} is {_megabytes(st.st_size)}, too large for a {what} (at most "
                            f"{_megabytes(max_bytes)}); Colorstudio refuses it without reading it", path)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: ordinary blocking reads from here on
        raw = io.FileIO(fd, "rb", closefd=True)
        raw.name = str(path)  # readers such as tifffile want the file's name, not the number
        return io.BufferedReader(raw)
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path, *, what: str = "file", max_bytes: int | None = None) -> bytes:
    """The whole content of a regular file, refused (FileError) beyond ``max_bytes``.

    The size is checked on the open descriptor and again while reading, so a file that grows
    meanwhile cannot make this read more than ``max_bytes``.
    """
    path = Path(path)
    with open_regular(path, what=what, max_bytes=max_bytes) as fh:
        try:
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except OSError as exc:
            raise FileError(os_error_sentence(exc, path, reading=True), path) from None
    if max_bytes is not None and len(data) > max_bytes:
        name = path.name or str(path)
        raise FileError(f"{name} is over {_megabytes(max_bytes)}, too large for a {what}", path)
    return data


def os_error_sentence(exc: OSError, path, *, reading: bool = False) -> str:
    """One sentence for an OS error met while writing (or, with ``reading``, reading) ``path``.

    File names keep their spelling (never capitalised); no ``[Errno N]`` prefix.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC:
        return f"the disk is full: could not write {path}; free some space and try again"
    if code == getattr(errno, "EDQUOT", -1):
        return f"your disk quota is used up: could not write {path}; free some space and try again"
    if code == errno.EROFS:
        return f"the disk is read-only: could not write {path}; choose a folder on another disk"
    if code in (errno.EACCES, errno.EPERM):
        if reading:
            return f"you have no permission to read {path.name or path}"
        return f"you may not write to {folder}; choose another folder"
    if code == errno.ENOENT:
        return f"{path} does not exist" if reading else f"the folder {folder} does not exist"
    if code == errno.ENAMETOOLONG:
        return f"the name {path.name} is too long for the disk; choose a shorter name"
    if code == errno.EISDIR:
        return f"{path.name or path} is a folder"
    if code == errno.EIO:
        return f"the disk reported an input/output error with {path}; it may be failing or disconnected"
    reason = (exc.strerror or type(exc).__name__).lower() if isinstance(exc, OSError) else str(exc)
    verb = "read" if reading else "write"
    return f"could not {verb} {path}: {reason}"
