"""Fixtures for the training tests: a tiny photo folder and an isolated models folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

PHOTOS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "photos"
#: Tiny networks and crops: every test trains in seconds on two cores.
TINY = dict(size=32, batch=2, workers=0, seed=1, options={"width": 8, "depth": 3}, learning_rate=3e-3)


@pytest.fixture
def photo_folder(tmp_path) -> Path:
    """Three colour photos and one grey one from ../shared/data/photos, in a nested folder."""
    if not PHOTOS.is_dir():
        pytest.skip(f"the shared test photos are not available at {PHOTOS}")
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for name in ("kodim03.png", "kodim05.png"):
        shutil.copy(PHOTOS / name, folder / name)
    shutil.copy(PHOTOS / "kodim23.png", folder / "sub" / "kodim23.png")
    shutil.copy(PHOTOS / "david_hilbert_bw.png", folder / "sub" / "grey.png")
    return folder


@pytest.fixture(autouse=True)
def models_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setenv("COLORSTUDIO_MODELS", str(folder))
    return folder
