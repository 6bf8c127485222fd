"""Batch runs without a subprocess: the walk, the plan, the per-photo step, the manifest, resume."""
from __future__ import annotations

import io
import json
import os
import sys
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, IptcImagePlugin

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from batch_tree import PHOTOS, build_batch_tree, tree_hashes  # noqa: E402
from colorstudio.core.batch import (MANIFEST_NAME, BatchError, BatchLock, BatchSettings, EngineCache, check_folders,
                                    run_batch, walk)
from colorstudio.core.batch.plan import output_names
from colorstudio.core.image import open_image
from colorstudio.core.xmp import SYNTHETIC, read_xmp

pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="the shared test photos are absent")


@pytest.fixture
def tree(tmp_path):
    t = build_batch_tree(tmp_path, autosave=tmp_path / "autosave")
    t["autosave"] = tmp_path / "autosave"
    t["out"] = tmp_path / "out"
    return t


def settings(tree, **kw) -> BatchSettings:
    return BatchSettings(mode=kw.pop("mode", "hints"), autosave=str(tree["autosave"]), **kw)


def batch(tree, **kw) -> tuple:
    records = []
    s = settings(tree, **{k: kw.pop(k) for k in list(kw) if k in BatchSettings.__dataclass_fields__})
    summary = run_batch(tree["src"], tree["out"], s, recursive=kw.pop("recursive", True), on_record=records.append,
                        **kw)
    return summary, {r["source"]: r for r in records}


def manifest_rows(out: Path) -> dict:
    db = sqlite3.connect(out / MANIFEST_NAME)
    db.row_factory = sqlite3.Row
    rows = {r["source"]: dict(r) for r in db.execute("SELECT * FROM photos")}
    db.close()
    return rows


def test_the_walk_meets_every_file_once_and_ends_in_a_symlink_loop(tree):
    entries = list(walk(tree["src"], recursive=True))
    rels = [e.rel for e in entries]
    assert len(rels) == len(set(rels))
    assert "nested/c.png" in rels and "nested/deep16.tif" in rels
    assert not any("loop" in r for r in rels)  # the loop points back at the source: entered once only
    skipped = {e.rel: e.skip for e in entries if e.skip}
    assert set(skipped) == {"notes.txt"} and "not a photo" in skipped["notes.txt"]
    flat = [e.rel for e in walk(tree["src"], recursive=False)]
    assert "nested/c.png" not in flat and "a_colour.jpg" in flat


def test_outputs_mirror_the_tree_and_clashing_stems_are_told_apart():
    names = output_names(["d/a.jpg", "d/a.tif", "d/b.jpg"], "png")
    assert names == {"d/a.jpg": "d/a.jpg.png", "d/a.tif": "d/a.tif.png", "d/b.jpg": "d/b.png"}
    assert output_names(["x.jpeg", "y.tiff", "z.gif"], "same") == {"x.jpeg": "x.jpeg", "y.tiff": "y.tiff",
                                                                    "z.gif": "z.png"}
    assert output_names(["x.png"], "tiff") == {"x.png": "x.tif"}


def test_output_inside_or_equal_to_or_linked_to_the_source_is_refused(tree, tmp_path):
    src = tree["src"]
    for bad in (src, src / "results", src / "nested"):
        with pytest.raises(BatchError, match="source folder"):
            check_folders(src, bad)
    link = tmp_path / "link-to-src"
    link.symlink_to(src, target_is_directory=True)
    with pytest.raises(BatchError, match="source folder"):
        check_folders(src, link)
    with pytest.raises(BatchError, match="source folder"):
        check_folders(src, link / "out")
    with pytest.raises(BatchError, match="inside the output folder"):
        check_folders(src, tmp_path)
    before = tree_hashes(src)
    with pytest.raises(BatchError):
        run_batch(src, src / "results", settings(tree), recursive=True)
    assert tree_hashes(src) == before and not (src / "results").exists()


