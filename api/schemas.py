"""Response bodies of the REST API (requests are ``nas.job.JobSpec``)."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

from api.store import JobRecord, TrialSummary
from workers.leaderboard import trial_columns
from workers.store import BudgetUse, StoredTrial

T = TypeVar("T")
MAX_PAGE = 200
MAX_ID = 2**31 - 1
"""Ids are ``Integer`` columns (32 bits on PostgreSQL): a larger one is a 422, not a 500."""
Id = Annotated[int, Path(ge=0, le=MAX_ID)]
Offset = Annotated[int, Query(ge=0, le=MAX_ID)]


class ErrorOut(BaseModel):
    """Every error but a validation error: ``{"detail": "what went wrong"}``."""

    detail: str


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the bad field, e.g. strategies[0].name")
    message: str


class ValidationErrorOut(BaseModel):
    """A 422: each bad field named."""

    detail: list[FieldError]


_ERROR_TEXT = {
    400: "the body could not be read (not UTF-8 JSON)",
    401: "an API key is needed: send 'Authorization: Bearer <key>'",
    403: "the API key is not recognised",
    404: "no such job or trial",
    409: "not allowed in the job's current state",
    413: "the request body is too large",
    503: "the database is unreachable for now: retry later",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error codes (422 is always there)."""
    found: dict[int | str, dict[str, Any]] = {
        422: {"model": ValidationErrorOut, "description": "a field is invalid (each is named)"}
    }
    for code in codes:
        found[code] = {"model": ErrorOut, "description": _ERROR_TEXT[code]}
    return found


READ_ERRORS = errors(401, 403, 404, 503)
WRITE_ERRORS = errors(401, 403, 404, 409, 503)


class Page(BaseModel, Generic[T]):
    """A bounded slice of a list endpoint."""

    items: list[T]
    total: int
    offset: int
    limit: int


class JobOut(JobRecord):
    """A job as the API shows it: its record and where its leaderboard page is."""

    leaderboard_url: str | None = None


class TrialOut(TrialSummary):
    """One trial as the API shows it."""

    @classmethod
    def of(cls, trial: StoredTrial) -> TrialOut:
        return cls.of_columns(trial_columns(trial), trial.progress[-1] if trial.progress else None)


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


class Health(BaseModel):
    status: str
    database: str
    scheduler: str
    executor: str
    auth: bool
