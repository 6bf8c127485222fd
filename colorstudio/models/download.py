"""Downloading published weights: resumable, with a timeout, checked, renamed into place.

The bytes go to ``<file>.part`` in the models folder. A connection that is cut, or that
stalls for longer than the timeout, leaves the ``.part`` file, and the next attempt (in the
same call, or a later ``install``) asks the server for the rest with an HTTP Range request.
While it waits for the server (for the answer, and between reads) the download looks at the
socket in short slices, so a cancel is seen within a fraction of a second even while the
server sends nothing. Only a complete file whose SHA-256 matches the published prefix, and
that loads strictly and safely, is renamed to its final name.
"""
from __future__ import annotations

import functools
import http.client
import io
import logging
import os
import selectors
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from .. import __version__
from ..core.atomic import WriteError, atomic_path
from ..core.files import os_error_sentence
from .errors import ModelCancelled, ModelError
from .registry import ModelInfo, get_model
from .store import PART_SUFFIX, Progress, ShouldStop, ensure_models_path, verify_file

log = logging.getLogger(__name__)

_CHUNK = 1 << 18
#: How many times one ``install`` call reconnects after a cut before giving up.
ATTEMPTS = 3
#: How long (seconds) a download waiting for the server goes without looking at should_stop.
SLICE = 0.1


class _Cut(Exception):
    """The connection ended before the whole file arrived (resumable)."""


def install(name: str, progress: Progress = None, should_stop: ShouldStop = None, timeout: float = 30,
            url: Optional[str] = None, force: bool = False) -> Path:
    """Download model ``name`` into the models folder and return its path.

    ``progress(done, total)`` is called with byte counts (total 0 when unknown);
    ``should_stop()`` cancels (raising ModelCancelled, keeping the partial file for a
    later resume). ``timeout`` is how many seconds to wait for the server at each step.
    ``url`` overrides the registry's address (a mirror). An installed file that passes
    verification is kept unless ``force``. Raises ModelError with a sentence for every
    failure a user can meet.
    """
    info = get_model(name)
    if info.multi_file:
        return _install_files(info, progress, should_stop, timeout, url, force)
    url = url or info.url
    folder = ensure_models_path()
    final = folder / info.filename
    part = folder / (info.filename + PART_SUFFIX)
    if final.is_file() and not force:
        try:
            verify_file(name, final, should_stop=should_stop)
            return final  # already installed and intact
        except ModelError:
            log.warning("the installed %s file is damaged; downloading it again", name)

    last_cut: Optional[str] = None
    for attempt in range(ATTEMPTS):
        try:
            _fetch(info, url, part, progress, should_stop, timeout)
            break
        except _Cut as cut:
            last_cut = str(cut)
            log.info("download of %s cut short (%s); resuming (attempt %d)", name, cut, attempt + 2)
    else:
        have = part.stat().st_size if part.is_file() else 0
        raise ModelError(f"the download of {name} kept being cut off ({last_cut}) after {_mb(have)} MB; "
                         f"run `colorstudio models install {name}` again to resume, or download the file "
                         f"elsewhere and run `colorstudio models import {name} FILE`")

    try:
        verify_file(name, part, should_stop=should_stop, label=f"the downloaded file for {name}",
                    advice=f"the download may be damaged, so it was deleted: run `colorstudio models install "
                           f"{name}` again")
    except ModelError:
        # A complete file with the wrong bytes cannot be resumed into a right one.
        _unlink(part)
        raise
    try:
        with atomic_path(final) as tmp:
            os.replace(part, tmp)
    except WriteError as exc:
        raise ModelError(str(exc)) from None
    return final


