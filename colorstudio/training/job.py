"""A training as a job (``run(runtime, progress, should_stop)``), for the app's Train dialog.

``train(config)`` does the work; this job turns its callbacks into *notes* (plain data, sent
through ``progress(None, None, note)``): :class:`Steps` (the losses since the last note,
thinned to a few a second) and :class:`Samples` (held-out crops re-colorized with the current
weights). Qt-free: the app runs it on a worker of its own (gui/workers.py).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

#: Step notes leave the job at most this often (seconds); the points in between travel together.
STEP_INTERVAL = 0.1


@dataclass(frozen=True)
class Steps:
    """Steps done since the last note: ``points`` are (step, loss) pairs."""

    step: int
    total: Optional[int]
    rate: float                  # steps a second
    eta: Optional[float]         # seconds left, when known
    points: list = field(default_factory=list)
    history: bool = False        # a resumed training's loss history, read from its checkpoint


@dataclass(frozen=True)
class Samples:
    step: int
    samples: list                # Sample(name, grey, model, truth) with uint8 arrays


@dataclass(frozen=True)
class TrainJob:
    """Train (or resume) a network with ``config`` (a TrainConfig); returns the TrainResult
    (finished, or stopped with its checkpoint kept). Stopped before the first step: Cancelled."""

    config: Any
    long = True

    def run(self, runtime=None, progress=None, should_stop=None):
        from .loop import train

        def note(n) -> None:
            if progress is not None:
                progress(None, None, note=n)

        pending: list = []
        last = [0.0]

        def on_step(report) -> None:
            pending.append((int(report.step), float(report.losses["loss"])))
            now = time.monotonic()
            done = report.total_steps is not None and report.step >= report.total_steps
            if now - last[0] >= STEP_INTERVAL or done:
                last[0] = now
                points = pending[:]
                pending.clear()
                note(Steps(int(report.step), report.total_steps, float(report.steps_per_second),
                           None if report.eta_seconds is None else float(report.eta_seconds), points))

        if self.config.resume:
            history = self.history()
            if history is not None:
                note(history)
        result = train(self.config, progress=progress, should_stop=should_stop, on_step=on_step,
                       on_samples=lambda step, samples: note(Samples(int(step), list(samples))))
        if pending:   # the last points, thinned away above
            note(Steps(pending[-1][0], self.config.steps, 0.0, None, pending[:]))
        return result

    def history(self) -> Optional[Steps]:
        """A resumed training's loss history so far, from its checkpoint (None without one)."""
        from ..models import user as store
        from .loop import CHECKPOINT, default_name, read_checkpoint
        name = self.config.name or default_name(self.config.arch, self.config.folder)
        if store.name_problem(name):
            return None
        path = store.training_folder(name) / CHECKPOINT
        if not path.exists():
            return None
        losses = [(int(s), float(v)) for s, v in read_checkpoint(path).get("losses", [])]
        if not losses:
            return None
        return Steps(losses[-1][0], self.config.steps, 0.0, None, losses, history=True)

    def describe_error(self, exc: BaseException) -> str:
        from .errors import TrainingError
        if isinstance(exc, TrainingError):
            return str(exc)
        return f"the training failed: {type(exc).__name__}: {exc}"
