"""The README's Python example runs as written, on a real grey photo and a hints file."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PHOTO = ROOT / "resources" / "sample_portrait.jpg"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_example_runs(tmp_path, monkeypatch):
    blocks = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "README.md has no Python example"
    shutil.copy(PHOTO, tmp_path / "photo.jpg")
    (tmp_path / "scans").mkdir()
    shutil.copy(PHOTO, tmp_path / "scans" / "scan-001.jpg")
    w, h = Image.open(PHOTO).size
    (tmp_path / "photo.hints.json").write_text(
        '{"format": "colorstudio.hints", "version": 1, "image": {"width": %d, "height": %d},'
        ' "points": [{"x": 110, "y": 200, "radius": 4, "color": "#8a5a3a"}],'
        ' "strokes": [{"points": [[20, 20], [60, 30]], "width": 6, "color": "#6080a0"}]}' % (w, h))
    monkeypatch.chdir(tmp_path)
    env: dict = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), env)
    out = np.asarray(Image.open(tmp_path / "photo-colour.png").convert("RGB")).astype(int)
    assert out.shape == (h, w, 3)
    # Colour was added somewhere, and the preview/final objects are what the README says.
    assert (out.max(axis=2) - out.min(axis=2)).max() > 10
    assert env["preview"].dtype == np.uint8 and max(env["preview"].shape[:2]) <= 1024
    assert env["final"].rgb.shape == (h, w, 3)
    # The batch colorized the folder's photo at its size, in colour, and left the source alone.
    assert env["summary"].counts["done"] == 1 and env["summary"].failed == 0
    batch_out = np.asarray(Image.open(tmp_path / "scans-colour" / "scan-001.jpg").convert("RGB")).astype(int)
    assert batch_out.shape == (h, w, 3) and (batch_out.max(axis=2) - batch_out.min(axis=2)).max() > 10
    assert (tmp_path / "scans" / "scan-001.jpg").read_bytes() == PHOTO.read_bytes()


def test_readme_names_the_test_command_that_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(python -m pip install[^\n]*pytest[^\n]*)\n```", readme)
    assert commands, "README.md gives no test command"
    assert commands[0] in ci
