"""Starting the app: light start-up, and the offscreen screenshot used for the README."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from colorstudio.core.color import rgb_to_lab
from colorstudio.core.hints import Hints
from colorstudio.gui.app import run

from .fakes import edge_photo

ROOT = Path(__file__).resolve().parents[2]


def test_the_window_shows_without_importing_torch_or_an_engine():
    code = (
        "import sys\n"
        "from colorstudio.gui.app import make_app\n"
        "app = make_app()\n"
        "from colorstudio.gui.main_window import MainWindow\n"
        "w = MainWindow(); w.show(); app.processEvents()\n"
        "heavy = [m for m in ('torch', 'colorstudio.engines._propagation', 'colorstudio.core.session', 'scipy')"
        " if m in sys.modules]\n"
        "w.close()\n"
        "print(','.join(heavy))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"imported before the window showed: {out.stdout.strip()}"


def test_core_engines_and_models_never_import_qt():
    code = ("import sys, colorstudio.core.document, colorstudio.core.scheduler, colorstudio.core.swatches, "
            "colorstudio.core.settings, colorstudio.gui.geometry, colorstudio.gui.availability; "
            "sys.exit(any(m.startswith(('PySide6', 'qtawesome')) for m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode == 0


def test_screenshot_renders_the_window_with_a_photo_and_hints(tmp_path, qapp):
    photo = edge_photo(tmp_path / "edge.png", 300, 200)
    hints = tmp_path / "edge.hints.json"
    Hints.of(points=[(60, 100, "#c0392b", 6), (230, 100, "#2e86de", 6)], image_size=(300, 200)).save(hints)
    out = tmp_path / "shot.png"
    assert run([str(photo)], screenshot=str(out), hints=str(hints), size=(1000, 700)) == 0
    img = Image.open(out)
    assert img.size == (1000, 700)
    lab = rgb_to_lab(np.asarray(img.convert("RGB"), np.float32) / 255.0)
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    assert (chroma > 25).sum() > 5000, "the coloured preview is in the picture"
    assert not list((tmp_path / "data").glob("autosave/*")), "a screenshot leaves no autosave behind"


def test_screenshot_of_a_missing_photo_fails_with_a_sentence(tmp_path, qapp, capsys):
    out = tmp_path / "shot.png"
    assert run([str(tmp_path / "nope.png")], screenshot=str(out)) == 2
    assert not out.exists()
    assert "nope.png" in capsys.readouterr().err


def test_screenshot_refusals_keep_file_names_as_they_are_named(tmp_path, qapp, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.jpg").write_text("these are notes, not a photo\n")
    out = tmp_path / "shot.png"
    assert run(["bad.jpg"], screenshot=str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("colorstudio: bad.jpg is not an image"), err
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 60), 120, np.uint8)).save(photo)
    (tmp_path / "h.json").write_text('{"points": [')
    assert run([str(photo)], screenshot=str(out), hints="h.json") == 2
    err = capsys.readouterr().err
    assert err.startswith("colorstudio: h.json is not valid JSON"), err
    assert not out.exists()


def test_many_qt_calls_do_not_wear_out_none():
    # PySide6 6.12.0 drops a reference to None on every void call; on Python < 3.12 that aborts
    # the interpreter after a few thousand calls. pyproject.toml keeps that release out there;
    # this proves the PySide6 installed here does not have the bug (no workaround is applied).
    code = ("import sys\n"
            "import colorstudio.gui\n"
            "from PySide6.QtWidgets import QApplication, QWidget\n"
            "app = QApplication([]); w = QWidget(); w.show()\n"
            "before = sys.getrefcount(None)\n"
            "for _ in range(100000): w.update()\n"
            "lost = before - sys.getrefcount(None)\n"
            "print('ok' if sys.version_info >= (3, 12) or lost < 100 else f'lost {lost}')\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-500:]
