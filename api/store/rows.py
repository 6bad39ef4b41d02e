"""What the store's modules share: JSON for the documents, not-found errors, the columns a
``StoredTrial`` is read from, stored jobs with their trial counts, and bulk inserts."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Job, Trial, TrialDocument, TrialEvent
from api.specs import stored_spec
from api.states import JobState
from api.store.records import StoredJob
from api.strides import strides_text
from nas.errors import NotFoundError
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.jobs.store import BudgetUse, StoredTrial

CANCELLED = "cancelled"
"""The error of the trials a cancel stopped (they run again when the job is extended)."""


Factory = sessionmaker[Session]
JobList = list[StoredJob]
TrialList = list[StoredTrial]
ReportList = list[EpochReport]


# ---- JSON: non-finite floats (a diverged loss) are stored as strings pydantic reads back ------


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def as_json(model: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = _finite(model.model_dump(mode="json"))
    return dumped


def sortable(value: float) -> float | None:
    """A sortable column value: non-finite metrics sort with the missing ones (NULL)."""
    return value if math.isfinite(value) else None


# ---- errors ---------------------------------------------------------------------------------


def job_not_found(job_id: int) -> NotFoundError:
    return NotFoundError(f"no job {job_id}", field="job_id")


def trial_not_found(trial_id: int) -> NotFoundError:
    return NotFoundError(f"no trial {trial_id}", field="trial_id")


# ---- trials as values ------------------------------------------------------------------------

# What a StoredTrial needs: plain columns, no ORM objects (10,000 of those cost seconds in GC).
TRIAL_COLUMNS = (
    Trial.id,
    Trial.strategy,
    Trial.number,
    Trial.state,
    TrialDocument.request,
    TrialDocument.result,
    Trial.error,
    Trial.attempts,
    Trial.takeovers,
    Trial.free_retries,
    Trial.copied_from,
)


def select_trials(columns: tuple[Any, ...]) -> sa.Select[Any]:
    """SELECT ``columns`` of trials, their documents joined (every trial has one)."""
    return sa.select(*columns).join_from(Trial, TrialDocument)


def stored_trial(row: sa.Row[Any], progress: Iterable[EpochReport] = ()) -> StoredTrial:
    return StoredTrial(
        id=row.id,
        strategy=row.strategy,
        number=row.number,
        request=TrialRequest.model_validate(row.request),
        state=row.state,
        result=TrialResult.model_validate(row.result) if row.result is not None else None,
        error=row.error,
        attempts=row.attempts,
        takeovers=row.takeovers,
        free_retries=row.free_retries,
        progress=list(progress),
        copied_from=row.copied_from,
    )


def current_progress(session: Session, trial_ids: list[int]) -> dict[int, ReportList]:
    """Every report of the current attempt of each trial, in order."""
    found: dict[int, ReportList] = {i: [] for i in trial_ids}
    if not trial_ids:
        return found
    rows = session.execute(
        sa.select(TrialEvent.trial_id, TrialEvent.report)
        .join(Trial, Trial.id == TrialEvent.trial_id)
        .where(TrialEvent.trial_id.in_(trial_ids), TrialEvent.attempt == Trial.attempts)
        .order_by(TrialEvent.trial_id, TrialEvent.id)
    )
    for trial_id, report in rows:
        found[trial_id].append(EpochReport.model_validate(report))
    return found


def insert_trials(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bulk-insert trials, each row the ``trial`` columns plus its ``request`` and (optional)
    ``result`` documents (imports, benchmarks, tests; the service adds trials one at a time
    through ``SqlTrialStore.add``); their ids, in the order of ``rows``. A row without
    ``strides`` gets its block string's, or its result's learned ones."""
    documents = ("request", "result")
    trials = [{k: v for k, v in row.items() if k not in documents} for row in rows]
    for trial, row in zip(trials, rows, strict=True):
        if "strides" not in trial:  # every row or none: one INSERT for all of them
            result = row.get("result")
            learned = result.get("learned_strides") if isinstance(result, dict) else None
            trial["strides"] = strides_text(row["spec"], learned)
    ids = list(
        session.scalars(sa.insert(Trial).returning(Trial.id, sort_by_parameter_order=True), trials)
    )
    session.execute(
        sa.insert(TrialDocument),
        [
            {"trial_id": i, "request": row["request"], "result": row.get("result")}
            for i, row in zip(ids, rows, strict=True)
        ],
    )
    return ids


# ---- jobs as values --------------------------------------------------------------------------


def stored_job(row: Job, counts: dict[str, int]) -> StoredJob:
    return StoredJob(
        id=row.id,
        name=row.name,
        state=JobState(row.state),
        spec=stored_spec(row.spec, row.id),
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        version=row.version,
        priority=row.priority,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        budget=budget_of(row.budget_used),
        trial_counts=counts,
    )


def budget_of(stored: dict[str, Any] | None) -> dict[str, BudgetUse] | None:
    """The stored budget use (written by this code: validated once, cheaply)."""
    if not stored:
        return None
    return {key: BudgetUse.model_validate(value) for key, value in stored.items()}


def _trial_counts(session: Session, job_ids: list[int]) -> dict[int, dict[str, int]]:
    """Trial counts per state of each job (one grouped ``COUNT(*)``)."""
    counts: dict[int, dict[str, int]] = {i: {} for i in job_ids}
    if not job_ids:
        return counts
    rows = session.execute(
        sa.select(Trial.job_id, Trial.state, sa.func.count())
        .where(Trial.job_id.in_(job_ids))
        .group_by(Trial.job_id, Trial.state)
    )
    for job_id, state, n in rows:
        counts[job_id][state] = n
    return counts


def stored_jobs(session: Session, rows: Iterable[Job]) -> JobList:
    rows = list(rows)
    counts = _trial_counts(session, [r.id for r in rows])
    return [stored_job(r, counts[r.id]) for r in rows]
