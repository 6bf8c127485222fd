"""`install` against a local HTTP server on 127.0.0.1 (never the internet).

The server can answer normally, honour or ignore Range requests, cut the connection half
way, stall, or answer 404. A stalled or silent server waits on a gate (a threading.Event)
that the test opens when it is done, so nothing here is ordered by sleeping. A tiny
registered architecture keeps the files small.
"""
from __future__ import annotations

import hashlib
import socket
import ssl
import threading
import time

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from torch import nn

from colorstudio.models import networks, registry
from colorstudio.models.download import install
from colorstudio.models.errors import ModelCancelled, ModelError
from colorstudio.models.store import installed_path


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(32, 32, 3)   # ~37 k weights: a file of ~150 kB
        self.norm = nn.BatchNorm2d(32)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append(self.headers.get("Range"))
        number = len(srv.requests)
        if srv.mode == "404":
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if srv.mode == "silent":
            srv.gate.wait(SAFETY)
            return
        data = srv.payload
        start = 0
        rng = self.headers.get("Range")
        if rng and srv.honour_range:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.mode == "cut-always" or (srv.mode == "cut-first" and number == 1)
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if srv.mode == "stall":
            self.wfile.write(body[:1000])
            self.wfile.flush()
            srv.gate.wait(SAFETY)
            return
        if srv.mode == "stall-half" or (srv.mode == "stall-first" and number == 1):
            # Headers and half the body, then nothing (the connection stays open) until the
            # gate opens; then the rest, unless the client has gone.
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            srv.released_early = not srv.gate.wait(SAFETY)
            try:
                self.wfile.write(body[half:])
            except OSError:
                pass
            return
        # Counted before the bytes go out: the client may finish reading (and the test check
        # the count) before this thread runs again.
        srv.served += len(body)
        self.wfile.write(body)


#: How long a stalled handler waits for its gate at most (a safety net; the tests open it).
SAFETY = 20.0


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):  # a client that hung up is expected here
        pass


class TLSServer(Server):
    """The same server over TLS, with a certificate for 127.0.0.1 that the test trusts."""

    context: ssl.SSLContext

    def get_request(self):
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), addr


