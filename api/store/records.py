"""What the store hands out: plain, typed, immutable values, never ORM rows and never HTTP bodies.

The routers (and the other callers that answer over HTTP) turn these into ``api.schemas``
bodies (``api.schemas.mapping``). A whole trial, request and result documents included, is
``workers.jobs.store.StoredTrial``: the runner reads the same type from any store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.states import JobState
from nas.job import JobSpec
from nas.spec import ArchSpec
from nas.trial import EpochReport
from workers.jobs.store import BudgetUse


@dataclass(frozen=True, slots=True)
class StoredJob:
    """A job as stored: its validated spec, state, lease, budget use and trial counts."""

    id: int
    name: str
    state: JobState
    spec: JobSpec
    error: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    version: int
    priority: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    budget: dict[str, BudgetUse] | None
    """Per strategy, its use of its budget share; None until a server started the job."""
    trial_counts: dict[str, int]
    """Trials per state (the states with none are left out)."""


@dataclass(frozen=True, slots=True)
class ListedTrial:
    """A trial as listings read it: its columns and three values of its result, no documents.

    ``learned_strides``, ``stride_readout`` and ``test_accuracy`` are as stored (JSON);
    ``strides``: its strides text as stored (``api.strides.strides_text``);
    ``last_epoch``: the latest progress report of its current attempt, when one was read."""

    id: int
    strategy: str
    number: int
    state: str
    spec: str
    params: dict[str, Any]
    accuracy: float | None
    n_params: int | None
    macs: int | None
    cost_flops: float | None
    wall_seconds: float | None
    epochs_run: int | None
    attempts: int
    takeovers: int
    free_retries: int
    error: str | None
    learned_strides: Any
    stride_readout: Any
    test_accuracy: Any
    copied_from: int | None
    strides: str | None = None
    last_epoch: EpochReport | None = None


@dataclass(frozen=True, slots=True)
class StoredLog:
    """A trial's error and the log kept of its failure (None when none was kept)."""

    job_id: int
    trial: int
    strategy: str
    number: int
    state: str
    attempts: int
    takeovers: int
    free_retries: int
    error: str | None
    log: str | None


@dataclass(frozen=True, slots=True)
class JobCounts:
    """A job's trials counted per state and per strategy (every run of the job, zeros too;
    each strategy's counts with their ``total``), and its budget use as stored."""

    job_id: int
    state: str
    total: int
    states: dict[str, int]
    strategies: dict[str, dict[str, int]]
    budget: dict[str, BudgetUse] | None


@dataclass(frozen=True, slots=True)
class StrideHistory:
    """What a trial stored of its strides: ``(epoch, strides)`` pairs (``strides`` as stored:
    per stage ``[h, w]`` or null), from its result's history once it has one, else from the
    epoch reports of its current attempt; its architecture (None when the block string no
    longer parses) and its stored ``stride_readout`` (JSON, or None)."""

    trial_id: int
    state: str
    epochs: list[tuple[int, Any]]
    spec: ArchSpec | None
    readouts: Any
