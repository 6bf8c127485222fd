"""Models of several files (MicroAST's four, AdaIN's two): listed, installed from their
addresses (a local server here), imported from a folder, verified together, removed; the
bundled MicroAST is always installed and cannot be removed."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from colorstudio.models import store
from colorstudio.models.download import install
from colorstudio.models.errors import ModelError

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "resources" / "models" / "microast"
NAMES = sorted(p.name for p in BUNDLED.glob("*.pth.tar"))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        data = self.server.files.get(name)
        if data is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture
def server():
    srv = Server(("127.0.0.1", 0), Handler)
    srv.files = {n: (BUNDLED / n).read_bytes() for n in NAMES}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(folder))
    return folder


def test_bundled_microast_is_always_installed_and_listed(cache):
    assert len(NAMES) == 4
    assert store.is_installed("microast")
    listing = {s.name: s for s in store.list_models()}
    st = listing["microast"]
    assert st.installed and st.bundled and st.path.resolve() == BUNDLED.resolve()
    assert st.size == sum((BUNDLED / n).stat().st_size for n in NAMES)
    ad = listing["adain"]
    assert not ad.installed and ad.path == cache / "adain"
    with pytest.raises(ModelError, match="part of Colorstudio itself"):
        store.remove("microast")
    with pytest.raises(ModelError, match="not installed"):
        store.remove("adain")


def test_install_downloads_every_file_verifies_and_removes(cache, server):
    url = f"http://127.0.0.1:{server.server_address[1]}/mirror/"
    seen = []
    folder = install("microast", url=url, progress=lambda d, t: seen.append((d, t)))
    assert folder == cache / "microast"
    assert sorted(p.name for p in folder.iterdir()) == NAMES
    for n in NAMES:
        assert (folder / n).read_bytes() == (BUNDLED / n).read_bytes()
    assert seen and seen[-1][0] == sum(len(b) for b in server.files.values())
    st = {s.name: s for s in store.list_models()}["microast"]
    assert st.installed and not st.bundled and st.path == folder
    assert store.installed_files("microast")[NAMES[0]] == folder / NAMES[0]
    assert store.remove("microast") == folder
    assert not folder.exists()
    assert store.installed_path("microast").resolve() == BUNDLED.resolve()   # the bundled copy remains


def test_a_wrong_file_in_a_download_installs_nothing(cache, server):
    server.files["modulator_iter_160000.pth.tar"] = b"x" * 100
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with pytest.raises(ModelError, match="modulator_iter_160000.pth.tar"):
        install("microast", url=url)
    assert not any((cache / "microast").glob("*")), "nothing is left behind"


def test_a_missing_file_on_the_server_is_a_sentence(cache, server):
    del server.files["decoder_iter_160000.pth.tar"]
    with pytest.raises(ModelError, match="not found"):
        install("microast", url=f"http://127.0.0.1:{server.server_address[1]}/")
    assert not (cache / "microast" / "decoder_iter_160000.pth.tar").exists()


def test_import_from_a_folder(cache, tmp_path):
    src = tmp_path / "download"
    src.mkdir()
    for n in NAMES:
        (src / n).write_bytes((BUNDLED / n).read_bytes())
    dest = store.import_model("microast", src / NAMES[0])      # a file stands for its folder
    assert dest == cache / "microast" and sorted(p.name for p in dest.iterdir()) == NAMES
    store.remove("microast")
    (src / NAMES[1]).unlink()
    with pytest.raises(ModelError, match=f"lacks {NAMES[1]}"):
        store.import_model("microast", src)
    (src / NAMES[1]).write_bytes(b"not weights")
    with pytest.raises(ModelError, match="published checksum"):
        store.import_model("microast", src)
    assert not any((cache / "microast").glob("*"))


def test_verify_refuses_a_file_of_the_right_hash_in_the_wrong_place(tmp_path):
    # the content encoder's bytes under the decoder's name: the checksum catches it
    files = {n: BUNDLED / n for n in NAMES}
    files["decoder_iter_160000.pth.tar"] = BUNDLED / "content_encoder_iter_160000.pth.tar"
    with pytest.raises(ModelError, match="decoder_iter_160000"):
        store.verify_files("microast", files)
    store.verify_files("microast", {n: BUNDLED / n for n in NAMES})


def test_cli_lists_bundled_and_refuses_to_remove_it(cache, capsys):
    from colorstudio.cli import main
    assert main(["models", "list", "-v"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("microast"))
    assert "bundled" in line
    assert "EndyWon/MicroAST/raw/5a6c9050" in out and "naoto0804/pytorch-AdaIN" in out
    assert main(["models", "remove", "microast"]) == 2
    assert "cannot be removed" in capsys.readouterr().err
