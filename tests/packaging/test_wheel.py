"""The wheel holds everything the app needs at run time: every module, resources/ whole
(sample photo, icons, notices, bundled models), and both entry points."""
from __future__ import annotations

import ast
import configparser
import importlib.metadata
import re
import sys
import zipfile
from pathlib import Path

import pytest

from colorstudio.core.resources import resource_root

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.packaging


def _names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


def test_wheel_holds_every_module(wheel):
    names = _names(wheel)
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "colorstudio").rglob("*.py")
               if "__pycache__" not in p.parts}
    missing = sorted(modules - names)
    assert not missing, f"modules missing from the wheel (add their package to pyproject.toml): {missing}"


def test_wheel_holds_resources_whole(wheel):
    names = _names(wheel)
    files = {p.relative_to(REPO / "resources").as_posix() for p in (REPO / "resources").rglob("*")
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert "sample_portrait.jpg" in files and "icons/colorstudio.svg" in files
    missing = sorted(f for f in files if f"colorstudio/resources/{f}" not in names)
    assert not missing, f"resources missing from the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    bundled = sorted(f for f in files if f.startswith("models/"))
    if (REPO / "resources" / "models").is_dir():
        assert bundled, "resources/models/ exists but none of its files are in the wheel"


def test_wheel_declares_both_entry_points_and_the_runtime_dependencies(wheel):
    with zipfile.ZipFile(wheel) as z:
        ep_name = next(n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt"))
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        eps = configparser.ConfigParser()
        eps.read_string(z.read(ep_name).decode())
        meta = z.read(meta_name).decode()
    assert eps["console_scripts"]["colorstudio"] == "colorstudio.cli:main"
    assert eps["gui_scripts"]["colorstudio-gui"] == "colorstudio.cli:gui_main"
    lines = [ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    name = lambda spec: _norm(re.split(r"[ <>=!~;\[(]", spec)[0])  # noqa: E731
    required = {name(spec) for spec in lines if "extra ==" not in spec}
    # An optional feature's imports (ray, c2pa...) may be declared in its extra instead.
    optional = {name(spec) for spec in lines if "extra ==" in spec and "extra == \"test\"" not in spec}
    requires = required | optional
    for dist in ("numpy", "pillow", "scipy", "tifffile", "platformdirs", "torch", "pyside6-essentials", "qtawesome"):
        assert dist in required, f"{dist} is needed to run the app but is not a required dependency"
    # Every third-party module the package imports, mapped to the distribution that provides it.
    provides = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_imported_modules()):
        dists = {_norm(d) for d in provides.get(module, [])}
        assert dists, f"colorstudio imports {module}, which no installed distribution provides"
        if not dists & requires:
            undeclared[module] = sorted(dists)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> set[str]:
    out = set()
    for path in (REPO / "colorstudio").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                out.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                out.add(node.module.split(".")[0])
    return {m for m in out if m not in sys.stdlib_module_names and m != "colorstudio"}


def test_source_tree_finds_its_resources():
    root = resource_root()
    assert root is not None and (root / "sample_portrait.jpg").is_file()
