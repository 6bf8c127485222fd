"""What this machine offers the work Colorstudio spreads over it (batch workers, a training's
threads): the cores this process may use and the memory available. Qt-free and torch-free."""
from __future__ import annotations

import os
from typing import Optional


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity where the system says (a container
    or ``taskset`` may allow fewer than the machine has), else all of them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):   # not Linux
        return max(1, os.cpu_count() or 1)


def available_memory() -> Optional[int]:
    """Bytes of memory available to new work (Linux: MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None
