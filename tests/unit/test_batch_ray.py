"""The batch on a local Ray (2 CPUs) gives the same outputs, pixel for pixel, and the same manifest."""
from __future__ import annotations

import signal
import sqlite3
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from batch_tree import PHOTOS, build_batch_tree  # noqa: E402

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'colorstudio[cluster]')")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not PHOTOS.is_dir(), reason="the shared test photos are absent")]

# Columns that say when and how long, or hash bytes that hold the time of writing (the XMP
# history's stEvt:when): everything else must match.
_VARIES = {"finished_at", "seconds_read", "seconds_colorize", "seconds_write", "output_sha256", "output_size"}


@pytest.fixture(scope="module")
def local_ray():
    repo = str(Path(__file__).resolve().parents[2])
    # Ray installs its own SIGTERM and SIGINT handlers in this process and leaves them after
    # shutdown; put the earlier ones back, so the tests that follow see the process as it was.
    signals = [s for s in (signal.SIGTERM, signal.SIGINT, getattr(signal, "SIGHUP", None)) if s is not None]
    before = {s: signal.getsignal(s) for s in signals}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": repo}})
    yield
    ray.shutdown()
    for s, handler in before.items():
        signal.signal(s, handler)


def _rows(out: Path) -> dict:
    db = sqlite3.connect(out / "colorstudio-batch.sqlite")
    db.row_factory = sqlite3.Row
    rows = {r["source"]: {k: r[k] for k in r.keys() if k not in _VARIES} for r in db.execute("SELECT * FROM photos")}
    db.close()
    return rows


def test_ray_matches_one_machine_and_resumes_the_same_way(tmp_path, local_ray):
    from colorstudio.core.batch import BatchSettings, run_batch
    from colorstudio.core.batch.cluster import RayPool
    tree = build_batch_tree(tmp_path, autosave=tmp_path / "autosave", extra_photos=4)
    settings = BatchSettings(mode="hints", autosave=str(tmp_path / "autosave"))
    local = run_batch(tree["src"], tmp_path / "local", settings, recursive=True)
    remote = run_batch(tree["src"], tmp_path / "ray", settings, recursive=True, jobs=2, cluster="ray")
    assert remote.counts == local.counts and local.counts["done"] == len(tree["documented"])
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    for rel in tree["documented"]:
        a = np.asarray(Image.open(tmp_path / "local" / rel))
        b = np.asarray(Image.open(tmp_path / "ray" / rel))
        assert a.dtype == b.dtype and np.array_equal(a, b), rel
    again = run_batch(tree["src"], tmp_path / "ray", settings, recursive=True, jobs=2, cluster="ray")
    assert again.counts["done"] == 0 and again.counts["up_to_date"] == len(tree["documented"])
    # Actors that take several photos at once (as on GPUs): a threaded actor with a pipeline
    # of its own; the same outputs and manifest.
    together = replace(settings, together=3)
    grouped = run_batch(tree["src"], tmp_path / "ray3", together, recursive=True, jobs=2, cluster="ray")
    assert grouped.counts == local.counts
    assert _rows(tmp_path / "ray3") == _rows(tmp_path / "local")
    for rel in tree["documented"]:
        assert np.array_equal(np.asarray(Image.open(tmp_path / "local" / rel)),
                              np.asarray(Image.open(tmp_path / "ray3" / rel))), rel
    # One runtime per actor: each actor built its engine once, whatever the number of photos.
    # No jobs given (the command line's --jobs auto): one actor per CPU of the cluster.
    pool = RayPool(settings, "ray", jobs=None)
    try:
        assert len(pool.actors) == int(ray.cluster_resources()["CPU"]) == 2
        from colorstudio.core.batch import PhotoTask
        (tmp_path / "p").mkdir()
        futures = [pool.submit(PhotoTask(str(tree["src"] / rel), rel, str(tmp_path / "p" / f"{i}.png"), f"{i}.png"))
                   for i, rel in enumerate(tree["documented"])]
        assert all(f.result()["status"] == "done" for f in futures)
        assert sum(pool.engines_built()) <= 2
    finally:
        pool.close()
