"""The states of jobs (``JobState``) and their legal transitions, in one place.

Trial states are defined with the trial store (``workers.jobs.store``); the ones derived here for
the service's queries come from there.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from workers.jobs.store import FINISHED_STATES, TRIAL_STATES


class JobState(StrEnum):
    """A job's lifecycle: queued -> running -> completed | failed | cancelled."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


JOB_STATES: tuple[str, ...] = tuple(JobState)
UNFINISHED_JOB_STATES: tuple[JobState, ...] = (JobState.QUEUED, JobState.RUNNING)
"""Jobs a scheduler may claim (queued, or running with no live lease)."""
TERMINAL_JOB_STATES: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.CANCELLED, JobState.FAILED}
)
JOB_TRANSITIONS: dict[str, frozenset[JobState]] = {
    JobState.QUEUED: frozenset({JobState.RUNNING, JobState.CANCELLED}),
    # back to queued: the server restarted and the job waits for the next scheduler
    JobState.RUNNING: frozenset(
        {JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED, JobState.QUEUED}
    ),
}

UNFINISHED_TRIAL_STATES: tuple[str, ...] = tuple(
    s for s in TRIAL_STATES if s not in FINISHED_STATES
)
"""Trials still to run or running (queued, running)."""


def count_by_strategy(
    keys: Iterable[str], counts: Iterable[tuple[str, str, int]]
) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Trial counts per state, and per strategy (each with its ``total``), from ``(strategy,
    state, n)`` counts: every state and every key of ``keys`` appear (zeros too), then any other
    strategy counted."""
    states = dict.fromkeys(TRIAL_STATES, 0)
    strategies = {key: {**dict.fromkeys(TRIAL_STATES, 0), "total": 0} for key in keys}
    for strategy, state, n in counts:
        if not n:
            continue
        per = strategies.setdefault(strategy, {**dict.fromkeys(TRIAL_STATES, 0), "total": 0})
        per[state] = per.get(state, 0) + n
        per["total"] += n
        states[state] = states.get(state, 0) + n
    return states, strategies
