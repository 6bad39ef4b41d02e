"""Where trials live: the ``TrialStore`` protocol and its in-memory implementation.

The runner writes every trial here before it runs and after every state change; the SQL store
of the service implements the same protocol, so the embedded path and the server share code.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, Field

from nas.trial import EpochReport, TrialRequest, TrialResult

TrialStateName = Literal["queued", "running", "completed", "pruned", "skipped", "failed"]
TRIAL_STATES: tuple[str, ...] = ("queued", "running", "completed", "pruned", "skipped", "failed")
"""``skipped``: asked by its strategy but not run (it did not fit in the budget left)."""
FINISHED_STATES: frozenset[str] = frozenset({"completed", "pruned", "skipped", "failed"})


class StoredTrial(BaseModel):
    """A trial as stored: its request, state and (once finished) result or error."""

    id: int
    strategy: str
    number: int
    request: TrialRequest
    state: TrialStateName = "queued"
    result: TrialResult | None = None
    error: str | None = None
    attempts: int = 0
    progress: list[EpochReport] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


class TrialStore(Protocol):
    """Persistence of one job's trials."""

    def add(self, request: TrialRequest) -> StoredTrial: ...

    def mark_running(self, trial_id: int) -> None: ...

    def record_progress(self, trial_id: int, report: EpochReport) -> None: ...

    def finish(self, trial_id: int, result: TrialResult | None, error: str | None) -> None: ...

    def skip(self, trial_id: int, reason: str) -> None:
        """Finished without running (``skipped``, with the reason); idempotent like finish."""
        ...

    def get(self, trial_id: int) -> StoredTrial: ...

    def trials(self) -> list[StoredTrial]:
        """Every trial of the job, ordered by (strategy, number)."""
        ...


class MemoryTrialStore:
    """A ``TrialStore`` in a dict: for the embedded runner and tests."""

    def __init__(self) -> None:
        self._trials: dict[int, StoredTrial] = {}

    def add(self, request: TrialRequest) -> StoredTrial:
        for trial in self._trials.values():
            if trial.strategy == request.strategy and trial.number == request.number:
                raise ValueError(f"trial {request.strategy}#{request.number} already stored")
        trial = StoredTrial(
            id=len(self._trials) + 1,
            strategy=request.strategy,
            number=request.number,
            request=request,
        )
        self._trials[trial.id] = trial
        return trial.model_copy()

    def mark_running(self, trial_id: int) -> None:
        trial = self._trials[trial_id]
        trial.state = "running"
        trial.attempts += 1
        trial.progress = []

    def record_progress(self, trial_id: int, report: EpochReport) -> None:
        self._trials[trial_id].progress.append(report)

    def finish(self, trial_id: int, result: TrialResult | None, error: str | None) -> None:
        trial = self._trials[trial_id]
        if trial.finished:
            return  # idempotent: a finished trial is never overwritten
        trial.result = result
        trial.error = error
        if result is None:
            trial.state = "failed"
        else:
            trial.state = "pruned" if result.pruned else "completed"

    def skip(self, trial_id: int, reason: str) -> None:
        trial = self._trials[trial_id]
        if not trial.finished:
            trial.state = "skipped"
            trial.error = reason

    def get(self, trial_id: int) -> StoredTrial:
        return self._trials[trial_id].model_copy()

    def trials(self) -> list[StoredTrial]:
        return sorted(
            (t.model_copy() for t in self._trials.values()), key=lambda t: (t.strategy, t.number)
        )
