"""Torch's CPU threads for a trial: the request's own count, else ``NAS_TORCH_THREADS``, else
every core this process may run on."""

from __future__ import annotations

import os

THREADS_ENV = "NAS_TORCH_THREADS"


def env_threads() -> int | None:
    """The thread count ``NAS_TORCH_THREADS`` sets (at least 1), or None when it is unset."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value:
        return None
    try:
        return max(1, int(value))
    except ValueError:
        raise ValueError(f"{THREADS_ENV} must be a whole number, got {value!r}") from None


def cpu_threads(requested: int | None = None) -> int:
    """``requested`` when given, else ``NAS_TORCH_THREADS``, else the cores available."""
    return requested or env_threads() or len(os.sched_getaffinity(0))
