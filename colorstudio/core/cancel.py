"""Stopping long work: the callbacks a job is given and the exception a stop raises.

Kept apart from core/jobs.py (the job classes), so the weight-free preview path (compose,
session, the engines) does not import every job to raise one exception.
"""
from __future__ import annotations

from typing import Callable, Optional

Progress = Callable[..., None]   # progress(done, total, note=None)
ShouldStop = Callable[[], bool]


class Cancelled(Exception):
    """A long job stopped because its ``should_stop()`` callback turned true."""


def check_stop(should_stop: Optional[ShouldStop]) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()
