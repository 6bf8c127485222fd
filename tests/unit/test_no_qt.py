"""No Qt below gui/: a headless batch server must never load PySide6.

Each check runs in a fresh interpreter, since this test process may already hold Qt.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import colorstudio

PACKAGE = Path(colorstudio.__file__).resolve().parent
QT = ("PySide6", "shiboken6", "qtawesome", "PyQt5", "PyQt6")


def _modules_under(*packages: str) -> list[str]:
    """Every module file under the given subpackages (new files are covered as they appear)."""
    names = []
    for pkg in packages:
        for path in sorted((PACKAGE / pkg).rglob("*.py")):
            rel = path.relative_to(PACKAGE.parent).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def _run(code: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_core_engines_and_models_never_import_qt():
    modules = _modules_under("core", "engines", "models")
    assert "colorstudio.core.session" in modules and "colorstudio.engines.propagation" in modules
    code = f"""
import importlib, json, sys
import numpy as np
import colorstudio as cs
for name in {modules!r}:
    importlib.import_module(name)
photo = cs.SourceImage.from_array(np.tile(np.arange(64, dtype=np.uint8), (48, 1)))
hints = cs.Hints.of(points=[(10, 10, "#c86432", 3)], strokes=[([(40, 5), (40, 40)], 4, "#3366aa")])
session = cs.ColorizeSession(photo)
session.preview(hints, max_side=32)
rgb = cs.colorize(photo, hints=hints).rgb
print(json.dumps({{"qt": [m for m in {QT!r} if m in sys.modules], "shape": list(rgb.shape)}}))
"""
    got = _run(code)
    assert got["shape"] == [48, 64, 3]
    assert got["qt"] == []


def test_import_colorstudio_alone_is_light():
    got = _run("import json, sys, colorstudio; "
               "print(json.dumps([m for m in ('torch', 'PySide6', 'qtawesome', 'scipy') if m in sys.modules]))")
    assert got == []


def test_the_cli_parser_and_colorize_path_import_no_qt(tmp_path):
    """`colorstudio colorize` builds the whole parser (all subcommands) and must still stay Qt-free."""
    from PIL import Image
    import numpy as np

    Image.fromarray(np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))).save(tmp_path / "in.png")
    code = f"""
import json, sys
from colorstudio.cli import main
rc = main(["colorize", {str(tmp_path / 'in.png')!r}, "-o", {str(tmp_path / 'out.png')!r}])
print(json.dumps({{"rc": rc, "qt": [m for m in {QT!r} if m in sys.modules]}}))
"""
    assert _run(code) == {"rc": 0, "qt": []}
    assert (tmp_path / "out.png").exists()


def test_the_weight_free_path_runs_with_torch_unimportable(tmp_path):
    """open -> hints -> preview -> render -> save, with `import torch` made to fail: the
    weight-free path must never need it (nor the engine list, nor the document)."""
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(3)
    grey = np.clip(np.tile(np.linspace(30, 220, 96), (64, 1)) + rng.normal(0, 3, (64, 96)), 0, 255)
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / "in.png")
    code = f"""
import importlib.abc, json, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is not installed (test)")
sys.meta_path.insert(0, NoTorch())
import colorstudio as cs
from colorstudio.core.document import DEFAULT_ENGINE, Document
from colorstudio.engines.registry import ENGINES, engines_for_mode
photo = cs.open_image({str(tmp_path / "in.png")!r})
hints = cs.Hints.of(points=[(10, 10, "#c86432", 3)], strokes=[([(60, 5), (60, 50)], 4, "#3366aa")])
session = cs.ColorizeSession(photo)
draft = session.preview(hints, max_side=48, draft=True)
settled = session.preview(hints, max_side=1024)
result = session.render(hints)
out = result.save({str(tmp_path / "out.png")!r})
doc = Document(hints=hints, engine=DEFAULT_ENGINE["hints"])
print(json.dumps({{"torch": "torch" in sys.modules, "engines": list(ENGINES), "draft": list(draft.shape),
                  "settled": list(settled.shape), "out": out.name, "hints_engines": engines_for_mode("hints"),
                  "same": bool((settled == result.rgb).all())}}))
"""
    got = _run(code)
    assert got["torch"] is False
    assert got["out"] == "out.png" and (tmp_path / "out.png").is_file()
    assert got["draft"] == [32, 48, 3] and got["settled"] == [64, 96, 3]
    assert "propagation" in got["hints_engines"] and "siggraph17" in got["engines"]
    # A photo no larger than the preview: the settled preview is the export, pixel for pixel.
    assert got["same"] is True
