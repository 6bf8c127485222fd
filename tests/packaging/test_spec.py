"""The PyInstaller spec leaves out only what the app never imports: every module the spec
excludes stays unimported after every colorstudio module has been imported."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "packaging" / "colorstudio.spec"


def _excludes() -> list[str]:
    for node in ast.walk(ast.parse(SPEC.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "EXCLUDES" for t in node.targets):
            return [ast.literal_eval(e) for e in node.value.elts]
    raise AssertionError("the spec has no EXCLUDES list")


def test_the_spec_excludes_nothing_the_app_imports():
    excludes = _excludes()
    assert "torch._inductor" in excludes and "PySide6.QtQml" in excludes
    code = (
        "import importlib, json, pkgutil, sys\n"
        "import colorstudio\n"
        "for m in pkgutil.walk_packages(colorstudio.__path__, 'colorstudio.'):\n"
        "    if not m.name.endswith('__main__'):  # that one starts the app\n"
        "        importlib.import_module(m.name)\n"
        "from colorstudio.cli import build_parser\n"
        "build_parser()\n"
        "print(json.dumps(sorted(sys.modules)))\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600, cwd=REPO)
    assert r.returncode == 0, r.stderr
    loaded = json.loads(r.stdout.strip().splitlines()[-1])
    wrong = sorted({e for e in excludes for m in loaded if m == e or m.startswith(e + ".")})
    assert not wrong, f"the spec excludes modules the app imports: {wrong}"
