"""The leaderboard's answers: a job's trials as columns, best-so-far curves, the Pareto front,
counts, and a trial's learned strides per epoch."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.live_targets import Comparison
from workers.jobs.store import BudgetUse

MAX_ERROR_CHARS = 500
"""Errors are cut to this many characters (the whole text is in ``/trials``)."""


class TrialColumns(BaseModel):
    """Trials as parallel arrays: entry ``i`` of every list belongs to the same trial."""

    id: list[int] = Field(default_factory=list)
    strategy: list[int] = Field(default_factory=list, description="index into `strategies`")
    number: list[int] = Field(default_factory=list)
    state: list[int] = Field(default_factory=list, description="index into `states`")
    spec: list[int] = Field(default_factory=list, description="index into `specs`")
    specs: list[str] = Field(
        default_factory=list, description="the distinct block strings of these trials"
    )
    accuracy: list[float | None] = Field(
        default_factory=list, description="final validation accuracy"
    )
    n_params: list[int | None] = Field(default_factory=list)
    macs: list[int | None] = Field(default_factory=list, description="forward MACs per image")
    cost_flops: list[float | None] = Field(default_factory=list, description="FLOPs spent")
    wall_seconds: list[float | None] = Field(default_factory=list)
    epoch: list[int | None] = Field(
        default_factory=list,
        description="epochs done: the last reported epoch while running, else epochs_run",
    )
    epochs: list[int | None] = Field(
        default_factory=list, description="epochs asked for (queued and running trials)"
    )
    error: list[str | None] = Field(
        default_factory=list, description=f"why a trial failed (at most {MAX_ERROR_CHARS} chars)"
    )
    ranked: list[bool] = Field(
        default_factory=list,
        description="whether the trial takes a place in the ranking (workers.jobs.ranking."
        "is_ranked: a search trial completed with an accuracy; not a confirmation run, nor a "
        "skipped proposal, nor a pruned, failed or unfinished trial)",
    )
    strides: list[int] = Field(default_factory=list, description="index into `stride_texts`")
    stride_texts: list[str | None] = Field(
        default_factory=list,
        description="the distinct strides of these trials, per stage ('1-2-2-2'; a DiffStride "
        "stage's learned stride with two decimals once the trial finished)",
    )


class Curve(BaseModel):
    """One strategy's best-so-far accuracy: a step at each completed trial that improved it."""

    strategy: str
    cost: list[float] = Field(description="cumulative FLOPs spent when the best improved")
    accuracy: list[float]
    trial: list[int] = Field(description="the trial that set each new best")
    spent: float = Field(description="FLOPs spent by all finished trials of the strategy")
    finished: int
    completed: int = Field(default=0, description="its completed trials with an accuracy")
    min_accuracy: float | None = Field(default=None, description="its least accurate")
    max_accuracy: float | None = Field(default=None, description="its most accurate (the best)")
    latest_accuracy: float | None = Field(
        default=None, description="its most recently finished completed trial's accuracy"
    )
    latest_trial: int | None = Field(default=None, description="that trial")


class Front(BaseModel):
    """The Pareto front (accuracy up, MACs down) of completed trials, by increasing MACs."""

    trial: list[int] = Field(default_factory=list)
    macs: list[int] = Field(default_factory=list)
    accuracy: list[float] = Field(default_factory=list)


class StrideTrajectory(BaseModel):
    """A trial's learned strides per epoch (finished: its history; else its epoch reports)."""

    trial: int
    state: str
    epoch: list[int] = Field(default_factory=list)
    stages: list[int] = Field(default_factory=list, description="the stages with a learned stride")
    h: list[list[float | None]] = Field(
        default_factory=list, description="h[k][j]: stride of stages[k] at epoch[j]"
    )
    w: list[list[float | None]] = Field(default_factory=list)
    init: list[list[float]] = Field(
        default_factory=list, description="init[k]: [h, w] stride stages[k] started from"
    )
    status: list[list[str]] | None = Field(
        default=None,
        description="status[k]: [h, w] of stages[k] once the trial finished: 'learned', "
        "'learned to floor', 'held at floor' (the clamp, not learning), 'unchanged', ...",
    )
    low: list[list[float]] | None = Field(
        default=None, description="low[k]: [h, w] floor of stages[k]'s stride (finished trials)"
    )
    high: list[list[float]] | None = Field(default=None, description="the ceilings, likewise")


class Progress(BaseModel):
    total: int
    states: dict[str, int]
    strategies: dict[str, dict[str, int]]


class JobSummary(BaseModel):
    id: int
    name: str
    state: str
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    strategies: list[str] = Field(description="strategy keys of the job, in its order")
    diffstride: list[str] = Field(description="the keys of its DiffStride strategies")
    epochs_per_trial: int
    secondary: str | None = None
    budget: dict[str, BudgetUse] | None = Field(
        default=None, description="per strategy, its use of its budget share (as kept)"
    )


class Cursor(BaseModel):
    since: int
    after: int


class LeaderboardOut(BaseModel):
    """What changed in a job since the client's ``since`` version."""

    version: int = Field(description="send this back as `since` next time")
    full: bool = Field(description="true: `trials` replaces what the client has")
    job: JobSummary
    states: list[str]
    strategies: list[str] = Field(description="the job's strategies, then any other seen")
    progress: Progress
    trials: TrialColumns
    best_so_far: list[Curve] | None = Field(
        default=None, description="null when nothing changed since `since`"
    )
    pareto: Front | None = None
    comparison: Comparison | None = Field(
        default=None,
        description="compute to target per strategy (repeats grouped); null when nothing "
        "changed since `since`",
    )
    next: Cursor | None = Field(
        default=None,
        description="more changed trials than `limit`: ask again with these `since` and "
        "`after` before using `version`",
    )
    partial: bool = Field(
        default=False,
        description="true: an answer to `top`, `trials` holds only the best ranked trials (the "
        "rest of the answer is whole): ask again with `since=0` for every trial",
    )
