"""The one worker mechanism (gui/workers.py): every background job of the app runs on it.

Jobs here are gated fakes: they wait on threading.Events the test controls, so events are
ordered by the test, never by sleeps.
"""
from __future__ import annotations

import gc
import threading

import pytest
from PySide6.QtCore import QThread, Qt

from colorstudio.core.jobs import Cancelled
from colorstudio.gui.compute import ComputeThread
from colorstudio.gui.workers import Latest, Worker, WorkerThread, current_worker

from .fakes import edge_photo
from .test_canvas_editing import at, wait_full_preview

WAIT_MS = 20000


class Gated:
    """A job that reports, then waits at a gate until the test opens it or it is told to stop."""

    def __init__(self, result="done", honours_stop=True, fail: BaseException = None):
        self.result, self.honours_stop, self.fail = result, honours_stop, fail
        self.started = threading.Event()
        self.release = threading.Event()
        self.stopped = threading.Event()
        self.thread = None

    def run(self, runtime, progress, should_stop):
        self.thread = QThread.currentThread()
        progress(1, 2)
        progress(None, None, note=("halfway", 1))
        self.started.set()
        while not self.release.wait(0.01):
            if self.honours_stop and should_stop():
                self.stopped.set()
                raise Cancelled()
        if self.fail is not None:
            raise self.fail
        progress(2, 2)
        return self.result


def no_destroyed_thread_warning(qtlog) -> None:
    bad = [r.message for r in qtlog.records if "Destroyed while thread" in r.message]
    assert not bad, bad


def test_reports_arrive_on_the_gui_thread_in_order_and_the_job_runs_on_a_worker_thread(qtbot):
    job = Gated("the result")
    seen = []

    def record(name):
        return lambda *args: seen.append((name, args, threading.current_thread() is threading.main_thread()))

    w = Worker(job).on(progressed=record("progressed"), noted=record("noted"), succeeded=record("succeeded"),
                       failed=record("failed"), cancelled=record("cancelled"), finished=record("finished"))
    w.start()
    assert job.started.wait(10)
    assert w in Worker.live() and w.isRunning()
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=WAIT_MS)   # reports arrive while the job still runs
    assert not w.done
    with qtbot.waitSignal(w.finished, timeout=WAIT_MS):
        job.release.set()
    assert [s[0] for s in seen] == ["progressed", "noted", "progressed", "succeeded", "finished"]
    assert seen[0][1] == (1, 2) and seen[1][1] == (("halfway", 1),) and seen[2][1] == (2, 2)
    assert seen[3][1] == ("the result",)
    assert all(on_gui for _, _, on_gui in seen), "every report is delivered on the GUI thread"
    assert isinstance(job.thread, WorkerThread) and not isinstance(job.thread, ComputeThread)
    assert job.thread is not QThread.currentThread()
    assert w.done and not w.isRunning()
    qtbot.waitUntil(lambda: w not in Worker.live(), timeout=WAIT_MS)   # let go of once its thread ended


def test_cancel_stops_a_gated_job(qtbot):
    job = Gated()
    outcomes = []
    w = Worker(job).on(succeeded=lambda out: outcomes.append("succeeded"), failed=lambda t: outcomes.append(t),
                       cancelled=lambda: outcomes.append("cancelled"))
    w.start()
    assert job.started.wait(10)
    with qtbot.waitSignal(w.finished, timeout=WAIT_MS):
        w.cancel()
        assert w.cancelling
    assert job.stopped.is_set() and not job.release.is_set()
    assert outcomes == ["cancelled"]


@pytest.mark.parametrize("exc, sentence", [
    (TypeError("bad operand"), "the computation failed: TypeError: bad operand"),
    (OSError("the disk is full"), "the computation failed: OSError: the disk is full"),
])
def test_a_failure_is_one_sentence(qtbot, exc, sentence):
    job = Gated(fail=exc)
    job.release.set()
    said = []
    w = Worker(job).on(failed=said.append)
    with qtbot.waitSignal(w.finished, timeout=WAIT_MS):
        w.start()
    assert said == [sentence]


