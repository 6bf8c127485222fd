"""The app's long jobs as plain Python (no Qt): opening a photo, installing a model, a batch
run, a training. Each is ``run(runtime, progress, should_stop)``; what it reports as it goes
arrives as ``progress(done, total, note=...)``; a stop request ends it with Cancelled."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from colorstudio.core.jobs import Cancelled, LoadedPhoto, OpenPhoto


class Reports:
    """A progress callback that keeps what it is told."""

    def __init__(self):
        self.counts, self.notes = [], []

    def __call__(self, done=None, total=0, note=None):
        if note is not None:
            self.notes.append(note)
        if done is not None:
            self.counts.append((done, total))


def grey(path, value=90, w=64, h=40):
    a = np.full((h, w), value, np.uint8)
    a[:, w // 2:] = 255 - value
    Image.fromarray(a, "L").save(path)
    return path


def test_open_photo_decodes_and_shrinks_for_display(tmp_path):
    out = OpenPhoto(grey(tmp_path / "a.png", w=200, h=100), display_side=50).run()
    assert isinstance(out, LoadedPhoto) and out.photo.size == (200, 100)
    assert out.display.shape == (25, 50) and out.display.dtype == np.uint8


def test_open_photo_stops_when_superseded_and_says_why_it_failed(tmp_path):
    with pytest.raises(Cancelled):
        OpenPhoto(grey(tmp_path / "a.png"), 50).run(None, None, lambda: True)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a photo")
    job = OpenPhoto(bad, 50)
    with pytest.raises(Exception) as info:
        job.run()
    text = job.describe_error(info.value)
    assert "broken.png" in text and "\n" not in text
    assert job.describe_error(KeyError("x")) == "broken.png could not be opened ('x')"


def test_install_model_turns_a_stopped_download_into_cancelled(monkeypatch):
    import colorstudio.models as models
    from colorstudio.models.errors import ModelCancelled, ModelError
    from colorstudio.models.jobs import InstallModel
    seen = []

    def install(name, progress=None, should_stop=None):
        progress(5, 10)
        seen.append(name)
        if should_stop():
            raise ModelCancelled()
        raise ModelError("the server said no; try again later")

    monkeypatch.setattr(models, "install", install)
    reports = Reports()
    with pytest.raises(Cancelled):
        InstallModel("eccv16").run(None, reports, lambda: True)
    assert seen == ["eccv16"] and reports.counts == [(5, 10)]
    job = InstallModel("eccv16")
    with pytest.raises(ModelError) as info:
        job.run(None, reports, lambda: False)
    assert job.describe_error(info.value) == "the server said no; try again later"
    assert job.kind == "download" and InstallModel("eccv16", "/x.pth").kind == "import"
    assert job.describe_error(TypeError("t")) == "the download of eccv16 failed: TypeError: t"


@pytest.fixture
def folder(tmp_path):
    from colorstudio.core.document import AutosaveStore, Document, PhotoRef
    from colorstudio.core.hints import Hints, PointHint
    from colorstudio.core.image import open_image
    src = tmp_path / "src"
    src.mkdir()
    store = AutosaveStore(tmp_path / "autosave")
    for i in range(2):
        p = grey(src / f"p{i}.png", 40 + 40 * i)
        sha = open_image(p).content_hash
        store.save(Document(hints=Hints(points=(PointHint(4, 4, "#aa3322", 3),)),
                            photo=PhotoRef(str(p), sha, 64, 40)))
    (src / "notes.txt").write_text("not a photo")
    return {"src": src, "out": tmp_path / "out", "autosave": str(tmp_path / "autosave")}


def batch_job(folder, **kw):
    from colorstudio.core.batch import BatchSettings
    from colorstudio.core.batch.jobs import BatchJob
    from colorstudio.core.runtime import Runtime
    return BatchJob(str(folder["src"]), str(folder["out"]), BatchSettings(mode="document", autosave=folder["autosave"]),
                    runtime_factory=Runtime, **kw)


def test_a_batch_reports_the_walk_the_total_and_each_record_as_notes(folder):
    from colorstudio.core.batch.jobs import Listed, Started
    waits = []
    reports = Reports()
    summary = batch_job(folder, wait=lambda: waits.append(1) and False).run(None, reports, lambda: False)
    listed = reports.notes[0]
    assert isinstance(listed, Listed)
    assert sorted(rel for rel, _path, _skip in listed.entries) == ["notes.txt", "p0.png", "p1.png"]
    assert isinstance(reports.notes[1], Started) and reports.notes[1].total == 2
    records = {r["source"]: r["status"] for r in reports.notes[2:]}
    assert records == {"p0.png": "done", "p1.png": "done", "notes.txt": "skipped"}
    assert summary.counts["done"] == 2 and (folder["out"] / "p0.png").is_file()
    assert len(waits) >= 2, "the gate was asked before each photo's colorizing"


def test_a_batch_told_to_stop_colorizes_nothing_and_one_photo_can_be_rendered_again(folder):
    reports = Reports()
    summary = batch_job(folder).run(None, reports, lambda: True)
    assert summary.counts["done"] == 0 and not (folder["out"] / "p0.png").exists()
    rec = batch_job(folder, only="p1.png").run(None, reports, lambda: False)
    assert rec["source"] == "p1.png" and rec["status"] == "done" and reports.notes[-1] == rec
    assert (folder["out"] / "p1.png").is_file() and not (folder["out"] / "p0.png").exists()


def test_a_training_sends_every_loss_once_in_order_and_its_samples(monkeypatch):
    import colorstudio.training.loop as loop
    from colorstudio.training.job import Samples, Steps, TrainJob

    def train(config, progress=None, should_stop=None, on_step=None, on_samples=None):
        for step in range(1, 41):
            progress(step, 40)
            on_step(loop.StepReport(step, 40, {"loss": 1.0 / step}, 100.0, (40 - step) / 100))
            if step % 20 == 0:
                on_samples(step, ["crop"])
        return "result"

    monkeypatch.setattr(loop, "train", train)
    import colorstudio.training.job as job_module

    class Clock:   # time stands still: after the first, only the last step's note is due
        @staticmethod
        def monotonic():
            return 1000.0

    monkeypatch.setattr(job_module, "time", Clock)

    class Config:
        resume, steps = False, 40

    reports = Reports()
    assert TrainJob(Config()).run(None, reports, lambda: False) == "result"
    steps = [n for n in reports.notes if isinstance(n, Steps)]
    assert [s for n in steps for s, _ in n.points] == list(range(1, 41))
    assert [n.step for n in steps] == [1, 40], "thinned: the points in between travel together"
    assert [(n.step, n.samples) for n in reports.notes if isinstance(n, Samples)] == [(20, ["crop"]), (40, ["crop"])]
    assert reports.counts[-1] == (40, 40)
