"""The latest-wins policy, driven by a real thread and a gated fake engine (no Qt)."""
from __future__ import annotations

import threading

import pytest

from colorstudio.core.scheduler import JOB_LANE, Request, Scheduler, SchedulerClosed, serve

TIMEOUT = 5.0


class Stopped(Exception):
    pass


class GatedEngine:
    """Computes requests on the serving thread; a request named in ``gates`` waits for its gate."""

    def __init__(self):
        self.computed: list[str] = []
        self.started: dict[str, threading.Event] = {}
        self.gates: dict[str, threading.Event] = {}
        self.delivered: list[tuple[Request, str]] = []
        self.failed: list[tuple[Request, BaseException]] = []
        self.dropped: list[Request] = []
        self.done = threading.Event()
        self._lock = threading.Lock()

    def gate(self, name: str) -> threading.Event:
        self.started[name] = threading.Event()
        self.gates[name] = threading.Event()
        return self.gates[name]

    def compute(self, req: Request, should_stop, yield_point=lambda: None) -> str:
        name = req.payload
        if name in self.started:
            self.started[name].set()
        if name.startswith("long"):
            # A long job: waits at its gate between steps, yielding to previews at each step.
            for _step in range(3):
                if name in self.gates:
                    assert self.gates[name].wait(TIMEOUT)
                yield_point()
        elif name in self.gates:
            assert self.gates[name].wait(TIMEOUT)
            if name.startswith("stoppable") and should_stop():
                raise Stopped()
        if name == "boom":
            raise RuntimeError("the engine fell over")
        with self._lock:
            self.computed.append(name)
        return f"result of {name}"

    def deliver(self, req, out):
        with self._lock:
            self.delivered.append((req, out))

    def fail(self, req, exc):
        with self._lock:
            self.failed.append((req, exc))

    def drop(self, req):
        with self._lock:
            self.dropped.append(req)


@pytest.fixture
def running():
    """A scheduler served by a real thread; closed and joined after the test."""
    sched = Scheduler(lanes=("preview", "suggest"))
    eng = GatedEngine()
    thread = threading.Thread(target=serve, args=(sched, eng.compute, eng.deliver, eng.fail),
                              kwargs={"cancelled": (Stopped,), "dropped": eng.drop}, daemon=True)
    thread.start()
    yield sched, eng
    for gate in eng.gates.values():
        gate.set()
    sched.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_a_burst_while_busy_computes_only_the_newest(running):
    sched, eng = running
    gate = eng.gate("r1")
    r1 = sched.submit("preview", "r1")
    assert eng.started["r1"].wait(TIMEOUT)
    r2 = sched.submit("preview", "r2")
    r3 = sched.submit("preview", "r3")
    assert sched.pending("preview") is r3
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == ["r1", "r3"]
    assert [r for r, _ in eng.delivered] == [r1, r3]
    assert r2.generation < r3.generation
    # The GUI side accepts both in order: each is newer than what was shown.
    assert sched.accept(r1)
    assert sched.accept(r3)


def test_a_result_older_than_the_one_shown_is_dropped(running):
    sched, eng = running
    r1 = sched.submit("preview", "r1")
    assert sched.wait_idle(TIMEOUT)
    r2 = sched.submit("preview", "r2")
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == ["r1", "r2"]
    assert sched.accept(r2)
    assert not sched.accept(r1)
    assert not sched.accept(r2), "the same result is not shown twice"


def test_a_photo_switch_while_r1_runs_drops_r1s_result(running):
    sched, eng = running
    gate = eng.gate("r1")
    r1 = sched.submit("preview", "r1")
    assert eng.started["r1"].wait(TIMEOUT)
    sched.submit("preview", "r2")
    sched.new_epoch()
    assert sched.should_stop(r1)
    assert sched.pending("preview") is None, "the old photo's pending request goes"
    r3 = sched.submit("preview", "r3")
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert "r2" not in eng.computed
    assert eng.computed == ["r1", "r3"]
    assert not sched.accept(r1)
    assert sched.accept(r3)
    assert r3.epoch == r1.epoch + 1


def test_work_that_notices_it_should_stop_is_dropped_quietly(running):
    sched, eng = running
    gate = eng.gate("stoppable")
    r1 = sched.submit("preview", "stoppable")
    assert eng.started["stoppable"].wait(TIMEOUT)
    sched.new_epoch()
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == [] and eng.delivered == [] and eng.failed == []
    assert eng.dropped == [r1]