def test_a_batch_does_the_right_thing_with_each_file_and_never_touches_the_source(tree):
    before = tree_hashes(tree["src"])
    summary, recs = batch(tree)
    assert tree_hashes(tree["src"]) == before  # not a byte changed, no file added
    assert recs["notes.txt"]["status"] == "skipped"
    assert recs["b_grey.png"]["status"] == "skipped" and "no saved edit document" in recs["b_grey.png"]["error"]
    assert recs["truncated.jpg"]["status"] == "failed" and "truncated" in recs["truncated.jpg"]["error"]
    assert recs["fake.png"]["status"] == "failed" and "not an image" in recs["fake.png"]["error"]
    for rel in tree["documented"]:
        assert recs[rel]["status"] == "done", recs[rel]
    assert summary.counts["done"] == len(tree["documented"]) and summary.failed == 2
    out = tree["out"]
    assert not (out / "truncated.jpg").exists() and not list(out.rglob(".*.part"))
    rows = manifest_rows(out)
    assert set(rows) == set(recs)
    for rel in tree["documented"]:
        row = rows[rel]
        assert row["engine"] == "propagation" and row["mode"] == "hints" and row["document"]
        assert row["sha256"] == open_image(tree["src"] / rel).content_hash
        import hashlib
        assert row["output_sha256"] == hashlib.sha256((out / row["output"]).read_bytes()).hexdigest()


def test_full_fidelity_size_depth_and_lightness(tree):
    batch(tree)
    out = tree["out"]
    for rel in tree["documented"]:
        src, res = open_image(tree["src"] / rel), open_image(out / rel)
        assert res.size == src.size, rel
        tol = 0.6 if rel.endswith(".jpg") else 0.05  # JPEG re-encodes; PNG and TIFF keep L exactly (to rounding)
        if not rel.endswith(".jpg"):
            assert np.abs(res.lightness - src.lightness).max() < tol + (0.3 if src.bit_depth == 8 else 0), rel
        assert res.was_color, rel
    deep = open_image(out / tree["deep16"])
    assert deep.bit_depth == 16 and deep.format == "TIFF"
    import tifffile
    with tifffile.TiffFile(out / tree["deep16"]) as tf:
        assert tf.pages[0].dtype == np.uint16 and 34675 in tf.pages[0].tags
    rot_src = Image.open(tree["src"] / tree["rotated"])
    rot_out = Image.open(out / tree["rotated"])
    assert rot_src.size == (40, 30) and rot_out.size == (30, 40)  # upright, and says so
    assert rot_out.getexif().get(0x0112, 1) == 1
    assert rot_out.getexif().get(0x010F) == "Archive Scanner Co"


def test_metadata_and_provenance_read_back(tree):
    batch(tree)
    out = tree["out"]
    src_sha = open_image(tree["src"] / tree["rotated"]).content_hash
    im = Image.open(out / tree["rotated"])
    iptc = IptcImagePlugin.getiptcinfo(im)
    assert iptc and iptc[(2, 120)] == "Harbour, 1931".encode()
    xmp = read_xmp(im.info["xmp"])
    assert b"Town Archive" in im.info["xmp"]  # the source's own XMP kept
    assert xmp["digital_source_type"] == SYNTHETIC
    assert xmp["derived_from"] == {"filePath": "rotated.jpg", "documentID": f"sha256:{src_sha}"}
    assert "colorized derivative" in xmp["description"]
    (event,) = xmp["history"]
    assert event["action"] == "derived" and "propagation" in event["parameters"]
    assert event["softwareAgent"].startswith("Colorstudio ") and event["when"]
    png = Image.open(out / "edited.png")
    assert read_xmp(png.info["xmp"].encode() if isinstance(png.info["xmp"], str) else png.info["xmp"])[
        "derived_from"]["filePath"] == "edited.png"
    import tifffile
    with tifffile.TiffFile(out / tree["deep16"]) as tf:
        packet = tf.pages[0].tags[700].value
    assert read_xmp(bytes(packet))["digital_source_type"] == SYNTHETIC


