"""Trial workers' OS priority: training runs below the server that answers requests.

A trial fills every core it is given; at the same priority it takes CPU time from the API
server on the same machine (a leaderboard poll waits behind an epoch). Each trial worker (a
``LocalExecutor`` process, a Ray actor) therefore lowers its own priority to the niceness
``NAS_WORKER_NICE`` names (default ``DEFAULT_NICE``; 0 leaves it as it is) before it starts
any thread, so torch's threads inherit it. Niceness only ever goes up here: a process that is
already nicer keeps its own, and an unprivileged one could not go lower anyway.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

NICE_ENV = "NAS_WORKER_NICE"
DEFAULT_NICE = 10
"""Trial workers' niceness unless ``NAS_WORKER_NICE`` says otherwise (Linux: 0..19)."""
MAX_NICE = 19


def env_nice() -> int:
    """The niceness ``NAS_WORKER_NICE`` names (``DEFAULT_NICE`` when unset), within 0..19."""
    value = os.environ.get(NICE_ENV, "").strip()
    if not value:
        return DEFAULT_NICE
    try:
        return min(MAX_NICE, max(0, int(value)))
    except ValueError:
        raise ValueError(f"{NICE_ENV} must be a whole number 0..19, got {value!r}") from None


def _threads() -> list[int]:
    """This process's thread ids (Linux: niceness is per thread), else just the process."""
    try:
        return [int(tid) for tid in os.listdir(Path("/proc/self/task"))]
    except OSError:
        return [0]


def lower_priority(nice: int | None = None) -> int:
    """Raise the niceness of every thread of this process to at least ``nice`` (default:
    ``env_nice()``); the niceness of the calling thread afterwards. Threads started later
    inherit their starter's niceness."""
    target = env_nice() if nice is None else min(MAX_NICE, max(0, nice))
    for tid in _threads():
        with contextlib.suppress(OSError):  # a thread that just ended; a platform without it
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
    return os.getpriority(os.PRIO_PROCESS, 0)
