"""The Models dialog with real widgets: list, import, remove, install from a local server, cancel.

A tiny architecture registered as model "tiny" keeps the files small (as in the model
manager's own tests); downloads come from an HTTP server on 127.0.0.1, never the internet.
The server paces nothing by the clock: given a gate (a threading.Event), it sends the headers
and half the file, then holds the connection open and silent until the test opens the gate,
as a stalled network would.
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PySide6.QtCore import Qt
from torch import nn

from colorstudio.gui import models_dialog
from colorstudio.gui.models_dialog import ModelsDialog
from colorstudio.models import networks, registry

WAIT_MS = 20000


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(32, 32, 3)   # a file of about 150 kB
        self.norm = nn.BatchNorm2d(32)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        srv = self.server
        srv.requests.append(self.headers.get("Range"))
        if srv.silent is not None:
            srv.silent.wait(WAIT_MS / 1000)   # no answer at all until the test opens this gate
            return
        if srv.status != 200:
            self.send_response(srv.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data, start = srv.payload, 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if srv.gate is None:
                self.wfile.write(body)
                return
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            srv.gate.wait(WAIT_MS / 1000)   # stalled until the test opens the gate (a safety net after that)
            self.wfile.write(body[half:])
        except (BrokenPipeError, ConnectionResetError):
            pass   # the client cancelled


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        pass


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.requests, srv.status, srv.payload = [], 200, b""
    srv.gate = None   # a threading.Event: half-way through, the answer stalls until it is set
    srv.silent = None   # a threading.Event: the request is read, and nothing is answered until it is set
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    for gate in (srv.gate, srv.silent):
        if gate is not None:
            gate.set()
    srv.shutdown()
    srv.server_close()


def tiny_file(path, seed: int = 0):
    torch.manual_seed(seed)
    torch.save(TinyNet().state_dict(), path)
    return path


@pytest.fixture
def tiny(tmp_path, monkeypatch, server):
    """Model "tiny", published as ``tiny_file(seed=0)`` and served by ``server``."""
    src = tiny_file(tmp_path / "tiny-download.pth")
    payload = src.read_bytes()
    digest = hashlib.sha256(payload).hexdigest()
    monkeypatch.setitem(networks.ARCHITECTURES, "tiny", TinyNet)
    url = f"http://127.0.0.1:{server.server_address[1]}/tiny-{digest[:8]}.pth"
    info = registry.derive(registry.get_model("eccv16"), name="tiny", label="Tiny test network", purpose="testing",
                   filename=f"tiny-{digest[:8]}.pth", url=url, sha256_prefix=digest[:8], architecture="tiny",
                   approx_bytes=len(payload))
    monkeypatch.setitem(registry.MODELS, "tiny", info)
    server.payload = payload
    return info, src


@pytest.fixture
def dialog(qtbot, tiny):
    dlg = ModelsDialog(select="tiny")
    qtbot.addWidget(dlg)
    dlg.show()
    changed = []
    dlg.models_changed.connect(changed.append)
    dlg.changed = changed
    yield dlg
    dlg.shutdown()


def wait_idle(qtbot, dlg):
    qtbot.waitUntil(lambda: dlg.job is None, timeout=WAIT_MS)


def row_text(dlg, name: str, column: int) -> str:
    for row in range(dlg.table.rowCount()):
        if dlg.table.item(row, 0).text() == name:
            return dlg.table.item(row, column).text()
    raise AssertionError(f"no row for {name}")


def test_every_known_model_is_listed_with_its_state_size_and_place(dialog, tmp_path):
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert names == list(registry.MODELS)
    assert {"siggraph17", "eccv16", "tiny"} <= set(names)
    assert row_text(dialog, "siggraph17", 2) == "Not installed"
    assert row_text(dialog, "siggraph17", 3) == "about 136.8 MB"
    assert row_text(dialog, "siggraph17", 4) == "siggraph17-df00044c.pth"
    row = next(r for r in range(dialog.table.rowCount()) if dialog.table.item(r, 0).text() == "siggraph17")
    assert dialog.table.item(row, 4).toolTip() == str(tmp_path / "models" / "siggraph17-df00044c.pth")
    assert "colour hints" in row_text(dialog, "siggraph17", 1)
    assert dialog.folder_label.text() == str(tmp_path / "models")
    assert dialog.selected_name() == "tiny"
    assert dialog.install_button.isEnabled() and dialog.import_button.isEnabled()
    assert not dialog.remove_button.isEnabled(), "nothing to remove yet"


def test_import_from_a_file(dialog, qtbot, monkeypatch, tiny, tmp_path):
    info, src = tiny
    asked = []
    monkeypatch.setattr(models_dialog, "choose_weights_file", lambda parent, name: asked.append(name) or str(src))
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert asked == ["tiny"]
    assert dialog.job is not None and not dialog.import_button.isEnabled(), "one job at a time"
    wait_idle(qtbot, dialog)
    installed = tmp_path / "models" / info.filename
    assert installed.read_bytes() == src.read_bytes()
    assert row_text(dialog, "tiny", 2) == "Installed"
    assert dialog.changed == ["tiny"]
    assert dialog.message_text.startswith("Imported the tiny model")
    assert dialog.remove_button.isEnabled() and not dialog.install_button.isEnabled()
    assert dialog.progress.isHidden()


def test_import_of_a_file_with_the_wrong_checksum_says_so_once_and_installs_nothing(dialog, qtbot, monkeypatch,
                                                                                   tmp_path):
    other = tiny_file(tmp_path / "other.pth", seed=1)
    monkeypatch.setattr(models_dialog, "choose_weights_file", lambda parent, name: str(other))
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dialog)
    text = dialog.message_text
    assert "does not match the published checksum of tiny" in text and str(other) in text
    assert "it is not the published tiny file" in text, "says what to do"
    assert text.count("checksum") == 1, "one sentence, once"
    assert not any((tmp_path / "models").iterdir()), "nothing is installed, no temporary file is left"
    assert row_text(dialog, "tiny", 2) == "Not installed"
    assert dialog.changed == []


def test_cancelling_the_file_choice_does_nothing(dialog, qtbot, monkeypatch):
    monkeypatch.setattr(models_dialog, "choose_weights_file", lambda parent, name: None)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert dialog.job is None and dialog.message_text == ""


def test_remove_asks_first(dialog, qtbot, monkeypatch, tiny, tmp_path):
    info, src = tiny
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / info.filename).write_bytes(src.read_bytes())
    dialog.refresh()
    assert row_text(dialog, "tiny", 2) == "Installed"
    answers = [False, True]
    monkeypatch.setattr(models_dialog, "confirm_remove", lambda parent, name, path: answers.pop(0))
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert (folder / info.filename).is_file(), "kept when the user says no"
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)
    assert not (folder / info.filename).exists()
    assert row_text(dialog, "tiny", 2) == "Not installed"
    assert dialog.changed == ["tiny"]


def half_shown(dlg, payload: bytes) -> bool:
    """The progress bar shows the half of the file the server sent before it stalled."""
    return dlg.progress.maximum() == 1000 and dlg.progress.value() == 1000 * (len(payload) // 2) // len(payload)


def test_install_downloads_with_progress(dialog, qtbot, server, tiny, tmp_path):
    info, src = tiny
    server.gate = threading.Event()
    steps = []
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    dialog.job.progressed.connect(lambda done, total: steps.append((done, total)))
    assert dialog.progress.isVisible() and dialog.cancel_button.isVisible()
    assert "Downloading tiny" in dialog.progress_label.text()
    assert not dialog.install_button.isEnabled() and not dialog.table.isEnabled(), "one job at a time"
    qtbot.waitUntil(lambda: half_shown(dialog, server.payload), timeout=WAIT_MS)
    half = len(server.payload) // 2
    assert dialog.progress.format() == f"{half / 1e6:.1f} MB of {len(server.payload) / 1e6:.1f} MB"
    assert dialog.job is not None, "still downloading: the server has sent only half"
    server.gate.set()
    wait_idle(qtbot, dialog)
    assert (half, len(server.payload)) in steps
    assert steps[-1] == (len(server.payload), len(server.payload))
    assert (tmp_path / "models" / info.filename).read_bytes() == server.payload
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [info.filename], "no .part left"
    assert row_text(dialog, "tiny", 2) == "Installed"
    assert dialog.changed == ["tiny"]
    assert server.requests == [None]


#: How soon Cancel must end a stalled download (the socket itself would wait 30 s).
PROMPT_MS = 3000


def test_cancel_during_a_stall_is_prompt_keeps_nothing_installed_and_the_next_install_resumes(
        dialog, qtbot, server, tiny, tmp_path):
    info, src = tiny
    server.gate = threading.Event()
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: half_shown(dialog, server.payload), timeout=WAIT_MS)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.progress_label.text() == "Cancelling…" and not dialog.cancel_button.isEnabled()
    # The server is still silent: only the download's own waiting can end the job this soon.
    qtbot.waitUntil(lambda: dialog.job is None, timeout=PROMPT_MS)
    assert not server.gate.is_set()
    folder = tmp_path / "models"
    assert not (folder / info.filename).exists(), "a cancelled download is never installed"
    part = folder / (info.filename + ".part")
    half = len(server.payload) // 2
    assert part.read_bytes() == server.payload[:half], "what arrived is kept to resume from"
    assert "cancelled" in dialog.message_text and "resumes" in dialog.message_text
    assert "paused" in row_text(dialog, "tiny", 2)
    assert dialog.progress.isHidden() and dialog.cancel_button.isHidden()
    assert dialog.install_button.isEnabled() and dialog.install_button.text() == "Resume download"
    assert dialog.import_button.isEnabled() and dialog.table.isEnabled()
    assert dialog.changed == []
    server.gate.set()
    server.gate = None
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    assert "Resuming the download of tiny" in dialog.progress_label.text()
    wait_idle(qtbot, dialog)
    assert (folder / info.filename).read_bytes() == server.payload
    assert server.requests == [None, f"bytes={half}-"], "the second download asked only for the rest"
    assert not part.exists()
    assert dialog.changed == ["tiny"]


def test_cancel_while_the_server_has_not_answered_is_prompt(dialog, qtbot, server, tiny, tmp_path):
    info, src = tiny
    server.silent = threading.Event()
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: server.requests == [None], timeout=WAIT_MS)   # asked, and waiting for an answer
    assert dialog.progress.maximum() == 0, "busy: no byte counts yet"
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=PROMPT_MS)
    assert not server.silent.is_set(), "the server never answered"
    assert "cancelled" in dialog.message_text
    assert not (tmp_path / "models" / info.filename).exists()
    assert not (tmp_path / "models" / (info.filename + ".part")).exists(), "nothing arrived, nothing is kept"
    assert dialog.install_button.isEnabled() and dialog.install_button.text() == "Install"
    assert dialog.changed == []


def test_a_download_error_is_one_sentence_shown_once(dialog, qtbot, server, tmp_path):
    server.status = 404
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dialog)
    text = dialog.message_text
    assert "was not found at" in text and "HTTP 404" in text
    assert "\u201cImport from file\u2026\u201d button" in text and "colorstudio models" not in text, \
        "the dialog points to its own button, not to a command line"
    assert dialog.import_button.text() == "Import from file\u2026"
    assert text.count("HTTP 404") == 1  # (the port number itself may contain "404")
    assert not (tmp_path / "models" / registry.MODELS["tiny"].filename).exists()
    assert dialog.install_button.isEnabled(), "the user can try again"


def test_closing_during_a_download_cancels_it_and_leaves_no_thread(dialog, qtbot, server, tiny, tmp_path):
    info, src = tiny
    server.gate = threading.Event()
    qtbot.mouseClick(dialog.install_button, Qt.MouseButton.LeftButton)
    job = dialog.job
    qtbot.waitUntil(lambda: half_shown(dialog, server.payload), timeout=WAIT_MS)
    with qtbot.waitSignal(dialog.finished, timeout=PROMPT_MS):   # while the server is still stalled
        dialog.reject()
        assert dialog.isHidden(), "the dialog goes at once; the download winds down behind it"
    assert not server.gate.is_set()
    assert not job.isRunning() if _alive(job) else True
    assert not (tmp_path / "models" / info.filename).exists()


def _alive(obj) -> bool:
    import shiboken6
    return shiboken6.isValid(obj)


def test_previews_go_on_during_a_download_and_closing_the_window_stops_it(make_window, qtbot, server, tiny,
                                                                        tmp_path):
    from .fakes import edge_photo
    from .test_canvas_editing import at, wait_full_preview
    info, src = tiny
    server.gate = threading.Event()   # half the file, then the download stalls until the test says so
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    dlg = win.show_models("tiny")
    assert dlg.selected_name() == "tiny"
    qtbot.mouseClick(dlg.install_button, Qt.MouseButton.LeftButton)
    job = dlg.job
    qtbot.waitUntil(lambda: half_shown(dlg, server.payload), timeout=WAIT_MS)
    c = win.canvas
    result = wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=at(c, 40, 80)))
    assert result.rgb is not None
    assert job.isRunning(), "the preview came while the download was still running: not the compute thread's job"
    win.close()   # waits for the download to stop: promptly, though the server is still stalled
    assert not job.isRunning(), "closing the window stopped the download"
    assert not server.gate.is_set()
    server.gate.set()
    folder = tmp_path / "models"
    assert not (folder / info.filename).exists()
    assert (folder / (info.filename + ".part")).read_bytes() == server.payload[:len(server.payload) // 2], \
        "what arrived before the stall is kept to resume next time, and nothing after it"
