"""Where trials live: the ``TrialStore`` protocol and its in-memory implementation.

The runner writes every trial here before it runs and after every state change; the SQL store
of the service implements the same protocol, so the embedded path and the server share code.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from nas.trial import EpochReport, TrialRequest, TrialResult


class TrialState(StrEnum):
    """Where a trial is: the one list of trial states (the SQL column, the REST filter, the
    leaderboard's counts all read it)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    PRUNED = "pruned"
    SKIPPED = "skipped"
    """Asked by its strategy but not run (it did not fit in the budget left)."""
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self not in (TrialState.QUEUED, TrialState.RUNNING)

    @classmethod
    def of_result(cls, result: TrialResult | None) -> TrialState:
        """The state of a trial that ended with ``result`` (None: it failed)."""
        if result is None:
            return cls.FAILED
        return cls.PRUNED if result.pruned else cls.COMPLETED


TRIAL_STATES: tuple[str, ...] = tuple(state.value for state in TrialState)
"""Every state's value, in lifecycle order (plain strings, for SQL and JSON)."""
FINISHED_STATES: tuple[str, ...] = tuple(state.value for state in TrialState if state.finished)


class Interruption(StrEnum):
    """Why a trial's attempt ended through no fault of the trial's: the attempt is not charged
    to its ``max_attempts`` (the runner's bound on its failures)."""

    TAKEOVER = "takeover"
    """The server running it died (or stalled past its lease) mid-trial, and another server
    took the job over. Bounded on its own (``max_takeovers``): a trial that kills its server
    every time must stop being run."""
    FREE = "free"
    """The Ray cluster under it was lost, or its server let the job go (a normal stop, or it
    dropped the job itself while the database was away): a free retry."""


class BudgetUse(BaseModel):
    """One strategy's use of its share of the job's budget (kept with the job, so it outlives
    the run: shown for finished jobs, and the same after a restart)."""

    unit: Literal["flops", "trials"] = Field(
        description="what `budget` and `spent` count: FLOPs, or trials (budget unit 'trials')"
    )
    budget: float = Field(description="the strategy's share of the job's budget")
    spent: float = Field(description="charged by its finished trials (skipped ones: nothing)")
    trials: int = Field(description="its finished trials (completed, pruned, skipped, failed)")
    skipped: int = Field(
        default=0, ge=0, description="of those, proposals skipped: over budget, never run"
    )
    stopped: str | None = Field(
        default=None,
        description="why it asks no more, in the job's unit: 'budget spent', 'budget: 2 of "
        "18 proposals affordable', 'budget: 25 proposals in a row over "
        "budget, 0.98 base epochs left', 'search space exhausted', 'trial limit reached', "
        "'finished'; null while it asks",
    )
    fraction: float = Field(
        description="progress, 0..1: spent / budget, and 1 once it stopped with nothing running"
    )
    waiting_for: str | None = Field(
        default=None,
        description="a strategy that starts from another's recommendation (`from`) and has not "
        "started yet: the strategy run it waits for ('diffstride', 'diffstride/r0')",
    )
    base_from: str | None = Field(
        default=None,
        description="a started strategy with `from`: the trial its base is ('diffstride #3': "
        "that strategy run's trial number)",
    )
    waiting: str | None = Field(
        default=None,
        description="what its trials in flight wait for, when no worker can take them: 'a "
        "node with 0.25 GPU' (no node of the Ray cluster has what they reserve; they run once "
        "one joins); null when they run or queue for a free slot",
    )


class StoredTrial(BaseModel):
    """A trial as stored: its request, state and (once finished) result or error."""

    id: int
    strategy: str
    number: int
    request: TrialRequest
    state: TrialState = TrialState.QUEUED
    result: TrialResult | None = None
    error: str | None = None
    attempts: int = Field(default=0, description="times it was started, every start counted")
    takeovers: int = Field(
        default=0,
        description="of its attempts, those cut short when the server running it died (another "
        "server took the job over): not charged, bounded by max_takeovers",
    )
    free_retries: int = Field(
        default=0,
        description="of its attempts, those cut short through no fault of its own otherwise (its "
        "Ray cluster lost, its server stopped): not charged",
    )
    progress: list[EpochReport] = Field(default_factory=list)
    copied_from: int | None = Field(
        default=None, description="warm start: the trial of another job this one copies"
    )

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def charged_attempts(self) -> int:
        """Its attempts that count toward ``max_attempts``: all but the interrupted ones."""
        return self.attempts - self.takeovers - self.free_retries


class TrialStore(Protocol):
    """Persistence of one job's trials."""

    def add(self, request: TrialRequest) -> StoredTrial: ...

    def mark_running(self, trial_id: int) -> None: ...

    def record_progress(self, trial_id: int, report: EpochReport) -> None: ...

    def requeue(self, trial_id: int, why: Interruption) -> StoredTrial:
        """Its latest attempt ended through no fault of its own: back to queued, that attempt
        counted as ``why`` (not charged); the trial as stored now."""
        ...

    def finish(
        self,
        trial_id: int,
        result: TrialResult | None,
        error: str | None,
        log: str | None = None,
    ) -> None:
        """Store the outcome (``log``: a failure's log, kept with it); idempotent: a finished
        trial is never overwritten."""
        ...

    def skip(self, trial_id: int, reason: str) -> None:
        """Finished without running (``skipped``, with the reason); idempotent like finish."""
        ...

    def get(self, trial_id: int) -> StoredTrial: ...

    def trials(self) -> list[StoredTrial]:
        """Every trial of the job, ordered by (strategy, number)."""
        ...

    def record_budget(self, used: dict[str, BudgetUse]) -> None:
        """Keep each strategy's budget use with the job (replacing what was kept)."""
        ...


class MemoryTrialStore:
    """A ``TrialStore`` in a dict: for the embedded runner and tests. Ids count from
    ``first_id`` (stores of jobs that share one executor need distinct ids)."""

    def __init__(self, first_id: int = 1) -> None:
        self._trials: dict[int, StoredTrial] = {}
        self._first_id = first_id
        self.budget: dict[str, BudgetUse] = {}
        self.logs: dict[int, str] = {}  # trial id -> its failure's log

    def add(self, request: TrialRequest) -> StoredTrial:
        for trial in self._trials.values():
            if trial.strategy == request.strategy and trial.number == request.number:
                raise ValueError(f"trial {request.strategy}#{request.number} already stored")
        trial = StoredTrial(
            id=self._first_id + len(self._trials),
            strategy=request.strategy,
            number=request.number,
            request=request,
        )
        self._trials[trial.id] = trial
        return trial.model_copy()

    def mark_running(self, trial_id: int) -> None:
        trial = self._trials[trial_id]
        trial.state = TrialState.RUNNING
        trial.attempts += 1
        trial.progress = []

    def record_progress(self, trial_id: int, report: EpochReport) -> None:
        self._trials[trial_id].progress.append(report)

    def requeue(self, trial_id: int, why: Interruption) -> StoredTrial:
        trial = self._trials[trial_id]
        if trial.finished:
            raise ValueError(f"trial {trial_id} already finished")
        trial.state = TrialState.QUEUED
        if why == Interruption.TAKEOVER:
            trial.takeovers += 1
        else:
            trial.free_retries += 1
        return trial.model_copy()

    def finish(
        self,
        trial_id: int,
        result: TrialResult | None,
        error: str | None,
        log: str | None = None,
    ) -> None:
        trial = self._trials[trial_id]
        if trial.finished:
            return  # idempotent: a finished trial is never overwritten
        if log is not None and result is None:
            self.logs[trial_id] = log
        trial.result = result
        trial.error = error
        trial.state = TrialState.of_result(result)

    def skip(self, trial_id: int, reason: str) -> None:
        trial = self._trials[trial_id]
        if not trial.finished:
            trial.state = TrialState.SKIPPED
            trial.error = reason

    def get(self, trial_id: int) -> StoredTrial:
        return self._trials[trial_id].model_copy()

    def record_budget(self, used: dict[str, BudgetUse]) -> None:
        self.budget = dict(used)

    def trials(self) -> list[StoredTrial]:
        return sorted(
            (t.model_copy() for t in self._trials.values()), key=lambda t: (t.strategy, t.number)
        )