def _install_files(info: ModelInfo, progress: Progress, should_stop: ShouldStop, timeout: float,
                   base_url: Optional[str], force: bool) -> Path:
    """``install`` for a model of several files: each is downloaded (resumably) beside its
    final place in ``<models folder>/<name>/``, all are verified together (checksums, then a
    strict safe load of the whole network), and only then renamed in. ``base_url`` (a
    mirror) is a folder address the published file names are appended to."""
    from .store import user_files, verify_files
    ensure_models_path()
    finals = user_files(info)
    folder = next(iter(finals.values())).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"could not create {folder}: {exc.strerror or exc}; set COLORSTUDIO_MODELS to a "
                         f"folder you can write") from None
    if all(p.is_file() for p in finals.values()) and not force:
        try:
            verify_files(info.name, finals, should_stop=should_stop)
            return folder
        except ModelError:
            log.warning("the installed %s files are damaged; downloading them again", info.name)
    parts = {k: p.with_name(p.name + PART_SUFFIX) for k, p in finals.items()}
    expected = {f.filename: f.size for f in info.files}
    finished = 0
    for f in info.files:
        url = (base_url.rstrip("/") + "/" + f.filename) if base_url else f.url
        part = parts[f.filename]
        base = finished
        later = sum(expected[g.filename] for g in info.files[info.files.index(f) + 1:])

        def sub(done: int, total: int, base=base, later=later, f=f) -> None:
            if progress is not None:
                progress(base + done, base + (total or f.size) + later)

        last_cut: Optional[str] = None
        for attempt in range(ATTEMPTS):
            try:
                _fetch(info, url, part, sub, should_stop, timeout)
                break
            except _Cut as cut:
                last_cut = str(cut)
                log.info("download of %s cut short (%s); resuming (attempt %d)", f.filename, cut, attempt + 2)
        else:
            raise ModelError(f"the download of {info.name} ({f.filename}) kept being cut off ({last_cut}); run "
                             f"`colorstudio models install {info.name}` again to resume, or download the files "
                             f"elsewhere and run `colorstudio models import {info.name} FOLDER`")
        finished += part.stat().st_size
    try:
        verify_files(info.name, parts, should_stop=should_stop, label=f"the downloaded files for {info.name}",
                     advice=f"the download may be damaged, so it was deleted: run `colorstudio models install "
                            f"{info.name}` again")
    except ModelError:
        for p in parts.values():
            _unlink(p)
        raise
    try:
        for k, p in parts.items():
            with atomic_path(finals[k]) as tmp:
                os.replace(p, tmp)
    except WriteError as exc:
        raise ModelError(str(exc)) from None
    return folder


def _fetch(info: ModelInfo, url: str, part: Path, progress: Progress, should_stop: ShouldStop,
           timeout: float) -> None:
    """Bring ``part`` up to the whole file. Raises _Cut when the connection ends early."""
    have = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"Colorstudio/{__version__}", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    if should_stop is not None and should_stop():
        raise ModelCancelled("the download was cancelled")
    try:
        response = _opener(should_stop).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            # Nothing left to send: the partial file is already whole (or longer than the
            # file); verification decides which, and a bad one is deleted there.
            return
        raise _http_error(info, url, exc.code) from None
    except urllib.error.URLError as exc:
        raise _network_error(info, url, exc.reason, timeout) from None
    except (socket.timeout, TimeoutError) as exc:
        raise _network_error(info, url, exc, timeout) from None
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        raise _network_error(info, url, exc, timeout) from None

    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        start, size = _content_range(response.headers.get("Content-Range", ""))
        if status == 206 and have and start == have:
            mode, done = "ab", have
            total = size or (done + length if length is not None else 0)
        elif status == 206:
            # A range we did not ask for: start over without a Range header.
            response.close()
            _unlink(part)
            raise _Cut("the server answered a different range")
        else:
            # The server ignored the Range (or there was nothing yet): start from zero.
            mode, done = "wb", 0
            total = length or 0
        waiter = _Waiter.of(response, timeout)
        try:
            with open(part, mode) as fh:
                if progress is not None:
                    progress(done, total)
                while True:
                    if should_stop is not None and should_stop():
                        raise ModelCancelled("the download was cancelled")
                    try:
                        if waiter is not None:
                            waiter.wait(should_stop)
                        chunk = response.read1(_CHUNK)
                    except http.client.IncompleteRead as exc:
                        fh.write(exc.partial)
                        raise _Cut(f"the server closed the connection at {_mb(done + len(exc.partial))} MB") from None
                    except (socket.timeout, TimeoutError):
                        # (Only without a waiter.) The socket cannot be read after a timeout;
                        # the next attempt asks for the rest.
                        raise _Cut(f"the server sent nothing for {timeout:g} s") from None
                    except (ConnectionError, ssl.SSLError, OSError) as exc:
                        raise _Cut(str(exc) or type(exc).__name__) from None
                    if not chunk:
                        break
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
        except OSError as exc:
            raise ModelError(f"{os_error_sentence(exc, part)}; or set COLORSTUDIO_MODELS to another "
                             f"folder") from None
        finally:
            if waiter is not None:
                waiter.close()
    if total and done < total:
        raise _Cut(f"the server closed the connection at {_mb(done)} of {_mb(total)} MB")