def test_a_job_says_its_own_failures(qtbot):
    class Says(Gated):
        def describe_error(self, exc):
            return f"the gated job could not go on ({exc})"

    job = Says(fail=ValueError("no"))
    job.release.set()
    said = []
    w = Worker(job).on(failed=said.append)
    with qtbot.waitSignal(w.finished, timeout=WAIT_MS):
        w.start()
    assert said == ["the gated job could not go on (no)"]


def test_the_latest_job_wins_and_a_superseded_one_never_reports(qtbot):
    latest = Latest()
    a = Gated("A", honours_stop=False)    # A does not notice it was told to stop: it returns anyway
    b = Gated("B")
    b.release.set()
    results = []
    first = latest.start(a, succeeded=results.append, noted=results.append)
    assert a.started.wait(10)
    with qtbot.waitSignal(latest.start(b, succeeded=results.append).succeeded, timeout=WAIT_MS):
        pass
    assert first.cancelling and first.detached, "starting B told A to stop"
    assert latest.running, "A still runs (held at its gate)"
    a.release.set()
    qtbot.waitUntil(lambda: first.done and latest.current is None, timeout=WAIT_MS)
    assert results == ["B"], "nothing of A (its note, its result) reached the GUI"
    assert not latest.running


def test_shutdown_cancels_and_waits_and_a_dropped_worker_ends_cleanly(qtbot, qtlog):
    latest = Latest()
    held = Gated()
    latest.start(held)
    dropped = Gated(honours_stop=False)
    w = Worker(dropped).start()
    assert held.started.wait(10) and dropped.started.wait(10)
    assert latest.shutdown(WAIT_MS)          # cancels and waits: the held job stopped
    assert held.stopped.is_set() and not latest.running
    del w
    gc.collect()                             # nobody holds the second worker: the registry does
    dropped.release.set()
    qtbot.waitUntil(lambda: not Worker.live(), timeout=WAIT_MS)
    gc.collect()
    assert not WorkerThread.running_threads()
    no_destroyed_thread_warning(qtlog)


# -- the four kinds of background work of the app, each through the mechanism ---------------------

class HeldWork:
    """Replaces the heavy function a job drives with one held at a gate until the test opens it
    or the job's worker is told to stop (it then raises what the real function raises)."""

    def __init__(self, stop_error: type):
        self.stop_error = stop_error
        self.started = threading.Event()
        self.release = threading.Event()
        self.stopped = threading.Event()
        self.thread = None
        self.worker = None

    def hold(self, should_stop=None):
        self.thread = QThread.currentThread()
        self.worker = current_worker()
        should_stop = should_stop or self.worker.should_stop
        self.started.set()
        while not self.release.wait(0.01):
            if should_stop():
                self.stopped.set()
                raise self.stop_error()


def start_open(win, tmp_path, monkeypatch):
    from colorstudio.core import image
    held = HeldWork(Cancelled)
    real = image.open_image

    def open_image(path, **kwargs):
        if str(path).endswith("slow.png"):
            held.hold()
        return real(path, **kwargs)

    monkeypatch.setattr(image, "open_image", open_image)
    win.open_photo(edge_photo(tmp_path / "slow.png"), wait=False)
    return held, "OpenPhoto"


def start_install(win, tmp_path, monkeypatch):
    import colorstudio.models as models
    from colorstudio.models.errors import ModelCancelled
    held = HeldWork(ModelCancelled)

    def install(name, progress=None, should_stop=None, **kwargs):
        progress(1, 10)
        held.hold(should_stop)

    monkeypatch.setattr(models, "install", install)
    dlg = win.show_models("eccv16")
    assert dlg.selected_name() == "eccv16" and dlg.install_button.isEnabled()
    qtbot_click(dlg.install_button)
    return held, "InstallModel"


def start_batch(win, tmp_path, monkeypatch):
    import colorstudio.core.batch as batch
    held = HeldWork(Cancelled)

    def run_batch(source, output, settings, *, should_stop=None, on_start=None, **kwargs):
        on_start(1)
        held.hold(should_stop)

    monkeypatch.setattr(batch, "run_batch", run_batch)
    src = tmp_path / "src"
    src.mkdir()
    edge_photo(src / "p0.png")
    win.actions_by_name["batch"].trigger()
    dlg = win.batch_dialog
    dlg.source_edit.setText(str(src))
    dlg.output_edit.setText(str(tmp_path / "out"))
    qtbot_click(dlg.start_button)
    return held, "BatchJob"