def test_a_second_run_does_nothing_and_a_changed_document_redoes_only_its_photo(tree):
    batch(tree)
    out = tree["out"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.*") if not p.name.startswith("colorstudio-batch")}
    summary, recs = batch(tree)
    assert summary.counts["done"] == 0 and summary.counts["up_to_date"] == len(tree["documented"])
    assert summary.failed == 2  # the broken files fail again (their reason stands)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # The archivist fixes one photo in the app: its autosaved document changes.
    from colorstudio.core.document import AutosaveStore
    store = AutosaveStore(tree["autosave"])
    sha = open_image(tree["src"] / "edited.png").content_hash
    doc = store.load(sha)
    store.save(doc.with_saturation(0.5))
    summary, recs = batch(tree)
    assert [r for r, v in recs.items() if v["status"] == "done" and not v.get("up_to_date")] == ["edited.png"]
    # A changed source is redone too; a changed batch setting redoes everything it touches.
    src = tree["src"] / "nested" / "c.png"
    Image.fromarray(np.roll(np.asarray(Image.open(src)), 5, axis=1)).save(src)
    summary, recs = batch(tree)
    assert summary.counts["done"] == 0  # its new content has no document: nothing to render it with
    assert recs["nested/c.png"]["status"] == "skipped"
    summary, recs = batch(tree, quality=80)
    assert summary.counts["done"] == 4


def test_retry_failed_retries_only_those(tree):
    batch(tree)
    (tree["src"] / "truncated.jpg").write_bytes((tree["src"] / "a_colour.jpg").read_bytes())
    # The repaired file has new content: give it a document as the app would.
    from colorstudio.core.document import AutosaveStore, Document, PhotoRef
    from colorstudio.core.hints import Hints, PointHint
    sha = open_image(tree["src"] / "truncated.jpg").content_hash
    AutosaveStore(tree["autosave"]).save(Document(hints=Hints(points=(PointHint(10, 10, "#aa3322", 3),)),
                                                  photo=PhotoRef("", sha, 96, 64)))
    summary, recs = batch(tree, retry_failed=True)
    assert set(recs) == {"truncated.jpg", "fake.png"}
    assert recs["truncated.jpg"]["status"] == "done" and recs["fake.png"]["status"] == "failed"


def test_dry_run_writes_nothing(tree):
    summary, recs = batch(tree, dry_run=True)
    assert not tree["out"].exists()
    # A dry run does not decode: the two broken files (they have documents) show up as planned.
    assert {r for r, v in recs.items() if v["status"] == "planned"} == {*tree["documented"], "truncated.jpg", "fake.png"}
    batch(tree)
    before = tree_hashes(tree["out"])
    summary, recs = batch(tree, dry_run=True)
    assert summary.counts["planned"] == 2 and summary.counts["up_to_date"] == len(tree["documented"])
    summary, recs = batch(tree, dry_run=True, quality=70)
    assert summary.counts["planned"] == 7 and tree_hashes(tree["out"]) == before


def test_a_second_batch_on_the_same_output_refuses(tree):
    tree["out"].mkdir()
    with BatchLock(tree["out"]):
        with pytest.raises(BatchError, match="another batch is writing to"):
            batch(tree)
    batch(tree)  # the lock is gone with its holder


def test_one_engine_per_worker_never_one_per_photo(tree):
    class Counting(EngineCache):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def engine(self, name, device="auto"):
            self.calls += 1
            return super().engine(name, device)

    rt = Counting()
    summary, _ = batch(tree, runtime=rt)
    assert rt.calls == len(tree["documented"]) and rt.built == 1


def test_the_output_of_another_run_is_not_replaced_unless_asked(tree):
    tree["out"].mkdir()
    (tree["out"] / "edited.png").write_bytes(b"someone else's file")
    summary, recs = batch(tree)
    assert recs["edited.png"]["status"] == "failed" and "--overwrite" in recs["edited.png"]["error"]
    assert (tree["out"] / "edited.png").read_bytes() == b"someone else's file"
    summary, recs = batch(tree, overwrite=True)
    assert recs["edited.png"]["status"] == "done"


def test_should_stop_is_asked_when_the_previous_photo_is_finished(tree):
    """The app's batch: one photo in flight, and should_stop (its pause and cancel) is asked
    right before each photo is handed out, after the one before it was recorded."""
    finished_at_ask = []
    records = []

    def should_stop():
        finished_at_ask.append(sum(1 for r in records if "output" in r))
        return len(finished_at_ask) > 2

    run_batch(tree["src"], tree["out"], settings(tree), recursive=True, on_record=records.append,
              should_stop=should_stop, in_flight=1)
    assert finished_at_ask == [0, 1, 2]
    assert sum(1 for r in records if "output" in r) == 2   # stopped: the third photo was never started
    assert all(row["status"] != "running" for row in manifest_rows(tree["out"]).values())


def _pixels(path: Path, png_raw) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile
        return tifffile.imread(path)
    if path.suffix.lower() == ".png":
        return png_raw.read(path)[0]
    return np.asarray(Image.open(path))


@pytest.fixture
def worker_engines(monkeypatch) -> dict:
    """{worker pid: engines it built}, filled when a batch's worker processes close (empty
    when the batch ran on threads)."""
    from colorstudio.core.batch import processes
    built = {}
    close = processes.ProcessPipeline.close

    def spying_close(self, cancel=False):
        built.update(self.engines_built)
        close(self, cancel)
    monkeypatch.setattr(processes.ProcessPipeline, "close", spying_close)
    return built


def test_worker_processes_give_the_same_outputs_and_manifest_as_one_thread(tree, tmp_path, png_raw, worker_engines):
    """--jobs 2 --processes runs whole photos on two spawned processes, each with one runtime:
    the outputs are the single-process run's, pixel for pixel, and so is the manifest."""
    built = worker_engines

    _, one = batch(tree, jobs=2)
    assert not built   # by default: threads in this process
    many_out = tmp_path / "out-many"
    many = {}
    run_batch(tree["src"], many_out, settings(tree), recursive=True, jobs=2, pool="processes",
              on_record=lambda r: many.update({r["source"]: r}))
    assert built and os.getpid() not in built and len(built) <= 2
    # One engine per worker process, never one per photo; a worker that met only unreadable
    # files (which fail before any engine is asked for) built none.
    assert all(n <= 1 for n in built.values()) and any(n == 1 for n in built.values()), built
    assert set(many) == set(one)
    rows_one, rows_many = manifest_rows(tree["out"]), manifest_rows(many_out)
    for rel, row in rows_one.items():
        other = rows_many[rel]
        for key in ("status", "error", "sha256", "settings_hash", "output", "document", "engine", "mode"):
            assert row[key] == other[key], (rel, key)
        if row["status"] == "done":
            a, b = _pixels(tree["out"] / row["output"], png_raw), _pixels(many_out / other["output"], png_raw)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b, err_msg=rel)
    assert sum(1 for r in rows_many.values() if r["status"] == "done") == len(tree["documented"])
    assert not list(many_out.rglob(".*.part"))


