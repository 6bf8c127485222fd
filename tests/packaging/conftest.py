"""Fixtures for the packaging tests: one wheel built per session from a copy of the sources."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """A wheel built with the installed setuptools (no network, no build isolation) from a
    copy of the source tree, so that the build leaves nothing in the checkout."""
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    for name in ("colorstudio", "resources"):
        shutil.copytree(REPO / name, src / name, ignore=SKIP)
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "--no-index", "-q", "-w", str(out), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(out.glob("colorstudio-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]
