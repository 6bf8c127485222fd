"""Fixtures for the command-line tests: small photos, hints files, and two ways to run the CLI.

``cli`` runs ``python -m colorstudio`` in a fresh process (the real thing: exit status, stderr);
``main`` calls ``colorstudio.cli.main(argv)`` in this process (fast, and lets a test
monkeypatch the encoder to simulate an interrupted write). Both run with the user's data and
models folders isolated in a temporary folder, so an installed model cannot change the engine.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "photos"


@dataclass
class Run:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def _isolated_env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COLORSTUDIO_")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"),
               COLORSTUDIO_MODELS=str(home / "models"), COLORSTUDIO_DATA=str(home / "colorstudio"),
               QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    return env


@pytest.fixture
def isolated_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    (home / "models").mkdir()
    return home


@pytest.fixture
def cli(isolated_home):
    """cli(*args, cwd=None) -> Run: ``python -m colorstudio args`` in a fresh process."""
    def run(*args, cwd=None) -> Run:
        proc = subprocess.run([sys.executable, "-m", "colorstudio", *map(str, args)], capture_output=True,
                              text=True, timeout=120, cwd=cwd, env=_isolated_env(isolated_home))
        return Run(proc.returncode, proc.stdout, proc.stderr)
    return run


@pytest.fixture
def spawn(isolated_home):
    """spawn(*args, ignore=()) -> Popen: ``python -m colorstudio args`` started and left running
    (for races and signals); stdout and stderr are pipes the test reads and closes.

    The child starts with SIGHUP, SIGTERM and SIGINT at their default handlers whatever this
    process was started with (under ``nohup`` SIGHUP is ignored, and a child inherits that),
    except the signals in ``ignore``, which it starts ignoring (as ``nohup`` would)."""
    def start(*args, ignore=()) -> subprocess.Popen:
        extra = {}
        if os.name == "posix":
            import signal

            def signals_as_asked():
                for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, signal.SIG_IGN if sig in ignore else signal.SIG_DFL)
            extra["preexec_fn"] = signals_as_asked
        return subprocess.Popen([sys.executable, "-m", "colorstudio", *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=REPO, env=_isolated_env(isolated_home),
                                **extra)
    return start


@pytest.fixture
def main(isolated_home, monkeypatch, capsys):
    """main(*args) -> Run: ``colorstudio.cli.main(argv)`` in this process, output captured."""
    for key in [k for k in os.environ if k.startswith("COLORSTUDIO_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(isolated_home))
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(isolated_home / "models"))
    monkeypatch.setenv("COLORSTUDIO_DATA", str(isolated_home / "colorstudio"))
    from colorstudio.cli import main as cli_main

    def run(*args) -> Run:
        capsys.readouterr()
        try:
            rc = cli_main([str(a) for a in args])
        except SystemExit as exc:  # argparse: --help, --version, bad arguments
            rc = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Run(rc, captured.out, captured.err)
    return run


def grey_image(h: int = 48, w: int = 64) -> np.ndarray:
    """A grey photo with a strong vertical edge down the middle and some texture."""
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.where(xx < w // 2, 70, 180) + 25 * np.sin(yy / 5.0)
    return np.clip(g, 0, 255).astype(np.uint8)


@pytest.fixture
def photo(tmp_path) -> Path:
    """A small 8-bit grey PNG in its own folder, ``tmp_path / 'in' / 'photo.png'``."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "photo.png"
    Image.fromarray(grey_image()).save(path)
    return path


def write_hints(path: Path, points=((16, 24, "#c86432", 3),), strokes=(), image=None, **top) -> Path:
    data = {"format": "colorstudio.hints", "version": 1, **top}
    if image:
        data["image"] = {"width": image[0], "height": image[1]}
    data["points"] = [{"x": x, "y": y, "color": c, "radius": r} for x, y, c, r in points]
    data["strokes"] = [{"points": [list(p) for p in pts], "width": wd, "color": c} for pts, wd, c in strokes]
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def hints(tmp_path) -> Path:
    """A valid hints file for ``photo``: a point on the dark side and a stroke on the light side."""
    return write_hints(tmp_path / "photo.hints.json", strokes=[([(44, 5), (50, 40)], 4, "#3366aa")])


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict:
    """{relative path: sha256} of every file under ``folder`` (hidden temporary files included)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def make_hints():
    """write_hints(path, points=((x, y, colour, radius), ...), strokes=((pts, width, colour), ...),
    image=(w, h), **top-level keys) -> path."""
    return write_hints


@pytest.fixture
def files():
    """An object with .sha256(path), .snapshot(folder) and .grey_image(h, w)."""
    class _Files:
        sha256 = staticmethod(sha256)
        snapshot = staticmethod(snapshot)
        grey_image = staticmethod(grey_image)
    return _Files()


@pytest.fixture
def real_photo() -> Path:
    """A real black-and-white photo from ../shared/data/photos, or skip."""
    for name in ("old_tom_morris_bw.png", "david_hilbert_bw.png"):
        path = PHOTOS / name
        if path.is_file():
            return path.resolve()
    pytest.skip(f"the shared test photos are not available at {PHOTOS}")