def test_the_automatic_pool_runs_processes_for_a_large_batch_on_the_cpu(monkeypatch):
    """pool="auto" (the CLI's default): worker processes from AUTO_PROCESSES_FROM photos with
    two jobs or more on the CPU; threads for fewer photos, one job, the app's shared runtime,
    and wherever a network may run on a GPU (the batch's engine, or documents' engines)."""
    from colorstudio.core.batch import run
    from colorstudio.core.batch.run import AUTO_PROCESSES_FROM, choose_pool
    many, few = AUTO_PROCESSES_FROM, AUTO_PROCESSES_FROM - 1
    prop = BatchSettings(mode="hints", engine="propagation")
    doc = BatchSettings(mode="document")
    net = BatchSettings(mode="auto", engine="siggraph17")
    for gpu in (False, True):
        monkeypatch.setattr(run, "gpu_may_be_used", lambda device, gpu=gpu: gpu and device != "cpu")
        assert choose_pool("auto", prop, 2, many) == "processes"      # weight-free: on the CPU anyway
        assert choose_pool("auto", prop, 2, few) == "threads"
        assert choose_pool("auto", prop, 1, many) == "threads"
        assert choose_pool("auto", prop, 2, many, runtime=object()) == "threads"
        assert choose_pool("auto", doc, 2, many) == ("threads" if gpu else "processes")
        assert choose_pool("auto", net, 2, many) == ("threads" if gpu else "processes")
        cpu_net = BatchSettings(mode="auto", engine="siggraph17", device="cpu")
        assert choose_pool("auto", cpu_net, 2, many) == "processes"
        assert choose_pool("threads", prop, 2, many) == "threads"
        assert choose_pool("processes", prop, 2, few) == "processes"
        assert choose_pool("processes", prop, 2, many, runtime=object()) == "threads"   # the app's runtime
    with pytest.raises(BatchError, match="auto, threads or processes"):
        choose_pool("fibres", prop, 2, many)