def test_lanes_coalesce_separately_and_jobs_go_first(running):
    sched, eng = running
    gate = eng.gate("r1")
    sched.submit("preview", "r1")
    assert eng.started["r1"].wait(TIMEOUT)
    sched.submit("suggest", "s1")
    sched.submit("preview", "p2")
    j1 = sched.submit_job("export-a")
    j2 = sched.submit_job("export-b")
    assert j1.lane == JOB_LANE
    sched.new_epoch()  # jobs carry their own photo: a photo switch keeps them
    sched.submit("preview", "p3")
    sched.submit("suggest", "s2")
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == ["r1", "export-a", "export-b", "p3", "s2"]
    assert sched.accept(j1) and sched.accept(j2)


def test_a_cancelled_job_never_runs_and_a_running_one_is_told_to_stop(running):
    sched, eng = running
    gate = eng.gate("stoppable-job")
    running_job = sched.submit_job("stoppable-job")
    assert eng.started["stoppable-job"].wait(TIMEOUT)
    waiting_job = sched.submit_job("never")
    sched.cancel(waiting_job)
    assert not sched.should_stop(running_job)
    sched.cancel(running_job)
    assert sched.should_stop(running_job)
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == []
    assert eng.dropped == [running_job]


def test_a_cancelled_preview_result_is_not_shown(running):
    sched, eng = running
    r1 = sched.submit("preview", "r1")
    assert sched.wait_idle(TIMEOUT)
    sched.cancel(r1)
    assert not sched.accept(r1)


def test_an_engine_failure_is_reported_and_the_thread_lives_on(running):
    sched, eng = running
    bad = sched.submit("preview", "boom")
    assert sched.wait_idle(TIMEOUT)
    assert [r for r, _ in eng.failed] == [bad]
    assert "fell over" in str(eng.failed[0][1])
    sched.submit("preview", "after")
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == ["after"]


def test_close_wakes_the_thread_and_refuses_new_work():
    sched = Scheduler()
    eng = GatedEngine()
    thread = threading.Thread(target=serve, args=(sched, eng.compute, eng.deliver, eng.fail), daemon=True)
    thread.start()
    sched.close()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    with pytest.raises(SchedulerClosed, match="shut down"):
        sched.submit("preview", "late")
    with pytest.raises(SchedulerClosed):
        sched.submit_job("late")


def test_unknown_lane_is_a_clear_error():
    sched = Scheduler()
    with pytest.raises(ValueError, match="unknown lane 'nope'"):
        sched.submit("nope")
    with pytest.raises(ValueError, match="reserved"):
        Scheduler(lanes=(JOB_LANE,))


def test_requests_are_frozen_snapshots():
    sched = Scheduler()
    req = sched.submit("preview", ("hints", 1))
    with pytest.raises(Exception):
        req.generation = 99  # type: ignore[misc]
    assert sched.take(timeout=0.1) is req
    assert sched.in_flight is req
    assert sched.take(timeout=0.01) is None  # idle: a timeout, not a hang


def test_a_long_job_lets_previews_run_between_its_steps(running):
    sched, eng = running
    gate = eng.gate("long export")
    job = sched.submit_job("long export")
    assert eng.started["long export"].wait(TIMEOUT)
    # While the export waits between steps, the user edits twice: the newest preview runs
    # inside the export (at its next step), before the export has finished.
    sched.submit("preview", "p1")
    p2 = sched.submit("preview", "p2")
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed == ["p2", "long export"]
    assert [r for r, _ in eng.delivered] == [p2, job]


def test_previews_inside_a_long_job_do_not_nest(running):
    sched, eng = running
    gate = eng.gate("long a")
    sched.submit_job("long a")
    assert eng.started["long a"].wait(TIMEOUT)
    sched.submit("preview", "long preview")   # a preview that itself yields: it must not recurse
    sched.submit("suggest", "s1")
    gate.set()
    assert sched.wait_idle(TIMEOUT)
    assert eng.computed[-1] == "long a"
    assert sorted(eng.computed[:-1]) == ["long preview", "s1"]
    assert sched.in_flight is None
