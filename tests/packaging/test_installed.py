"""The app runs from an installed wheel in a fresh virtual environment: ``colorstudio
--version`` and a headless ``colorstudio colorize`` of the sample photo.

Skipped unless COLORSTUDIO_TEST_INSTALL=1 (.ci/run sets it). The environment uses the system's
site-packages for the dependencies (torch, PySide6...) and installs only the wheel, with
--no-deps and --no-index: nothing is downloaded.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.packaging, pytest.mark.skipif(
    not os.environ.get("COLORSTUDIO_TEST_INSTALL"), reason="set COLORSTUDIO_TEST_INSTALL=1 to install the wheel "
                                                           "into a fresh virtual environment")]


def _bin(env: Path, name: str) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def test_installed_wheel_runs_from_a_fresh_virtual_environment(wheel, tmp_path):
    env = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env)
    py = _bin(env, "python")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--no-index", "-q",
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    home = tmp_path / "home"
    run_env = {k: v for k, v in os.environ.items() if not k.startswith(("COLORSTUDIO_", "PYTHON"))}
    run_env.update(HOME=str(home), XDG_DATA_HOME=str(home / "share"), XDG_CONFIG_HOME=str(home / "config"),
                   QT_QPA_PLATFORM="offscreen")
    work = tmp_path / "work"        # not the repository: the installed package must be the one imported
    work.mkdir()

    where = subprocess.run([str(py), "-c", "import colorstudio, colorstudio.core.resources as r; "
                            "print(colorstudio.__file__); print(r.sample_photo())"],
                           capture_output=True, text=True, cwd=work, env=run_env, timeout=120)
    assert where.returncode == 0, where.stderr
    module, sample = where.stdout.split("\n")[:2]
    assert Path(module).is_relative_to(env), f"imported {module}, not the installed wheel"
    assert Path(sample).is_relative_to(env) and Path(sample).is_file(), sample

    exe = _bin(env, "colorstudio")
    assert exe.is_file() and _bin(env, "colorstudio-gui").is_file()
    v = subprocess.run([str(exe), "--version"], capture_output=True, text=True, cwd=work, env=run_env, timeout=120)
    assert v.returncode == 0, v.stderr
    assert v.stdout.startswith("colorstudio ") and f"models folder: {home / 'share' / 'colorstudio' / 'models'}" in v.stdout

    w, h = Image.open(sample).size
    (work / "sample.hints.json").write_text(json.dumps({
        "format": "colorstudio.hints", "version": 1, "image": {"width": w, "height": h},
        "points": [{"x": w * 0.5, "y": h * 0.45, "radius": 4, "color": "#c08060"}], "strokes": []}))
    c = subprocess.run([str(exe), "colorize", sample, "-o", "out.png", "--hints", "sample.hints.json"],
                       capture_output=True, text=True, cwd=work, env=run_env, timeout=300)
    assert c.returncode == 0, c.stderr
    out = np.asarray(Image.open(work / "out.png").convert("RGB")).astype(int)
    assert out.shape == (h, w, 3)
    assert (out.max(axis=2) - out.min(axis=2)).max() > 10, "no colour was added"
    assert not (home / "share").exists() or not any((home / "share").rglob("*.part"))