def self_signed(folder):
    """(certificate, key) PEM files for IP 127.0.0.1."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture
def server(request, tmp_path, monkeypatch):
    """A local server, plain HTTP unless the test asks for "https" (indirect parametrisation)."""
    if getattr(request, "param", "http") == "https":
        pytest.importorskip("cryptography")
        cert_file, key_file = self_signed(tmp_path)
        srv = TLSServer(("127.0.0.1", 0), Handler)
        srv.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.context.load_cert_chain(cert_file, key_file)
        # urllib builds its default context per connection: make it trust this certificate only.
        monkeypatch.setattr(ssl, "_create_default_https_context",
                            lambda: ssl.create_default_context(cafile=str(cert_file)))
        srv.scheme = "https"
    else:
        srv = Server(("127.0.0.1", 0), Handler)
        srv.scheme = "http"
    srv.requests, srv.served, srv.mode, srv.honour_range = [], 0, "ok", True
    srv.gate, srv.released_early = threading.Event(), None
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.gate.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tiny(tmp_path, monkeypatch, server):
    """Registers model 'tiny' served by ``server``; returns (info, payload, cache folder)."""
    cache = tmp_path / "models"
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(cache))
    torch.manual_seed(0)
    path = tmp_path / "tiny.pth"
    torch.save(TinyNet().state_dict(), path)
    payload = path.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    monkeypatch.setitem(networks.ARCHITECTURES, "tiny", TinyNet)
    url = f"{server.scheme}://127.0.0.1:{server.server_address[1]}/tiny-{digest[:8]}.pth"
    info = registry.derive(registry.get_model("eccv16"), name="tiny", filename=f"tiny-{digest[:8]}.pth", url=url,
                   sha256_prefix=digest[:8], architecture="tiny", approx_bytes=len(payload))
    monkeypatch.setitem(registry.MODELS, "tiny", info)
    server.payload = payload
    return info, payload, cache


@pytest.mark.parametrize("server", ["http", "https"], indirect=True)
def test_install_downloads_checks_and_renames_into_place(tiny, server):
    info, payload, cache = tiny
    seen = []
    path = install("tiny", progress=lambda d, t: seen.append((d, t)), timeout=5)
    assert path == cache / info.filename and path.read_bytes() == payload
    assert installed_path("tiny") == path
    assert sorted(p.name for p in cache.iterdir()) == [info.filename]  # no .part left
    assert seen[-1] == (len(payload), len(payload))
    assert all(t == len(payload) for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert server.requests == [None]


@pytest.mark.parametrize("server", ["http", "https"], indirect=True)
def test_install_resumes_after_the_connection_is_cut(tiny, server):
    info, payload, cache = tiny
    server.mode = "cut-first"
    path = install("tiny", timeout=5)
    assert path.read_bytes() == payload
    # The second request asked only for the rest.
    assert server.requests[0] is None
    assert server.requests[1] == f"bytes={len(payload) // 2}-"
    assert server.served == len(payload) - len(payload) // 2


def test_a_later_install_resumes_a_partial_file(tiny, server):
    info, payload, cache = tiny
    cache.mkdir()
    (cache / (info.filename + ".part")).write_bytes(payload[:1000])
    install("tiny", timeout=5)
    assert server.requests == ["bytes=1000-"]
    assert (cache / info.filename).read_bytes() == payload


def test_a_server_that_ignores_range_restarts_cleanly(tiny, server):
    info, payload, cache = tiny
    server.honour_range = False
    cache.mkdir()
    (cache / (info.filename + ".part")).write_bytes(b"garbage that is not the start" * 10)
    install("tiny", timeout=5)
    assert (cache / info.filename).read_bytes() == payload


def test_a_connection_that_keeps_being_cut_fails_clearly_and_keeps_the_part(tiny, server):
    info, payload, cache = tiny
    server.mode = "cut-always"
    with pytest.raises(ModelError, match=r"kept being cut off.*install tiny` again to resume"):
        install("tiny", timeout=5)
    assert installed_path("tiny") is None
    part = cache / (info.filename + ".part")
    assert part.exists() and 0 < part.stat().st_size < len(payload)


def test_404(tiny, server):
    info, payload, cache = tiny
    server.mode = "404"
    with pytest.raises(ModelError) as err:
        install("tiny", timeout=5)
    text = str(err.value)
    assert "HTTP 404" in text and "colorstudio models import tiny FILE" in text
    assert list(cache.iterdir()) == []


def test_wrong_checksum_deletes_the_download(tiny, server):
    info, payload, cache = tiny
    middle = len(payload) // 2
    server.payload = payload[:middle] + bytes([payload[middle] ^ 0xFF]) + payload[middle + 1:]
    with pytest.raises(ModelError, match="does not match the published checksum.*may be damaged, so it was "
                                         "deleted: run `colorstudio models install tiny` again"):
        install("tiny", timeout=5)
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("should_stop", [None, lambda: False], ids=["blocking", "waiting in slices"])
def test_a_silent_server_times_out(tiny, server, should_stop):
    info, payload, cache = tiny
    server.mode = "silent"
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"127\.0\.0\.1 did not answer within 0\.4 s"):
        install("tiny", should_stop=should_stop, timeout=0.4)
    assert time.monotonic() - t0 < 2.5
    assert installed_path("tiny") is None


@pytest.mark.parametrize("server", ["http", "https"], indirect=True)
def test_cancel_interrupts_the_wait_for_a_silent_servers_answer(tiny, server):
    """The request is sent and the server says nothing: a cancel is seen while waiting for
    the headers, not after the (here 60 s) timeout."""
    info, payload, cache = tiny
    server.mode = "silent"
    calls = []

    def should_stop():
        calls.append(1)
        # The first is _fetch's own check, the next ones the wait's; cancel once the server
        # holds the request (under load its thread may not have read it yet).
        return len(calls) >= 3 and bool(server.requests)

    with pytest.raises(ModelCancelled):
        install("tiny", should_stop=should_stop, timeout=60)
    assert server.requests == [None] and not server.gate.is_set(), "the server was still silent"
    assert not (cache / (info.filename + ".part")).exists()


def test_a_download_that_keeps_stalling_fails_clearly_and_can_resume_later(tiny, server):
    info, payload, cache = tiny
    server.mode = "stall"   # 1000 bytes, then nothing, at every attempt
    with pytest.raises(ModelError, match=r"kept being cut off \(the server sent nothing for 0\.4 s\).*"
                                         r"install tiny` again to resume"):
        install("tiny", timeout=0.4)
    assert installed_path("tiny") is None
    # Each attempt asked for the rest and got 1000 more bytes before the server stalled.
    assert server.requests == [None, "bytes=1000-", "bytes=2000-"]
    assert (cache / (info.filename + ".part")).read_bytes() == payload[:3000]
    server.mode = "ok"
    install("tiny", timeout=5)
    assert server.requests[-1] == "bytes=3000-"
    assert (cache / info.filename).read_bytes() == payload


@pytest.mark.parametrize("server", ["http", "https"], indirect=True)
def test_a_stall_longer_than_the_timeout_is_a_cut_and_the_next_attempt_resumes(tiny, server):
    info, payload, cache = tiny
    server.mode = "stall-first"   # the first answer stalls half-way (the gate stays shut)
    path = install("tiny", timeout=0.5)
    assert server.requests == [None, f"bytes={len(payload) // 2}-"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert not server.gate.is_set()


def _stop_while_stalled(payload):
    """(progress, should_stop): should_stop turns true at its third call after the first half
    of ``payload`` arrived: the first is the loop's own check before the next read, the
    second the waiter's before it waits, so the third comes after a slice spent waiting on
    the stalled socket."""
    got, calls = [0], []

    def progress(done, total):
        got[0] = done

    def should_stop():
        if got[0] >= len(payload) // 2:
            calls.append(got[0])
        return len(calls) >= 3

    return progress, should_stop, calls


@pytest.mark.parametrize("server", ["http", "https"], indirect=True)
def test_cancel_interrupts_a_stalled_download_and_keeps_what_arrived(tiny, server):
    info, payload, cache = tiny
    server.mode = "stall-half"
    progress, should_stop, calls = _stop_while_stalled(payload)
    # A socket timeout far beyond the server's safety net: only the waiter can end this.
    with pytest.raises(ModelCancelled):
        install("tiny", progress=progress, should_stop=should_stop, timeout=60)
    assert calls == [len(payload) // 2] * 3, "the cancel was seen while nothing arrived"
    assert server.released_early is None, "the server was still stalled when the download gave up"
    assert installed_path("tiny") is None
    part = cache / (info.filename + ".part")
    assert part.read_bytes() == payload[:len(payload) // 2], "what arrived is kept to resume from"
    server.gate.set()
    server.mode = "ok"
    install("tiny", timeout=5)
    assert server.requests == [None, f"bytes={len(payload) // 2}-"]
    assert (cache / info.filename).read_bytes() == payload


def test_without_a_socket_to_wait_on_the_download_reads_blocking(tiny, server, monkeypatch):
    """The fallback when the response's socket cannot be found: a cut and a stall (ended by
    the socket's own timeout) are both resumed with a Range request."""
    from colorstudio.models import download
    info, payload, cache = tiny
    monkeypatch.setattr(download, "_raw_socket", lambda response: None)
    server.mode = "cut-first"
    install("tiny", timeout=5)
    assert (cache / info.filename).read_bytes() == payload
    (cache / info.filename).unlink()
    server.requests.clear()
    server.mode = "stall-first"
    path = install("tiny", timeout=0.5)
    assert server.requests == [None, f"bytes={len(payload) // 2}-"]
    assert path.read_bytes() == payload


def test_no_network(tiny, monkeypatch):
    info, payload, cache = tiny
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setitem(registry.MODELS, "tiny", registry.derive(info, url=f"http://127.0.0.1:{port}/x.pth"))
    with pytest.raises(ModelError) as err:
        install("tiny", timeout=5)
    assert str(err.value) == ("could not reach 127.0.0.1; download the file elsewhere and run "
                              "`colorstudio models import tiny FILE`")


def test_cancel_keeps_the_partial_file_for_later(tiny, server):
    info, payload, cache = tiny
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(ModelCancelled):
        install("tiny", should_stop=should_stop, timeout=5)
    assert installed_path("tiny") is None
    assert (cache / (info.filename + ".part")).exists()


def test_an_intact_installed_model_is_not_downloaded_again(tiny, server):
    info, payload, cache = tiny
    install("tiny", timeout=5)
    assert len(server.requests) == 1
    install("tiny", timeout=5)
    assert len(server.requests) == 1
    (cache / info.filename).write_bytes(payload[:100])  # damaged: fetched again
    install("tiny", timeout=5)
    assert len(server.requests) == 2 and (cache / info.filename).read_bytes() == payload
    install("tiny", timeout=5, force=True)
    assert len(server.requests) == 3
