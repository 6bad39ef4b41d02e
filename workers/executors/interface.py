"""Executors run trial requests somewhere and report their progress and completion.

The runner calls ``submit`` with a progress callback (return True from it to stop the trial:
pruning) and collects completions with ``wait``. ``InlineExecutor`` runs trials in the calling
process, one per ``wait`` (so its ``wait`` blocks while a trial trains: ``blocking``): the
embedded ``nas run`` path, small demos and tests.
"""

from __future__ import annotations

import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.executors.processes import bounded_log
from workers.executors.trial_entry import run_trial

ProgressCallback = Callable[[EpochReport], bool]


@dataclass(frozen=True)
class Completion:
    """A trial that ended: a result, or an error summary."""

    trial_id: int
    result: TrialResult | None
    error: str | None = None
    retryable: bool = False
    """The worker died or went silent: the trial may run again (bounded attempts)."""
    charged: bool = True
    """A retry counts against the trial's attempts; False when the cluster under it was lost
    (the trial is not why: its retry is free, up to as many free retries as attempts)."""
    log: str | None = None
    """A failure's log: the tail of what the worker wrote to stderr while it ran the trial
    (the traceback included), at most ``workers.executors.processes.LOG_LIMIT`` bytes."""


@dataclass(frozen=True)
class Assignment:
    """A trial given to an executor: what it runs and whom to tell."""

    trial_id: int
    request: TrialRequest
    dataset: DatasetRef
    on_progress: ProgressCallback


class Executor(Protocol):
    capacity: int

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None: ...

    def wait(self, timeout: float | None = None) -> list[Completion]: ...

    def cancel(self, trial_id: int) -> None: ...

    def in_flight(self) -> int: ...


def waiting_notices(executor: object) -> dict[int, str]:
    """The executor's trials that wait for a worker able to take them, with what they wait for
    ("a node with 0.25 GPU"): its optional ``waiting()``; none for executors without one."""
    waiting = getattr(executor, "waiting", None)
    return dict(waiting()) if callable(waiting) else {}


def error_summary(exc: BaseException, limit: int = 4000) -> str:
    """The last frames and the message of an exception, bounded in size."""
    text = "".join(traceback.format_exception(exc, limit=-6))
    return text[-limit:]


class InlineExecutor:
    """Runs each submitted trial synchronously inside ``wait``."""

    capacity = 1
    blocking = True
    """``wait`` trains the trial in the caller's thread, for as long as it takes: a caller with
    other duties meanwhile (the server's scheduler renews its job leases) does them from
    another thread. Executors without the attribute return from ``wait`` by its timeout."""

    def __init__(self) -> None:
        self._queue: deque[tuple[int, TrialRequest, DatasetRef, ProgressCallback]] = deque()

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        """Queue the trial (replacing a queued one with its id)."""
        self.cancel(trial_id)
        self._queue.append((trial_id, request, dataset, on_progress))

    def in_flight(self) -> int:
        return len(self._queue)

    def cancel(self, trial_id: int) -> None:
        """Drop the trial from the queue: no completion follows (a submit again runs it)."""
        self._queue = deque(q for q in self._queue if q[0] != trial_id)

    def wait(self, timeout: float | None = None) -> list[Completion]:
        while self._queue:
            trial_id, request, dataset, on_progress = self._queue.popleft()
            try:
                result = run_trial(request, dataset, on_progress)
            except Exception as exc:  # a failing trial is recorded, never fatal to the job
                log = bounded_log("".join(traceback.format_exception(exc)))
                return [Completion(trial_id, None, error_summary(exc), log=log)]
            return [Completion(trial_id, result)]
        return []
