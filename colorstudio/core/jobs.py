"""Plain-Python plumbing for long jobs: progress and cancellation callbacks."""
from __future__ import annotations

from typing import Callable, Optional

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]


class Cancelled(Exception):
    """A long job stopped because its ``should_stop()`` callback turned true."""


def check_stop(should_stop: Optional[ShouldStop]) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled()
