"""Atomic writes: a temporary file in the destination folder, then a rename (or link) into place.

An interrupted write (a crash, a full disk, Ctrl+C, SIGTERM, SIGHUP) leaves the old file, or
nothing, never half a file. Temporary files are called ``.colorstudio-<pid>-<random>.part``:
short whatever the output's name, and recognisable, so a later write into the same folder
removes those of processes that have died (SIGKILL leaves them) and never those of a live one.

Without ``overwrite`` the last step is a no-replace rename (``renameat2(RENAME_NOREPLACE)``
where the system has it, else a hard link then unlinking the temporary file): a file that
appeared at the destination while Colorstudio was writing is never replaced. The file mode is
set by the kernel from the process's umask when the temporary file is created (``os.open``
with 0o666), so nothing here touches the process-wide umask and writes are thread-safe.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

from .files import os_error_sentence, special_file_kind

__all__ = ["WriteError", "Terminated", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "describe_os_error", "signal_cleanup", "remove_stale_temporaries", "rename_no_replace",
           "TEMP_PREFIX"]

TEMP_PREFIX = ".colorstudio-"
TEMP_SUFFIX = ".part"


class WriteError(OSError):
    """A file could not be written; the message says why in a sentence.

    ``errno`` keeps the system's code for programs; ``str()`` is the sentence alone, never
    prefixed with ``[Errno N]``.
    """

    def __str__(self) -> str:
        return self.strerror if isinstance(self.strerror, str) and self.strerror else super().__str__()


class Terminated(BaseException):
    """The process was asked to stop (SIGTERM, SIGHUP) while writing; temporary files are gone."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    def __str__(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


def describe_os_error(exc: OSError, path: Path | str) -> str:
    """One sentence for an OS error met while writing ``path`` (see files.os_error_sentence)."""
    return os_error_sentence(exc, path)


# -- temporaries of this process, removed on SIGTERM / SIGHUP -----------------------------------

_live_lock = threading.Lock()
_live: set[str] = set()


def _remove_live_temporaries() -> None:
    with _live_lock:
        paths = list(_live)
        _live.clear()
    for p in paths:
        with contextlib.suppress(OSError):
            os.unlink(p)


def _on_signal(signum, frame):  # noqa: ARG001 - the signal module's signature
    _remove_live_temporaries()
    raise Terminated(signum)


@contextlib.contextmanager
def signal_cleanup() -> Iterator[bool]:
    """While inside, SIGTERM and SIGHUP remove this process's temporary files and raise
    ``Terminated`` (SIGINT already unwinds through KeyboardInterrupt); the handlers that were
    there before come back on leaving.

    For the CLI's commands, not for an event loop. Only from the main thread, and only for
    signals still at their default handler; yields whether anything was installed.
    """
    saved = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            sig = getattr(signal, name, None)
            if sig is None:
                continue
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    signal.signal(sig, _on_signal)
                    saved[sig] = signal.SIG_DFL
    try:
        yield bool(saved)
    except KeyboardInterrupt:
        _remove_live_temporaries()  # Ctrl+C in the instant between creating one and its try
        raise
    finally:
        for sig, handler in saved.items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)


