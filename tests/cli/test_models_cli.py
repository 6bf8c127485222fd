"""`colorstudio models list/path/install/import/remove` end to end.

In-process calls go through the same argparse wiring as the real command line
(``colorstudio.cli`` registers ``colorstudio.models.cli``); a subprocess run checks the
installed entry point. A tiny registered architecture keeps files small.
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from torch import nn

from colorstudio.models import cli as models_cli
from colorstudio.models import networks, registry

ROOT = Path(__file__).resolve().parents[2]


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(16, 16, 3)


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr is when a person runs the command."""

    def isatty(self) -> bool:
        return True


def run(argv: list[str], tty: bool = False) -> tuple[int, str, str]:
    """Parse ``colorstudio models ...`` as the main CLI does and run it; (code, stdout, stderr)."""
    from colorstudio.cliparse import Parser
    parser = Parser(prog="colorstudio")
    models_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", *argv])
    out, err = io.StringIO(), (Terminal() if tty else io.StringIO())
    code = args.models_run(args, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(folder))
    return folder


@pytest.fixture
def tiny(tmp_path, cache, monkeypatch):
    torch.manual_seed(0)
    src = tmp_path / "downloads" / "tiny.pth"
    src.parent.mkdir()
    torch.save(TinyNet().state_dict(), src)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    monkeypatch.setitem(networks.ARCHITECTURES, "tiny", TinyNet)
    info = registry.derive(registry.get_model("eccv16"), name="tiny", filename=f"tiny-{digest[:8]}.pth",
                   url="http://127.0.0.1:9/none", sha256_prefix=digest[:8], architecture="tiny",
                   approx_bytes=src.stat().st_size, purpose="testing")
    monkeypatch.setitem(registry.MODELS, "tiny", info)
    return info, src


def test_path(cache):
    assert run(["path"]) == (0, f"{cache}\n", "")


def test_list_import_list_remove(tiny, cache):
    info, src = tiny
    code, out, err = run(["list"])
    assert code == 0 and err == ""
    assert f"models folder: {cache}" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("tiny "))
    assert "not installed" in line and "testing" in line
    assert "siggraph17" in out and "eccv16" in out and "BSD-2-Clause" in out

    code, out, err = run(["import", "tiny", str(src)], tty=True)
    assert code == 0, err
    assert out == f"imported tiny ({cache / info.filename})\n"
    assert "importing tiny" in err and "100%" in err  # the progress bar, on a terminal's stderr
    assert (cache / info.filename).read_bytes() == src.read_bytes()

    code, out, _ = run(["list", "-v"])
    line = next(ln for ln in out.splitlines() if ln.startswith("tiny "))
    assert " installed" in line and "MB" in line
    assert info.url in out and "Efros" in out

    assert run(["remove", "tiny"]) == (0, f"removed tiny ({cache / info.filename})\n", "")
    assert not (cache / info.filename).exists()


def test_user_errors_are_one_sentence_and_exit_2(tiny, cache, tmp_path):
    info, src = tiny
    code, out, err = run(["remove", "tiny"])
    assert (code, out) == (2, "") and err.count("\n") == 1
    assert err.startswith("colorstudio models: the tiny model is not installed")
    code, _, err = run(["import", "tiny", str(tmp_path / "nope.pth")])
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00" * 100)
    code, _, err = run(["import", "tiny", str(bad)])
    # Into a pipe or a file: the refusal alone, one line, no progress lines before it.
    assert code == 2 and err.startswith("colorstudio models: ") and err.count("\n") == 1
    assert "does not match the published checksum" in err
    code, _, err = run(["import", "tiny", str(bad)], tty=True)
    # On a terminal the bar is drawn while the file is checked, then erased: the refusal stands alone.
    assert code == 2 and "importing tiny [" in err
    after = err.rsplit("\x1b[2K", 1)[1]
    assert after.startswith("colorstudio models: ") and after.count("\n") == 1
    code, _, err = run(["install", "nonesuch"])
    assert code == 2 and "no model called 'nonesuch'" in err
    assert not cache.exists() or list(cache.iterdir()) == []


def test_install_with_a_progress_bar(tiny, cache, tmp_path, monkeypatch):
    info, src = tiny
    served = tmp_path / "www"
    served.mkdir()
    (served / info.filename).write_bytes(src.read_bytes())
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{info.filename}"
        code, out, err = run(["install", "tiny", "--url", url, "--timeout", "5"], tty=True)
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0, err
    assert out == f"installed tiny ({cache / info.filename})\n"
    assert "downloading tiny [" in err and "100%" in err
    assert (cache / info.filename).read_bytes() == src.read_bytes()


def test_help_texts():
    import argparse
    parser = argparse.ArgumentParser(prog="colorstudio")
    models_cli.add_parser(parser.add_subparsers(dest="command"))
    for sub in ("list", "install", "import", "remove", "path"):
        with pytest.raises(SystemExit) as done:
            parser.parse_args(["models", sub, "--help"])
        assert done.value.code == 0


def test_the_real_command_line(tmp_path):
    env = dict(os.environ, COLORSTUDIO_MODELS=str(tmp_path / "m"), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "colorstudio", "models", "list"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"models folder: {tmp_path / 'm'}" in done.stdout and "siggraph17" in done.stdout
    done = subprocess.run([sys.executable, "-m", "colorstudio", "models", "remove", "eccv16"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "eccv16 model is not installed" in done.stderr