def test_jobs_auto_takes_the_cores_up_to_the_memory_and_one_for_a_gpu(monkeypatch):
    """--jobs auto (the CLI's default): one worker per core this process may use, at most
    AUTO_JOBS_MAX and one per WORKER_MEMORY of available memory; one where a network may run
    on a GPU (one runtime feeds it); a runtime handed in (the app's) keeps one."""
    from colorstudio.core.batch import run
    prop = BatchSettings(mode="hints", engine="propagation")
    net = BatchSettings(mode="auto", engine="siggraph17")
    monkeypatch.setattr(run, "gpu_may_be_used", lambda device: False)
    gib = run.WORKER_MEMORY
    for cores, memory, want in ((2, 20 * gib, 2), (16, 64 * gib, run.AUTO_JOBS_MAX), (16, 3 * gib, 3),
                                (4, gib // 2, 1), (6, None, 6), (1, 20 * gib, 1)):
        monkeypatch.setattr(run, "usable_cores", lambda n=cores: n)
        monkeypatch.setattr(run, "available_memory", lambda m=memory: m)
        assert run.default_jobs(prop) == want, (cores, memory)
        assert run.default_jobs(net) == want, "a network on the CPU counts like any engine"
    monkeypatch.setattr(run, "gpu_may_be_used", lambda device: device != "cpu")
    monkeypatch.setattr(run, "usable_cores", lambda: 4)
    monkeypatch.setattr(run, "available_memory", lambda: 20 * gib)
    assert run.default_jobs(net) == 1
    assert run.default_jobs(BatchSettings(mode="document")) == 1      # a document's network may use it
    assert run.default_jobs(prop) == 4                                 # the weight-free engine: the cores
    assert run.default_jobs(BatchSettings(mode="auto", engine="siggraph17", device="cpu")) == 4
    # What this machine says is a real figure: a whole number of at least one.
    assert run.available_memory() is None or run.available_memory() > 0
    from colorstudio.core import machine
    if hasattr(os, "sched_getaffinity"):
        assert machine.usable_cores() == len(os.sched_getaffinity(0))   # a container's share, not the host's


def test_an_automatic_pool_over_the_threshold_colorizes_on_worker_processes(tree, monkeypatch, worker_engines):
    from colorstudio.core.batch import run
    built = worker_engines
    monkeypatch.setattr(run, "gpu_may_be_used", lambda device: False)
    monkeypatch.setattr(run, "AUTO_PROCESSES_FROM", 3)
    summary, recs = batch(tree, jobs=2)
    assert summary.pool == "processes" and built and os.getpid() not in built
    assert all(recs[rel]["status"] == "done" for rel in tree["documented"])


def test_the_gpu_probe_never_imports_torch_and_says_no_for_the_cpu(monkeypatch):
    from colorstudio.core.batch.run import gpu_may_be_used
    assert gpu_may_be_used("cpu") is False
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "torch" else object())
    assert gpu_may_be_used("auto") is False      # no torch: no network can run at all
    code = ("import sys; from colorstudio.core.batch.run import gpu_may_be_used; gpu_may_be_used('auto'); "
            "print('torch' in sys.modules)")
    import subprocess
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_a_worker_process_that_dies_fails_its_photo_and_the_batch_goes_on(tree, tmp_path, monkeypatch):
    """The system's out-of-memory killer takes a worker: that photo fails with a sentence,
    a fresh pool does the rest, and a --retry-failed run completes the set."""
    from colorstudio.core.batch import processes
    victim = tree["documented"][0]
    real = processes._photo
    monkeypatch.setattr(processes, "_photo", _die_on(victim))
    summary, recs = batch(tree, jobs=2, pool="processes")
    assert recs[victim]["status"] == "failed" and "worker process" in recs[victim]["error"]
    others = [rel for rel in tree["documented"] if rel != victim]
    assert all(recs[rel]["status"] in ("done", "failed") for rel in others)
    monkeypatch.setattr(processes, "_photo", real)
    summary, recs = batch(tree, jobs=2, pool="processes", retry_failed=True)
    assert all(row["status"] == "done" for rel, row in manifest_rows(tree["out"]).items()
               if rel in tree["documented"])


class _die_on:
    """A picklable stand-in for the worker's step that kills its process on one photo."""

    def __init__(self, rel):
        self.rel = rel

    def __call__(self, task):
        from colorstudio.core.batch import processes   # in the worker: the real step
        if task.rel == self.rel:
            os._exit(9)
        return processes._photo(task)


def test_a_faster_compression_redoes_the_photos_with_the_same_pixels(tree, png_raw):
    """--compression changes the output's bytes (so it is a setting of the manifest), never its pixels."""
    batch(tree)
    before = {rel: _pixels(tree["out"] / rel, png_raw) for rel in tree["documented"]}
    sizes = {rel: (tree["out"] / rel).stat().st_size for rel in tree["documented"]}
    summary, recs = batch(tree, compress_level=1)
    assert all(recs[rel]["status"] == "done" and not recs[rel].get("up_to_date") for rel in tree["documented"])
    for rel in tree["documented"]:
        np.testing.assert_array_equal(_pixels(tree["out"] / rel, png_raw), before[rel], err_msg=rel)
    lossless = [rel for rel in tree["documented"] if not rel.endswith(".jpg")]
    assert any((tree["out"] / rel).stat().st_size != sizes[rel] for rel in lossless)
    summary, recs = batch(tree, compress_level=1)
    assert all(recs[rel].get("up_to_date") for rel in tree["documented"])
    with pytest.raises(BatchError, match="--compression"):
        batch(tree, compress_level=12)


def test_a_worker_process_shares_the_cores_out_among_its_native_thread_pools(monkeypatch):
    """Workers get cores // jobs BLAS/OpenMP threads, through the environment for libraries loaded
    later and threadpoolctl for those loaded already; a user's own setting is kept."""
    from colorstudio.core.batch import processes
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(processes, "usable_cores", lambda: 8)
    assert processes.ProcessPipeline(settings({"autosave": "x"}), jobs=4).threads_per_worker == 2
    assert processes.ProcessPipeline(settings({"autosave": "x"}), jobs=16).threads_per_worker == 1
    for name in processes._THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    before = threadpoolctl.threadpool_info()
    try:
        processes._limit_native_threads(1)
        assert os.environ["OMP_NUM_THREADS"] == "1" and os.environ["OPENBLAS_NUM_THREADS"] == "1"
        assert os.environ["MKL_NUM_THREADS"] == "3"
        assert all(pool["num_threads"] == 1 for pool in threadpoolctl.threadpool_info())
    finally:
        threadpoolctl.threadpool_limits({p["prefix"]: p["num_threads"] for p in before})


def test_compute_threads_share_the_cores_out_for_the_batch_only(tree, monkeypatch):
    """With --jobs N on threads, every BLAS/OpenMP pool has cores // N threads while the batch
    runs (seen from its records), also one the batch loads (through the environment, which is
    as before once it has ended), and the pools from before get their sizes back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from colorstudio.core.batch import run as run_module
    monkeypatch.setattr(run_module, "usable_cores", lambda: 8)
    def sizes() -> dict:
        return {p["filepath"]: p["num_threads"] for p in threadpoolctl.threadpool_info()}

    original = sizes()
    env_before = {k for k in os.environ}
    seen = []
    try:
        threadpoolctl.threadpool_limits(3)      # the sizes before the batch, not 1 by chance
        before = sizes()
        with threadpoolctl.threadpool_limits(1):
            expected = sizes()                  # 8 cores // 8 jobs
        run_batch(tree["src"], tree["out"], settings(tree), recursive=True, jobs=8,
                  on_record=lambda r: seen.append(sizes()))
        after = sizes()
    finally:
        threadpoolctl.threadpool_limits(original)
    assert seen and expected != before
    for s in seen:
        assert {p: n for p, n in s.items() if p in expected} == expected
        assert all(n == 1 for p, n in s.items() if p not in expected)       # loaded by the batch
    assert {p: n for p, n in after.items() if p in before} == before
    assert all(name not in os.environ or name in env_before for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"))


def test_a_batch_loads_the_compiled_composer_only_when_it_has_photos_to_colorize(tree, tmp_path):
    """In a fresh process: a batch whose photos are all up to date never imports numba; one
    that colorizes loads the compiled composer (as its first photo is decoded) and its
    outputs are the numpy composition's, pixel for pixel."""
    pytest.importorskip("numba")
    import shutil
    good = tmp_path / "good"            # the documented photos alone: no file that fails every run
    for rel in tree["documented"]:
        (good / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tree["src"] / rel, good / rel)
    tree = {**tree, "src": good}
    run_batch(tree["src"], tree["out"], settings(tree), recursive=True)
    numpy_out = tmp_path / "numpy-out"
    code = f"""
import json, os, sys
from pathlib import Path
import numpy as np
from colorstudio.core.batch import BatchSettings, run_batch
from colorstudio.core import compose
from colorstudio.core.image import open_image
s = BatchSettings(mode="hints", autosave={str(tree["autosave"])!r})
src = Path({str(tree["src"])!r})
again = run_batch(src, Path({str(tree["out"])!r}), s, recursive=True)
idle = "numba" in sys.modules
fresh = run_batch(src, Path({str(numpy_out)!r}), s, recursive=True)
loaded = bool(compose._JIT)
print(json.dumps({{"idle": idle, "loaded": loaded, "again": again.counts, "fresh": fresh.counts}}))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    import subprocess
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["idle"] is False and got["loaded"] is True
    assert got["again"]["done"] == 0 and got["again"]["up_to_date"] == len(tree["documented"])
    assert got["fresh"]["done"] == len(tree["documented"])
    # The compiled composer's outputs (the fresh run) against this process's numpy ones.
    env_no_jit = {**env, "COLORSTUDIO_NO_JIT": "1"}
    ref = tmp_path / "ref-out"
    proc = subprocess.run([sys.executable, "-c", code.replace(str(numpy_out), str(ref))], capture_output=True,
                          text=True, timeout=600, env=env_no_jit)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["loaded"] is False
    outs = sorted(p.relative_to(ref) for p in ref.rglob("*")
                  if p.is_file() and p.suffix.lower() in (".png", ".tif", ".tiff", ".jpg", ".jpeg"))
    assert outs
    assert {rel.suffix.lower() for rel in outs} >= {".png", ".tif", ".jpg"}
    for rel in outs:
        assert np.array_equal(_decoded(numpy_out / rel), _decoded(ref / rel)), rel


def _decoded(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile
        return tifffile.imread(path)
    with Image.open(path) as im:
        return np.asarray(im)


def test_the_summary_says_how_many_workers_ran_the_photos(tmp_path):
    from colorstudio.core.batch.run import Summary
    s = Summary(tmp_path / "m.sqlite", pool="processes", jobs=4)
    s.counts.update(done=3, failed=1)
    assert "3 colorized" in s.sentence() and "1 failed in 0.0 s on 4 worker processes;" in s.sentence()
    assert "on 2 Ray actors" in Summary(tmp_path / "m", counts=dict(s.counts), pool="ray", jobs=2).sentence()
    # One worker, or nothing colorized (all up to date): nothing to say about workers.
    assert " on " not in Summary(tmp_path / "m", counts=dict(s.counts), pool="threads", jobs=1).sentence()
    idle = Summary(tmp_path / "m", pool="threads", jobs=2)
    idle.counts["up_to_date"] = 5
    assert " on " not in idle.sentence().split(";")[0]
