"""The latest-wins scheduling policy of the one compute thread, in plain Python (no Qt).

The GUI asks for previews far faster than an engine can answer while the user drags. The
policy keeps that cheap and correct:

- one request in flight at a time (one compute thread owns the engines and the GPU);
- per *lane* (e.g. "preview", "suggest") one pending slot that a newer request overwrites,
  so a burst of edits costs at most one extra computation, never a queue of stale ones;
- every request is a frozen snapshot carrying a generation number and the *epoch* (which
  photo and model it was made for); a result is shown only if it is newer than what is shown
  and belongs to the current epoch, so a result for a previous photo can never reach the screen;
- jobs (exports) are never coalesced: they wait in a first-in first-out queue and run before
  any preview, and each can be cancelled on its own;
- a long job never holds up previews: between its steps (each time it reports progress) the
  previews and suggestions waiting meanwhile run first, on the same thread, so the user's
  edits are answered while an export or an install is under way.

The Qt adapter (``colorstudio.gui.compute``) runs :func:`serve` on its thread and checks
:meth:`Scheduler.accept` on the GUI thread when a result arrives.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional

JOB_LANE = "job"


@dataclass(frozen=True)
class Request:
    """One unit of work: an immutable snapshot of what to compute.

    ``generation`` grows with every request made (across all lanes); ``epoch`` names the
    photo/model the request was made for. ``payload`` must not be mutated by anyone.
    """

    lane: str
    generation: int
    epoch: int
    payload: Any = None


class SchedulerClosed(RuntimeError):
    """A request was submitted to a scheduler that has been shut down."""


class Scheduler:
    """Thread-safe latest-wins policy: one in flight, one pending slot per lane, a job queue.

    ``lanes`` lists the coalescing lanes in priority order (first is served first when
    several have a pending request). Jobs always go first.
    """

    def __init__(self, lanes: Iterable[str] = ("preview",)):
        self._lanes = tuple(lanes)
        if JOB_LANE in self._lanes:
            raise ValueError(f"{JOB_LANE!r} is reserved for the job queue")
        if not self._lanes:
            raise ValueError("a scheduler needs at least one lane")
        self._cond = threading.Condition()
        self._pending: dict[str, Optional[Request]] = {lane: None for lane in self._lanes}
        self._jobs: collections.deque[Request] = collections.deque()
        self._shown: dict[str, int] = {lane: -1 for lane in self._lanes}
        self._cancelled: set[int] = set()
        self._in_flight: list[Request] = []   # a stack: previews run inside a long job's steps
        self._generation = 0
        self._epoch = 0
        self._closed = False

    # -- GUI side ------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        with self._cond:
            return self._epoch

    @property
    def lanes(self) -> tuple[str, ...]:
        return self._lanes

    def new_epoch(self) -> int:
        """Start a new epoch (another photo or model): pending requests of the old one go.

        A request already in flight keeps running until it notices :meth:`should_stop`,
        and its result will not be accepted. Queued jobs stay: they carry their own photo.
        """
        with self._cond:
            self._epoch += 1
            for lane in self._lanes:
                self._pending[lane] = None
            self._cond.notify_all()
            return self._epoch

    def submit(self, lane: str, payload: Any = None) -> Request:
        """Ask for work in ``lane``; a request still waiting there is replaced (never computed)."""
        with self._cond:
            if self._closed:
                raise SchedulerClosed("the compute thread has been shut down")
            if lane not in self._pending:
                raise ValueError(f"unknown lane {lane!r}; lanes are {', '.join(self._lanes)}")
            self._generation += 1
            req = Request(lane, self._generation, self._epoch, payload)
            self._pending[lane] = req
            self._cond.notify_all()
            return req

    def submit_job(self, payload: Any = None) -> Request:
        """Queue a job (e.g. an export); jobs are never coalesced or dropped by epochs."""
        with self._cond:
            if self._closed:
                raise SchedulerClosed("the compute thread has been shut down")
            self._generation += 1
            req = Request(JOB_LANE, self._generation, self._epoch, payload)
            self._jobs.append(req)
            self._cond.notify_all()
            return req

    def cancel(self, request: Request) -> None:
        """Cancel one request: dropped if waiting, told to stop if running."""
        with self._cond:
            if request.lane == JOB_LANE and request in self._jobs:
                self._jobs.remove(request)
            elif request.lane != JOB_LANE and self._pending.get(request.lane) is request:
                self._pending[request.lane] = None
            else:
                # Running or finished but not yet received: its result must not be shown.
                self._cancelled.add(request.generation)
            self._cond.notify_all()

    def accept(self, request: Request) -> bool:
        """Whether a finished request's result may be shown; call on the receiving side.

        A result is shown when it belongs to the current epoch, was not cancelled and is
        newer than the last result shown in its lane. Accepting it makes it the one shown.
        """
        with self._cond:
            if request.generation in self._cancelled:
                self._cancelled.discard(request.generation)
                return False
            if request.lane == JOB_LANE:
                return True
            if request.epoch != self._epoch:
                return False
            if request.generation <= self._shown.get(request.lane, -1):
                return False
            self._shown[request.lane] = request.generation
            return True

    # -- compute side --------------------------------------------------------------------
    def take(self, timeout: Optional[float] = None) -> Optional[Request]:
        """Block until there is work, mark it in flight and return it.

        Returns None when the scheduler is closed, or when ``timeout`` seconds pass idle.
        """
        with self._cond:
            while True:
                if self._closed:
                    return None
                req = self._next_locked()
                if req is not None:
                    self._in_flight.append(req)
                    return req
                if not self._cond.wait(timeout):
                    return None

    def _next_locked(self) -> Optional[Request]:
        if self._jobs:
            return self._jobs.popleft()
        for lane in self._lanes:
            req = self._pending[lane]
            if req is not None:
                self._pending[lane] = None
                return req
        return None

    def take_lane_nowait(self) -> Optional[Request]:
        """A waiting preview or suggestion (never a job), marked in flight, or None at once.

        Long jobs call it between their steps, through :func:`serve`'s yield point, so that
        the user's edits are answered while the job runs."""
        with self._cond:
            if self._closed:
                return None
            for lane in self._lanes:
                req = self._pending[lane]
                if req is not None:
                    self._pending[lane] = None
                    self._in_flight.append(req)
                    return req
            return None

    def finish(self, request: Request) -> None:
        """Mark ``request`` as no longer in flight."""
        with self._cond:
            if request in self._in_flight:
                self._in_flight.remove(request)
            self._cond.notify_all()

    def forget(self, request: Request) -> None:
        """Drop the bookkeeping of a request that ended without a result."""
        with self._cond:
            self._cancelled.discard(request.generation)

    def should_stop(self, request: Request) -> bool:
        """True when ``request``'s work can no longer be shown: closed, cancelled or old epoch."""
        with self._cond:
            if self._closed or request.generation in self._cancelled:
                return True
            return request.lane != JOB_LANE and request.epoch != self._epoch

    def close(self) -> None:
        """Shut down: wake :meth:`take` (which returns None) and refuse new work."""
        with self._cond:
            self._closed = True
            for lane in self._lanes:
                self._pending[lane] = None
            self._jobs.clear()
            self._cond.notify_all()

    # -- inspection ----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    @property
    def in_flight(self) -> Optional[Request]:
        """The innermost request running now (a preview inside a long job, or the job)."""
        with self._cond:
            return self._in_flight[-1] if self._in_flight else None

    def pending(self, lane: str) -> Optional[Request]:
        with self._cond:
            return self._pending.get(lane)

    def busy(self, counts: Optional[Callable[[Request], bool]] = None) -> bool:
        """True while anything (for which ``counts(request)`` is true, if given) is in flight or waiting."""
        with self._cond:
            reqs = [*self._in_flight, *self._jobs, *self._pending.values()]
            return any(r is not None and (counts is None or counts(r)) for r in reqs)

    def wait_idle(self, timeout: Optional[float] = None) -> bool:
        """Block until nothing is in flight or waiting; False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._in_flight and not self._jobs
                and all(r is None for r in self._pending.values()), timeout)


def serve(scheduler: Scheduler,
          compute: Callable[[Request, Callable[[], bool], Callable[[], None]], Any],
          deliver: Callable[[Request, Any], None],
          fail: Callable[[Request, BaseException], None],
          cancelled: tuple = (),
          dropped: Optional[Callable[[Request], None]] = None,
          finished: Optional[Callable[[Request], None]] = None) -> None:
    """Run requests from ``scheduler`` until it closes; the body of the compute thread.

    ``compute(request, should_stop, yield_point)`` does the work; its result goes to
    ``deliver``; an exception goes to ``fail`` unless it is one of ``cancelled`` (work that
    noticed it should stop), which is dropped quietly and reported to ``dropped`` if given.
    ``finished(request)`` is called after the request is no longer in flight.

    A long job calls ``yield_point()`` between its steps: the previews and suggestions
    waiting then run to completion first (their results delivered as usual), and the job
    carries on. Inside such a preview ``yield_point`` does nothing (no nesting).
    """
    def run_one(req: Request, nested: bool) -> None:
        def yield_point() -> None:
            if nested:
                return
            while (inner := scheduler.take_lane_nowait()) is not None:
                run_one(inner, True)

        try:
            out = compute(req, lambda: scheduler.should_stop(req), yield_point)
        except cancelled:
            scheduler.forget(req)
            if dropped is not None:
                dropped(req)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none kills the thread
            fail(req, exc)
        else:
            deliver(req, out)
        finally:
            scheduler.finish(req)
            if finished is not None:
                finished(req)

    while (req := scheduler.take()) is not None:
        run_one(req, False)