class _Waiter:
    """Waits until a response can be read without blocking, in slices of SLICE seconds,
    looking at ``should_stop`` between slices and ending a wait longer than ``timeout`` as
    a cut (the socket's own timeout would leave it unreadable, and would not see a cancel).

    Bytes may already sit above the socket: in the response's buffered reader (read there
    with the headers) or, with TLS, decrypted in the SSL object. They are found by peeking
    with the socket switched to non-blocking, so the check itself never waits; only when
    there are none does the waiter wait on the socket.
    """

    def __init__(self, response, sock: socket.socket, timeout: float):
        self.response, self.sock, self.timeout = response, sock, timeout
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.selector = selectors.DefaultSelector()
        self.selector.register(sock, selectors.EVENT_READ)

    @classmethod
    def of(cls, response, timeout: float) -> Optional["_Waiter"]:
        """A waiter for ``response``; None when its socket cannot be found (then the
        download reads blocking, as urllib does, and a stall ends at the socket timeout)."""
        sock = _raw_socket(response)
        if sock is None:
            return None
        try:
            return cls(response, sock, timeout)
        except (OSError, ValueError):
            return None

    def wait(self, should_stop: ShouldStop) -> None:
        """Return once ``read1`` will not block; raise ModelCancelled or _Cut."""
        deadline = time.monotonic() + self.timeout
        while not self._ready():
            if should_stop is not None and should_stop():
                raise ModelCancelled("the download was cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Cut(f"the server sent nothing for {self.timeout:g} s")
            self.selector.select(min(SLICE, left))

    def close(self) -> None:
        self.selector.close()

    def _ready(self) -> bool:
        r = self.response
        if r.fp is None or r.length == 0:
            return True   # the body is complete: read1 answers b"" at once
        if not self.tls and self.selector.select(0):
            return True   # bytes, or the end of the stream, wait in the socket
        # (With TLS a readable socket may hold only part of a record, and reading would
        # wait for the rest, so TLS always asks the SSL object, without blocking.)
        return self._buffered()

    def _buffered(self) -> bool:
        fp = self.response.fp
        old = self.sock.gettimeout()
        self.sock.settimeout(0)
        try:
            got = fp.peek(1)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        finally:
            self.sock.settimeout(old)
        # A plain socket with nothing to read peeks b"" (its end was seen by select above);
        # with TLS "nothing yet" raises SSLWantReadError, so b"" is the end of the stream.
        return bool(got) or self.tls


def _wait_for_answer(sock: socket.socket, should_stop: Callable[[], bool], timeout: Optional[float]) -> bytes:
    """Wait (the request sent, no answer yet) until the server starts answering, in SLICE
    steps, looking at ``should_stop``; socket.timeout after ``timeout`` s, as the socket would.

    A readable TLS socket may carry only TLS housekeeping (TLS 1.3 sends session tickets after
    the handshake) and the SSL object cannot peek, so with TLS the first bytes of the answer
    are read here, without blocking, and returned, to be put back in front of the response.
    """
    tls = isinstance(sock, ssl.SSLSocket)
    deadline = None if timeout is None else time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while True:
            if tls:
                old = sock.gettimeout()
                sock.settimeout(0)
                try:
                    return sock.recv(_CHUNK)   # b"": the server hung up (getresponse says so)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                finally:
                    sock.settimeout(old)
            if should_stop():
                raise ModelCancelled("the download was cancelled")
            left = SLICE if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out")
            if selector.select(min(SLICE, left)) and not tls:
                return b""


class _Prefixed(io.RawIOBase):
    """A response's raw stream with bytes already read from its socket put back in front."""

    def __init__(self, head: bytes, raw):
        super().__init__()
        self.head, self.raw = head, raw
        self._sock = getattr(raw, "_sock", None)   # where _Waiter finds the socket

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> Optional[int]:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        return self.raw.readinto(b)

    def close(self) -> None:
        self.raw.close()
        super().close()


class _HeadSocket:
    """What HTTPResponse is given instead of the socket when bytes were read from it ahead:
    its ``makefile`` puts them back in front of the socket's own stream."""

    def __init__(self, sock: socket.socket, head: bytes):
        self.sock, self.head = sock, head

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(_Prefixed(self.head, self.sock.makefile(mode, buffering=0)))


class _PrefixedResponse(http.client.HTTPResponse):
    def __init__(self, sock, *args, head: bytes = b"", **kwargs):
        super().__init__(_HeadSocket(sock, head) if head else sock, *args, **kwargs)


def _opener(should_stop: ShouldStop) -> urllib.request.OpenerDirector:
    """urllib's default opener (proxies, redirects), whose connections see a cancel while they
    wait for the server's answer instead of blocking in ``getresponse`` until the timeout."""
    if should_stop is None:
        return urllib.request.build_opener()

    def cancellable(base: type) -> type:
        class Connection(base):
            def getresponse(self):
                if self.sock is not None:
                    timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
                    head = _wait_for_answer(self.sock, should_stop, timeout)
                    if head:   # for this answer only
                        self.response_class = functools.partial(_PrefixedResponse, head=head)
                try:
                    return super().getresponse()
                finally:
                    self.__dict__.pop("response_class", None)
        return Connection

    plain, tls = cancellable(http.client.HTTPConnection), cancellable(http.client.HTTPSConnection)

    class HTTP(urllib.request.HTTPHandler):
        def http_open(self, req):
            return self.do_open(plain, req)

    class HTTPS(urllib.request.HTTPSHandler):
        def https_open(self, req):
            # (check_hostname exists, deprecated, up to Python 3.11.)
            extra = {"check_hostname": self._check_hostname} if getattr(self, "_check_hostname", None) else {}
            return self.do_open(tls, req, context=self._context, **extra)

    return urllib.request.build_opener(HTTP, HTTPS)


def _raw_socket(response) -> Optional[socket.socket]:
    """The socket under an http.client response (``fp.raw._sock``), or None."""
    fp = getattr(response, "fp", None)
    sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if not isinstance(sock, socket.socket) or not hasattr(fp, "peek"):
        return None
    return sock


def _content_range(value: str) -> tuple[Optional[int], Optional[int]]:
    """(first byte, total size) of a 'bytes first-last/size' header; None where absent."""
    try:
        unit, rest = value.strip().split(" ", 1)
        span, size = rest.split("/", 1)
        first = int(span.split("-", 1)[0]) if unit == "bytes" and span != "*" else None
        return first, (int(size) if size.isdigit() else None)
    except ValueError:
        return None, None


def _host(url: str) -> str:
    from urllib.parse import urlsplit
    return urlsplit(url).hostname or url


def _http_error(info: ModelInfo, url: str, code: int) -> ModelError:
    if code == 404:
        return ModelError(f"the {info.name} file was not found at {url} (HTTP 404); download it elsewhere "
                          f"and run `colorstudio models import {info.name} FILE`")
    return ModelError(f"{_host(url)} refused the download of {info.name} (HTTP {code}); try again later, or "
                      f"download the file elsewhere and run `colorstudio models import {info.name} FILE`")


def _network_error(info: ModelInfo, url: str, reason, timeout: float) -> ModelError:
    host = _host(url)
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return ModelError(f"{host} did not answer within {timeout:g} s; check the connection and try again, "
                          f"or download the file elsewhere and run `colorstudio models import {info.name} FILE`")
    return ModelError(f"could not reach {host}; download the file elsewhere and run "
                      f"`colorstudio models import {info.name} FILE`")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f}"


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