def start_training(win, tmp_path, monkeypatch):
    import colorstudio.training.loop as loop
    held = HeldWork(Cancelled)

    def train(config, progress=None, should_stop=None, on_step=None, on_samples=None):
        held.hold(should_stop)

    monkeypatch.setattr(loop, "train", train)
    photos = tmp_path / "photos"
    photos.mkdir()
    win.actions_by_name["train"].trigger()
    dlg = win.train_dialog
    dlg.folder_edit.setText(str(photos))
    qtbot_click(dlg.start_button)
    return held, "TrainJob"


def qtbot_click(button) -> None:
    from PySide6.QtTest import QTest
    assert button.isEnabled(), button.objectName()
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


@pytest.mark.parametrize("start", [start_open, start_install, start_batch, start_training],
                         ids=["open a photo", "install a model", "batch", "training"])
def test_each_kind_runs_on_a_worker_previews_go_on_and_closing_stops_it(make_window, qtbot, qtlog, tmp_path,
                                                                         monkeypatch, start):
    win = make_window()
    assert win.open_photo(edge_photo(tmp_path / "edge.png"))
    held, kind = start(win, tmp_path, monkeypatch)
    assert held.started.wait(10)
    # The job runs on a worker thread of the one mechanism: not the GUI thread, not the compute thread.
    assert isinstance(held.thread, WorkerThread) and not isinstance(held.thread, ComputeThread)
    assert held.worker in Worker.live() and type(held.worker.job).__name__ == kind
    # A preview is served while the job is held at its gate.
    c = win.canvas
    result = wait_full_preview(qtbot, win, lambda: qtbot.mouseClick(c, Qt.MouseButton.LeftButton,
                                                                    pos=at(c, 40, 80)))
    assert result.rgb is not None
    assert held.worker.isRunning() and not held.release.is_set() and not held.stopped.is_set()
    # Closing the window tells the job to stop and waits for it: no thread is left running.
    win.close()
    assert held.stopped.is_set(), "the job was told to stop"
    assert not held.worker.isRunning()
    assert not WorkerThread.running_threads()
    qtbot.waitUntil(lambda: not Worker.live(), timeout=WAIT_MS)
    no_destroyed_thread_warning(qtlog)


def test_no_module_of_the_gui_makes_a_thread_of_its_own():
    """The rule this file tests: background work goes through gui/workers.py only."""
    import re
    from pathlib import Path

    import colorstudio.gui as gui
    offenders = []
    for path in sorted(Path(gui.__file__).parent.glob("*.py")):
        if path.name == "workers.py":
            continue
        text = path.read_text()
        if re.search(r"\bQThread\b|\bQThreadPool\b|\bQRunnable\b|threading\.Thread\b", text):
            offenders.append(path.name)
    assert offenders == []


def test_a_thinned_report_is_still_shown_while_the_job_is_stalled(qtbot):
    """Reports closer together than the thinning interval: the last one held back reaches the
    GUI while the job waits at its gate (a stalled download must not sit below what arrived)."""

    class Stalls:
        def __init__(self):
            self.release = threading.Event()

        def run(self, runtime, progress, should_stop):
            for done in range(1, 8):
                progress(done, 10)          # all within the interval of the first
            while not self.release.wait(0.01):
                if should_stop():
                    raise Cancelled()
            return "done"

    job = Stalls()
    seen = []
    w = Worker(job, progress_interval=0.2).on(progressed=lambda d, t: seen.append((d, t)))
    w.start()
    try:
        qtbot.waitUntil(lambda: bool(seen) and seen[-1] == (7, 10), timeout=WAIT_MS)
        assert not job.release.is_set()
        assert seen[0] == (1, 10) and len(seen) == 2     # the first at once, the last held one after
    finally:
        with qtbot.waitSignal(w.finished, timeout=WAIT_MS):
            job.release.set()
