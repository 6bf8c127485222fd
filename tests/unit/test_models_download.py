"""`install` against a local HTTP server on 127.0.0.1 (never the internet).

The server can answer normally, honour or ignore Range requests, cut the connection half
way, stall, or answer 404. A tiny registered architecture keeps the files small.
"""
from __future__ import annotations

import hashlib
import socket
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
            time.sleep(srv.delay)
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
            time.sleep(srv.delay)
            return
        # Counted before the bytes go out: the client may finish reading (and the test check
        # the count) before this thread runs again.
        srv.served += len(body)
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):  # a client that hung up is expected here
        pass


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.requests, srv.served, srv.mode, srv.honour_range, srv.delay = [], 0, "ok", True, 2.0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
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
    url = f"http://127.0.0.1:{server.server_address[1]}/tiny-{digest[:8]}.pth"
    info = registry.derive(registry.get_model("eccv16"), name="tiny", filename=f"tiny-{digest[:8]}.pth", url=url,
                   sha256_prefix=digest[:8], architecture="tiny", approx_bytes=len(payload))
    monkeypatch.setitem(registry.MODELS, "tiny", info)
    server.payload = payload
    return info, payload, cache


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


def test_a_silent_server_times_out(tiny, server):
    info, payload, cache = tiny
    server.mode, server.delay = "silent", 3.0
    t0 = time.monotonic()
    with pytest.raises(ModelError, match=r"127\.0\.0\.1 did not answer within 0\.4 s"):
        install("tiny", timeout=0.4)
    assert time.monotonic() - t0 < 2.5
    assert installed_path("tiny") is None


def test_a_stalled_download_times_out_and_can_resume_later(tiny, server):
    info, payload, cache = tiny
    server.mode, server.delay = "stall", 3.0
    with pytest.raises(ModelError, match=r"stalled for 0\.4 s.*again to resume"):
        install("tiny", timeout=0.4)
    assert installed_path("tiny") is None
    assert (cache / (info.filename + ".part")).stat().st_size == 1000
    server.mode = "ok"
    install("tiny", timeout=5)
    assert server.requests[-1] == "bytes=1000-"
    assert (cache / info.filename).read_bytes() == payload


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
