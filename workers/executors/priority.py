"""Trial workers' OS priority: training runs below the server that answers requests.

A trial fills every core it is given; at the same priority it takes CPU time from the API
server on the same machine (a leaderboard poll waits behind an epoch). Each trial worker (a
``LocalExecutor`` process, a Ray actor) therefore lowers its own priority to the niceness
``NAS_WORKER_NICE`` names (default ``DEFAULT_NICE``; 0 leaves it as it is) before it starts
any thread, so torch's threads inherit it. Niceness only ever goes up here: a process that is
already nicer keeps its own, and an unprivileged one could not go lower anyway.

On Linux with autogroup (``/proc/sys/kernel/sched_autogroup_enabled``, the default of most
distributions) the scheduler first shares the CPU between *sessions*, and a thread's niceness
counts only against the threads of its own session: a local worker leads a session of its own
(``start_new_session``), so it lowers its session's group too (``/proc/self/autogroup``; the
group holds only the worker and its children). A Ray actor shares its node's session (the
raylet's): its niceness ranks it below that node's own processes only; renice the node's
autogroup to rank a whole Ray node below the server.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

NICE_ENV = "NAS_WORKER_NICE"
DEFAULT_NICE = 10
"""Trial workers' niceness unless ``NAS_WORKER_NICE`` says otherwise (Linux: 0..19)."""
MAX_NICE = 19
AUTOGROUP = Path("/proc/self/autogroup")


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


def autogroup_nice(pid: int | str = "self") -> int | None:
    """The niceness of the autogroup of process ``pid`` (None: no autogroup here)."""
    try:
        text = Path(f"/proc/{pid}/autogroup").read_text()  # "/autogroup-1028 nice 0"
        return int(text.rsplit("nice", 1)[1])
    except (OSError, ValueError, IndexError):
        return None


def _lower_autogroup(target: int) -> None:
    """Raise this session's autogroup niceness to ``target`` when this process leads its
    session (the group is then this process and its children only)."""
    if os.getsid(0) != os.getpid():
        return
    current = autogroup_nice()
    if current is not None and current < target:
        with contextlib.suppress(OSError):
            AUTOGROUP.write_text(str(target))


def lower_priority(nice: int | None = None) -> int:
    """Raise the niceness of every thread of this process to at least ``nice`` (default:
    ``env_nice()``), and that of its session's autogroup when it leads its session; the
    niceness of the calling thread afterwards. Threads started later inherit their starter's
    niceness."""
    target = env_nice() if nice is None else min(MAX_NICE, max(0, nice))
    for tid in _threads():
        with contextlib.suppress(OSError):  # a thread that just ended; a platform without it
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
    _lower_autogroup(target)
    return os.getpriority(os.PRIO_PROCESS, 0)