# -- stale temporaries of dead processes --------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not ours to judge: keep it
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (another user's process) or cannot tell: keep it
    return True


def remove_stale_temporaries(folder: Path | str) -> list[Path]:
    """Remove ``.colorstudio-<pid>-*.part`` files in ``folder`` whose process has died.

    Files of live processes (and of this one) are kept. Returns what was removed.
    """
    if sys.platform == "win32":
        return []  # os.kill(pid, 0) would terminate the process there
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        n = entry.name
        if not (n.startswith(TEMP_PREFIX) and n.endswith(TEMP_SUFFIX)):
            continue
        pid_text = n[len(TEMP_PREFIX):].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


# -- the no-replace final step ------------------------------------------------------------------

_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
_renameat2 = None
_renameat2_checked = False
_renameat2_lock = threading.Lock()


def _get_renameat2():
    global _renameat2, _renameat2_checked
    with _renameat2_lock:
        if not _renameat2_checked:
            _renameat2_checked = True
            if sys.platform.startswith("linux"):
                try:
                    libc = ctypes.CDLL(None, use_errno=True)
                    fn = libc.renameat2
                    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                    fn.restype = ctypes.c_int
                    _renameat2 = fn
                except (OSError, AttributeError):
                    _renameat2 = None
        return _renameat2


def _exists_error(path: Path) -> WriteError:
    name = path.name or str(path)
    return WriteError(errno.EEXIST, f"{name} already exists (it appeared while Colorstudio was writing); "
                                    "it was left as it is; use --overwrite to replace it")


def rename_no_replace(src: Path | str, dst: Path | str) -> None:
    """Move ``src`` to ``dst`` unless ``dst`` exists, atomically; WriteError if it exists.

    renameat2(RENAME_NOREPLACE) where the kernel and file system have it; else a hard link
    (which fails if ``dst`` exists) and unlinking ``src``; on file systems with neither (some
    FAT or network disks) a check and a rename, the best they allow.
    """
    src, dst = Path(src), Path(dst)
    fn = _get_renameat2()
    if fn is not None:
        if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise _exists_error(dst)
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
            raise OSError(code, os.strerror(code), str(dst))
    try:
        os.link(src, dst)
    except FileExistsError:
        raise _exists_error(dst) from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK,
                             errno.ENOSYS, errno.EINVAL):
            raise
        if os.path.lexists(dst):
            raise _exists_error(dst) from None
        os.rename(src, dst)
        return
    with contextlib.suppress(OSError):
        os.unlink(src)


# -- atomic writes ------------------------------------------------------------------------------

def _temp_name() -> str:
    return f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}"


@contextlib.contextmanager
def atomic_path(path: Path | str, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is moved onto ``path``.

    ``overwrite=False``: a file that exists at ``path`` when the write finishes (even one that
    appeared meanwhile) is never replaced; WriteError says so and the temporary file goes.
    On any exception the temporary file is removed and ``path`` is left untouched. Stale
    temporary files of dead processes in the folder are removed first.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise WriteError(errno.ENOENT, f"the folder {folder} does not exist")
    kind = special_file_kind(path)
    if kind is not None:  # never replace /dev/null, a pipe or a folder, even with overwrite
        raise WriteError(errno.EEXIST, f"{path.name or path} is {kind}, not a file Colorstudio can write "
                                       "over; choose another name")
    remove_stale_temporaries(folder)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    tmp_path = _create_temporary(folder, path, flags)
    try:
        yield tmp_path
        if overwrite:
            os.replace(tmp_path, path)
        else:
            rename_no_replace(tmp_path, path)
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
    finally:
        with _live_lock:
            _live.discard(str(tmp_path))


def _create_temporary(folder: Path, path: Path, flags: int) -> Path:
    """Create a new temporary file in ``folder``, registered for signal clean-up *before* it
    exists, so that a signal at any moment (even between its creation and the caller's
    ``try``) leaves nothing behind."""
    for _ in range(100):
        candidate = folder / _temp_name()
        with _live_lock:
            _live.add(str(candidate))
        try:
            os.close(os.open(candidate, flags, 0o666))  # the kernel applies the umask: a normal mode
            return candidate
        except FileExistsError:
            with _live_lock:
                _live.discard(str(candidate))
            continue
        except OSError as exc:
            with _live_lock:
                _live.discard(str(candidate))
            raise WriteError(exc.errno, describe_os_error(exc, path)) from exc
        except BaseException:  # Ctrl+C while creating it: it may exist
            with contextlib.suppress(OSError):
                os.unlink(candidate)
            with _live_lock:
                _live.discard(str(candidate))
            raise
    raise WriteError(errno.EEXIST, f"could not create a temporary file in {folder}")


def atomic_write_bytes(path: Path | str, data: bytes, *, overwrite: bool = True) -> None:
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_text(path: Path | str, text: str, *, overwrite: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
