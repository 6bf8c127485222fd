"""Data, hint simulation, fading and metrics of the training package (no torch needed)."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from colorstudio.core.color import rgb_to_lab
from colorstudio.training.data import CropDataset, scan_folder
from colorstudio.training.errors import TrainingError
from colorstudio.training.hints import PATCH_SIDES, fade, rasterise_points, simulate_points
from colorstudio.training.metrics import delta_e00, psnr


def test_scan_counts_grey_and_broken_and_splits_by_hash(photo_folder, tmp_path):
    (photo_folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (photo_folder / "notes.txt").write_text("ignored: not a picture suffix")
    col = scan_folder(photo_folder)
    assert (len(col.photos), col.grey, col.broken) == (3, 1, 1)
    assert col.held_out and col.train and not {p.sha256 for p in col.held_out} & {p.sha256 for p in col.train}
    # The split follows the files' contents, not their names or places.
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for i, p in enumerate(col.photos):
        shutil.copy(p.path, renamed / f"z{i}.png")
    col2 = scan_folder(renamed)
    assert {p.sha256 for p in col2.held_out} == {p.sha256 for p in col.held_out}
    assert col2.list_hash() == col.list_hash()


def test_a_folder_without_colour_photos_is_refused(tmp_path, photo_folder):
    grey = tmp_path / "grey"
    grey.mkdir()
    shutil.copy(photo_folder / "sub" / "grey.png", grey / "a.png")
    (grey / "b.jpg").write_bytes(b"broken")
    with pytest.raises(TrainingError, match="no colour photos.*1 grey or toned and 1 unreadable"):
        scan_folder(grey)


def test_samples_are_a_pure_function_of_seed_and_index(photo_folder):
    col = scan_folder(photo_folder)
    a = CropDataset(col.train, 32, seed=3, needs=("hints", "faded"))
    b = CropDataset(col.train, 32, seed=3, needs=("hints", "faded"))
    for k in (7, 0, 7, 123):
        sa, sb = a[k], b[k]
        assert sa.keys() == sb.keys()
        for key in sa:
            assert np.array_equal(sa[key], sb[key])
    assert not np.array_equal(a[1]["ab"], a[2]["ab"])
    assert not np.array_equal(CropDataset(col.train, 32, seed=4)[7]["ab"], a[7]["ab"])
    s = a[5]
    assert s["L"].shape == (1, 32, 32) and s["ab"].shape == (2, 32, 32) and s["faded_ab"].shape == (2, 32, 32)
    # Every epoch shows every training photo once.
    n = len(col.train)
    assert sorted(a.photo_for(k).sha256 for k in range(n, 2 * n)) == sorted(p.sha256 for p in col.train)


def test_points_follow_the_papers_distributions():
    rng = np.random.default_rng(0)
    H = W = 64
    ab = rng.uniform(-60, 60, (H, W, 2)).astype(np.float32)
    counts, sides, centres = [], [], []
    for _ in range(3000):
        pts = simulate_points(ab, rng)
        counts.append(len(pts))
        for p in pts:
            sides.append(p.side)
            centres.append(p.y + p.side / 2)
            assert np.allclose([p.a, p.b], ab[p.y:p.y + p.side, p.x:p.x + p.side].reshape(-1, 2).mean(0), atol=1e-4)
    # Geometric with p = 1/8 (failures before the first stop): mean 7, P(0 points) = 1/8.
    assert abs(np.mean(counts) - 7.0) < 0.4
    assert abs(np.mean(np.array(counts) == 0) - 1 / 8) < 0.02
    assert set(sides) == set(PATCH_SIDES)
    assert abs(np.mean(centres) - H / 2) < 1.0 and 12 < np.std(centres) < 17   # sigma = H / 4, clipped
    hint, mask = rasterise_points(simulate_points(ab, rng, count=3), H, W)
    assert mask.sum() >= 1 and np.all(hint[:, mask[0] == 0] == 0)


def test_fading_keeps_lightness_and_changes_colour():
    rng = np.random.default_rng(1)
    rgb = rng.uniform(0, 1, (16, 16, 3)).astype(np.float32)
    faded = fade(rgb, rng)
    lab = rgb_to_lab(rgb)
    assert np.allclose(faded[..., 0], lab[..., 0])
    chroma = lambda x: np.hypot(x[..., 1], x[..., 2])  # noqa: E731
    assert np.abs(faded[..., 1:] - lab[..., 1:]).mean() > 5
    assert np.std(chroma(faded)) < np.std(chroma(lab))          # saturation lowered


def test_ciede2000_matches_sharmas_published_pairs():
    # Sharma, Wu, Dalal (2005), table 1: pairs 1, 7, 17, 25, 34.
    a = np.array([[50, 2.6772, -79.7751], [50, 0, 0], [50, 2.5, 0], [60.2574, -34.0099, 36.2677],
                  [2.0776, 0.0795, -1.135]])
    b = np.array([[50, 0, -82.7485], [50, -1, 2], [73, 25, -18], [60.4626, -34.1751, 39.4387],
                  [0.9033, -0.0636, -0.5514]])
    assert np.allclose(delta_e00(a, b), [2.0425, 2.3669, 27.1492, 1.2644, 0.9082], atol=1e-4)
    assert psnr(np.zeros((2, 2)), np.full((2, 2), 0.1)) == pytest.approx(20.0)


def test_the_training_package_imports_no_qt():
    import subprocess
    import sys
    code = ("import sys, pkgutil, importlib, colorstudio.training as t, colorstudio.training.archs as a\n"
            "for m in pkgutil.walk_packages(t.__path__, 'colorstudio.training.'): importlib.import_module(m.name)\n"
            "import colorstudio.engines._user, colorstudio.models.user\n"
            "print(sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'shiboken6', 'PyQt5', 'PyQt6')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
