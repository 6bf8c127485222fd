"""Smoke test of the PyInstaller one-folder app (packaging/colorstudio.spec), headless.

Building takes minutes, so it is not part of the suite's run: build it, then

    COLORSTUDIO_BUNDLE=dist/colorstudio QT_QPA_PLATFORM=offscreen python -m pytest tests/packaging/test_bundle.py

The bundle must report its versions and the torch it carries, colorize the sample photo from
a hints file, and render its empty window (which finds the sample through its resources).
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
BUNDLE = os.environ.get("COLORSTUDIO_BUNDLE")
pytestmark = [pytest.mark.packaging,
              pytest.mark.skipif(not BUNDLE, reason="set COLORSTUDIO_BUNDLE to a built dist/colorstudio folder")]


@pytest.fixture
def app(tmp_path):
    exe = Path(BUNDLE) / ("colorstudio.exe" if os.name == "nt" else "colorstudio")
    assert exe.is_file(), f"no executable at {exe}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COLORSTUDIO_", "PYTHON"))}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "home" / "share"),
               XDG_CONFIG_HOME=str(tmp_path / "home" / "config"), QT_QPA_PLATFORM="offscreen")

    def run(*args, timeout=300):
        return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=tmp_path,
                              env=env, timeout=timeout)
    return run


def test_bundle_reports_its_versions(app):
    r = app("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("colorstudio ") and "\ntorch " in r.stdout and "does not load" not in r.stdout
    assert "\nQt " in r.stdout and "\ndevice: " in r.stdout


def test_bundle_colorizes_the_sample_photo_headless(app, tmp_path):
    photo = REPO / "resources" / "sample_portrait.jpg"
    w, h = Image.open(photo).size
    hints = tmp_path / "hints.json"
    hints.write_text(json.dumps({"format": "colorstudio.hints", "version": 1, "image": {"width": w, "height": h},
                                 "points": [{"x": w / 2, "y": h * 0.45, "radius": 4, "color": "#c08060"}],
                                 "strokes": []}))
    r = app("colorize", photo, "-o", tmp_path / "out.png", "--hints", hints)
    assert r.returncode == 0, r.stderr
    out = np.asarray(Image.open(tmp_path / "out.png").convert("RGB")).astype(int)
    assert out.shape == (h, w, 3) and (out.max(axis=2) - out.min(axis=2)).max() > 10


def test_bundle_carries_the_resources_and_no_build_only_parts():
    internal = Path(BUNDLE) / "_internal"
    for name in ("__init__.py", "sample_portrait.jpg", "icons/colorstudio.svg"):
        assert (internal / "colorstudio" / "resources" / name).is_file(), name
    assert not (internal / "torch" / "include").exists() and not (internal / "torch" / "test").exists()
    assert not list((internal / "torch" / "lib").glob("*test*"))
    assert not (internal / "ray").exists(), "the batch command's cluster extra is not part of the app"


def test_bundle_renders_its_window(app, tmp_path):
    shot = tmp_path / "window.png"
    r = app("gui", "--screenshot", shot, REPO / "resources" / "sample_portrait.jpg",
            "--hints", REPO / "packaging" / "screenshot.hints.json")
    assert r.returncode == 0, r.stderr
    with Image.open(shot) as im:
        assert im.width >= 800 and im.height >= 500
