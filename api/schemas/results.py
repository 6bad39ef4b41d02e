"""Results to take home and compare: a trial as a row of an export (``trials.csv``, JSON) and
several jobs side by side (``GET /api/v1/compare``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from api.live_targets import SeriesTarget, Target, Unit


class TrialRow(BaseModel):
    """One trial as a flat row (the columns of ``trials.csv``, in this order)."""

    id: int
    job_id: int
    job_name: str
    strategy: str = Field(description="the strategy key (a repeat's: grid/r1)")
    repeat: int | None = Field(default=None, description="the repeat (jobs with repeats)")
    number: int = Field(description="the trial's ordinal within its strategy")
    state: str
    phase: str | None = None
    base_from: str | None = Field(
        default=None, description="the trial a chained strategy's base is ('diffstride #3')"
    )
    strides: str | None = Field(
        default=None, description="per stage, '1-2-2-2'; learned DiffStride strides: 2 decimals"
    )
    spec: str = Field(description="the block string")
    accuracy: float | None = Field(default=None, description="validation accuracy")
    test_accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    cost_flops: float | None = None
    wall_seconds: float | None = None
    epochs_run: int | None = None
    attempts: int = 0
    takeovers: int = Field(
        default=0, description="of its attempts, those cut short when its server died"
    )
    copied_from: int | None = None
    error: str | None = None


class CompareJob(BaseModel):
    id: int
    name: str
    state: str
    strategies: list[str] = Field(description="its strategies (repeats grouped)")


class CompareSeries(SeriesTarget):
    """One strategy of one job: its compute to target and best-so-far curve."""

    job: int
    job_name: str


class CompareOut(BaseModel):
    """Several jobs on the same data, against one target (``GET /api/v1/compare``)."""

    jobs: list[CompareJob]
    dataset: dict[str, Any]
    target: Target
    unit: Unit = Field(
        description="base_epochs when every job counts them and one is the same FLOPs in all, "
        "else flops"
    )
    unit_flops: float
    horizon: float | None = None
    series: list[CompareSeries]
