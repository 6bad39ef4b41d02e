"""Jobs as shown (``JobRecord``, ``JobOut``: from the store's ``api.store.StoredJob``), their
progress, extend requests, and the best trials."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.trials import TrialOut
from api.states import JobState
from nas.job import JobSpec
from workers.jobs.confirm import ConfirmationSummary
from workers.jobs.store import BudgetUse


class JobRecord(BaseModel):
    """A job as the API shows it: its stored fields (``api.store.StoredJob``) and its trial
    counts per state."""

    id: int
    name: str
    state: JobState
    spec: JobSpec
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int
    priority: int = 0
    lease_owner: str | None = Field(
        default=None, description="the server running the job (host:pid:token), if any"
    )
    lease_expires_at: datetime | None = Field(
        default=None, description="when another server may take the job over unless renewed"
    )
    budget: dict[str, BudgetUse] | None = Field(
        default=None,
        description="per strategy, its use of its share of the budget (kept with the job: "
        "also for finished jobs); null until a server started the job",
    )
    trial_counts: dict[str, int] = Field(default_factory=dict)


class JobOut(JobRecord):
    """A job as the API shows it: its record and where its leaderboard page is."""

    leaderboard_url: str | None = None


class ExtendIn(BaseModel):
    """More budget for a job (``POST /api/v1/jobs/{id}/extend``)."""

    model_config = ConfigDict(extra="forbid")
    budget: float = Field(
        gt=0,
        le=1e30,
        allow_inf_nan=False,
        description="added to the job's budget total, in the job's unit (base_epochs, flops "
        "or trials; split evenly across its strategies like the rest)",
    )
    max_trials_per_strategy: int | None = Field(
        default=None, ge=1, le=100_000, description="raise the job's limit of trials per strategy"
    )


class BestOut(BaseModel):
    """The best trial by the primary objective, and the Pareto set when there are two."""

    objective: str
    best: TrialOut | None
    pareto: list[TrialOut] = Field(default_factory=list)
    confirmation: ConfirmationSummary | None = Field(
        default=None,
        description="the best trial trained again with other seeds (``confirm_seeds``): mean "
        "and spread; None when the job confirms nothing or has no best trial yet",
    )


class JobProgress(BaseModel):
    """Trial counts of a job per state and per strategy (each with its ``total``), and each
    strategy's use of its budget share as the job keeps it (any server, finished jobs too)."""

    job_id: int
    state: str
    total: int
    states: dict[str, int]
    strategies: dict[str, dict[str, int]]
    budget_used: dict[str, float] | None = Field(
        default=None,
        description="per strategy, progress 0..1 (spent / budget; 1 once it stopped); null "
        "until a server started the job",
    )
    budget: dict[str, BudgetUse] | None = None
