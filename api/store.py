"""The service's storage API: jobs (``JobRepository``) and their trials (``SqlTrialStore``).

``SqlTrialStore`` implements ``workers.store.TrialStore`` over the database, so the runner drives
a server job exactly as it drives an embedded one. Both hand out plain values (``JobRecord``,
``StoredTrial``, ``EpochReport``), never ORM objects, and every method is one short transaction.

Every change to a job or any of its trials bumps the job's ``version`` (for incremental clients);
a changed trial is stamped with that version (``trial.version``).
Queries stay cheap with 10,000+ trials per job: per-job indexes, ``COUNT(*)`` for counts, and
pages instead of whole tables.
"""

from __future__ import annotations

import math
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from api.db.models import (
    JOB_STATES,
    TRIAL_STATES,
    Job,
    Trial,
    TrialDocument,
    TrialEvent,
    utcnow,
)
from api.db.session import session_scope
from api.pareto import pareto_front
from nas.errors import ConflictError, NotFoundError, OptionsError
from nas.job import JobSpec
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.store import FINISHED_STATES, StoredTrial

JobStateName = Literal["queued", "running", "completed", "cancelled", "failed"]
TERMINAL_JOB_STATES: frozenset[str] = frozenset({"completed", "cancelled", "failed"})
JOB_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled"}),
    # back to queued: the server restarted and the job waits for the next scheduler
    "running": frozenset({"completed", "failed", "cancelled", "queued"}),
}
SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "accuracy": Trial.accuracy,
    "n_params": Trial.n_params,
    "macs": Trial.macs,
    "cost_flops": Trial.cost_flops,
    "wall_seconds": Trial.wall_seconds,
    "number": Trial.number,
    "id": Trial.id,
    "created_at": Trial.created_at,
}
_UNFINISHED = ("queued", "running")

Factory = sessionmaker[Session]


class JobRecord(BaseModel):
    """A job as stored, with its trial counts per state."""

    id: int
    name: str
    state: JobStateName
    spec: JobSpec
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    version: int
    trial_counts: dict[str, int] = Field(default_factory=dict)


JobList = list[JobRecord]
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


def _json(model: BaseModel) -> dict[str, Any]:
    dumped: dict[str, Any] = _finite(model.model_dump(mode="json"))
    return dumped


def _number(value: float) -> float | None:
    """A sortable column value: non-finite metrics sort with the missing ones (NULL)."""
    return value if math.isfinite(value) else None


# ---- shared helpers ---------------------------------------------------------------------------


def _touch(session: Session, job_id: int, trial_ids: Iterable[int] = ()) -> int | None:
    """Bump the job's version and stamp ``trial_ids`` with it (``trial.version``, what
    incremental clients ask for); the new version, None when there is no such job."""
    version: int | None = session.scalar(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(version=Job.version + 1, updated_at=utcnow())
        .returning(Job.version)
    )
    ids = list(trial_ids)
    if version is not None and ids:
        session.execute(sa.update(Trial).where(Trial.id.in_(ids)).values(version=version))
    return version


def _job_not_found(job_id: int) -> NotFoundError:
    return NotFoundError(f"no job {job_id}", field="job_id")


def _trial_not_found(trial_id: int) -> NotFoundError:
    return NotFoundError(f"no trial {trial_id}", field="trial_id")


# What a StoredTrial needs: plain columns, no ORM objects (10,000 of those cost seconds in GC).
_TRIAL_COLUMNS = (
    Trial.id,
    Trial.strategy,
    Trial.number,
    Trial.state,
    TrialDocument.request,
    TrialDocument.result,
    Trial.error,
    Trial.attempts,
)


def _select(columns: tuple[Any, ...]) -> sa.Select[Any]:
    """SELECT ``columns`` of trials, their documents joined (every trial has one)."""
    return sa.select(*columns).join_from(Trial, TrialDocument)


def _stored(row: sa.Row[Any], progress: Iterable[EpochReport] = ()) -> StoredTrial:
    return StoredTrial(
        id=row.id,
        strategy=row.strategy,
        number=row.number,
        request=TrialRequest.model_validate(row.request),
        state=row.state,
        result=TrialResult.model_validate(row.result) if row.result is not None else None,
        error=row.error,
        attempts=row.attempts,
        progress=list(progress),
    )


class TrialSummary(BaseModel):
    """What a listing shows of a trial: its columns, no request or result documents."""

    id: int
    strategy: str
    number: int
    state: str
    spec: str
    params: dict[str, Any]
    phase: str | None = None
    accuracy: float | None = None
    n_params: int | None = None
    macs: int | None = None
    cost_flops: float | None = None
    wall_seconds: float | None = None
    epochs_run: int | None = None
    attempts: int
    error: str | None = None
    learned_strides: list[tuple[float, float] | None] | None = None
    last_epoch: EpochReport | None = None


_SUMMARY_COLUMNS = (
    Trial.id,
    Trial.strategy,
    Trial.number,
    Trial.state,
    Trial.spec,
    Trial.params,
    Trial.accuracy,
    Trial.n_params,
    Trial.macs,
    Trial.cost_flops,
    Trial.wall_seconds,
    Trial.epochs_run,
    Trial.attempts,
    Trial.error,
    TrialDocument.result["learned_strides"].label("learned_strides"),
)


def _last(reports: ReportList | None) -> EpochReport | None:
    return reports[-1] if reports else None


def _summary(row: sa.Row[Any], last: EpochReport | None) -> TrialSummary:
    """A ``TrialSummary`` from trusted columns, without revalidating them."""
    strides = row.learned_strides
    learned = (
        [tuple(s) if s is not None else None for s in strides]
        if isinstance(strides, list) and any(s is not None for s in strides)
        else None
    )
    phase = row.params.get("phase") if isinstance(row.params, dict) else None
    return TrialSummary.model_construct(
        id=row.id,
        strategy=row.strategy,
        number=row.number,
        state=row.state,
        spec=row.spec,
        params=row.params or {},
        phase=str(phase) if phase is not None else None,
        accuracy=row.accuracy,
        n_params=row.n_params,
        macs=row.macs,
        cost_flops=row.cost_flops,
        wall_seconds=row.wall_seconds,
        epochs_run=row.epochs_run,
        attempts=row.attempts,
        error=row.error,
        learned_strides=learned,
        last_epoch=last,
    )


def _current_progress(session: Session, trial_ids: list[int]) -> dict[int, ReportList]:
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


def _last_progress(session: Session, trial_ids: list[int]) -> dict[int, ReportList]:
    """The latest report of the current attempt of each trial (one query for a page)."""
    found: dict[int, ReportList] = {i: [] for i in trial_ids}
    if not trial_ids:
        return found
    latest = (
        sa.select(sa.func.max(TrialEvent.id))
        .join(Trial, Trial.id == TrialEvent.trial_id)
        .where(TrialEvent.trial_id.in_(trial_ids), TrialEvent.attempt == Trial.attempts)
        .group_by(TrialEvent.trial_id)
    )
    rows = session.execute(
        sa.select(TrialEvent.trial_id, TrialEvent.report).where(TrialEvent.id.in_(latest))
    )
    for trial_id, report in rows:
        found[trial_id] = [EpochReport.model_validate(report)]
    return found


def insert_trials(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Bulk-insert trials, each row the ``trial`` columns plus its ``request`` and (optional)
    ``result`` documents (imports, benchmarks, tests; the service adds trials one at a time
    through ``SqlTrialStore.add``); their ids, in the order of ``rows``."""
    documents = ("request", "result")
    trials = [{k: v for k, v in row.items() if k not in documents} for row in rows]
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


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- trials -----------------------------------------------------------------------------------


class SqlTrialStore:
    """``workers.store.TrialStore`` over the database, for the trials of one job.

    ``worker`` names this process in the ``trial.worker`` column of the trials it runs.
    ``get`` returns the progress of the current attempt; ``trials`` returns it for unfinished
    trials only (a finished trial's epochs are in ``result.history``; see ``events``).
    """

    def __init__(self, factory: Factory, job_id: int, *, worker: str | None = None) -> None:
        self.factory = factory
        self.job_id = job_id
        self.worker = worker or _default_worker()

    def _trial(self, trial_id: int) -> sa.ColumnElement[bool]:
        return sa.and_(Trial.id == trial_id, Trial.job_id == self.job_id)

    def _exists(self, session: Session, trial_id: int) -> bool:
        found = session.scalar(sa.select(Trial.id).where(self._trial(trial_id)))
        return found is not None

    # ---- the TrialStore protocol ----------------------------------------------------------

    def add(self, request: TrialRequest) -> StoredTrial:
        """Store a new queued trial; ValueError when (strategy, number) is already stored."""
        dumped = _json(request)
        row = Trial(
            job_id=self.job_id,
            strategy=request.strategy,
            number=request.number,
            state="queued",
            spec=request.spec.to_string(),
            params=dumped["params"],
            attempts=0,
            document=TrialDocument(request=dumped),
        )
        try:
            with session_scope(self.factory) as session:
                version = _touch(session, self.job_id)
                if version is None:
                    raise _job_not_found(self.job_id)
                row.version = version
                session.add(row)
                session.flush()
        except IntegrityError:
            raise ValueError(f"trial {request.strategy}#{request.number} already stored") from None
        return StoredTrial(id=row.id, strategy=row.strategy, number=row.number, request=request)

    def mark_running(self, trial_id: int) -> None:
        """A new attempt starts: state running, attempts + 1, fresh progress and heartbeat."""
        now = utcnow()
        with session_scope(self.factory) as session:
            result = session.execute(
                sa.update(Trial)
                .where(self._trial(trial_id), Trial.state.not_in(FINISHED_STATES))
                .values(
                    state="running",
                    attempts=Trial.attempts + 1,
                    started_at=now,
                    heartbeat_at=now,
                    worker=self.worker,
                )
            )
            if not getattr(result, "rowcount", 0):
                if not self._exists(session, trial_id):
                    raise _trial_not_found(trial_id)
                raise ConflictError(f"trial {trial_id} already finished", field="trial_id")
            _touch(session, self.job_id, [trial_id])

    def record_progress(self, trial_id: int, report: EpochReport) -> None:
        """Store one epoch's report (a ``trial_event`` row) and refresh the heartbeat."""
        now = utcnow()
        with session_scope(self.factory) as session:
            result = session.execute(
                sa.update(Trial).where(self._trial(trial_id)).values(heartbeat_at=now)
            )
            if not getattr(result, "rowcount", 0):
                raise _trial_not_found(trial_id)
            attempt = sa.select(Trial.attempts).where(Trial.id == trial_id).scalar_subquery()
            session.execute(
                sa.insert(TrialEvent).values(
                    trial_id=trial_id,
                    job_id=self.job_id,
                    attempt=attempt,
                    epoch=report.epoch,
                    report=_json(report),
                    created_at=now,
                )
            )
            _touch(session, self.job_id, [trial_id])

    def finish(self, trial_id: int, result: TrialResult | None, error: str | None) -> None:
        """Store the outcome; a finished trial is never overwritten (idempotent)."""
        state = "failed" if result is None else ("pruned" if result.pruned else "completed")
        values: dict[str, Any] = {}
        if result is not None:
            values.update(
                accuracy=_number(result.accuracy),
                n_params=result.params,
                macs=result.macs,
                cost_flops=_number(result.cost_flops),
                wall_seconds=_number(result.wall_seconds),
                epochs_run=result.epochs_run,
            )
        document = _json(result) if result is not None else None
        self._end(trial_id, state, error, values, document)

    def skip(self, trial_id: int, reason: str) -> None:
        """Finished without running (``skipped``); idempotent like ``finish``."""
        self._end(trial_id, "skipped", reason, {}, None)

    def _end(
        self,
        trial_id: int,
        state: str,
        error: str | None,
        values: dict[str, Any],
        result: dict[str, Any] | None,
    ) -> None:
        """Finish the trial with ``values`` and its ``result`` document, in one transaction."""
        values = {**values, "state": state, "error": error, "finished_at": utcnow()}
        with session_scope(self.factory) as session:
            updated = session.execute(
                sa.update(Trial)
                .where(self._trial(trial_id), Trial.state.not_in(FINISHED_STATES))
                .values(**values)
            )
            if getattr(updated, "rowcount", 0):
                session.execute(
                    sa.update(TrialDocument)
                    .where(TrialDocument.trial_id == trial_id)
                    .values(result=result)
                )
                _touch(session, self.job_id, [trial_id])
            elif not self._exists(session, trial_id):
                raise _trial_not_found(trial_id)

    def get(self, trial_id: int) -> StoredTrial:
        with session_scope(self.factory) as session:
            row = session.execute(
                _select(_TRIAL_COLUMNS).where(self._trial(trial_id))
            ).one_or_none()
            if row is None:
                raise _trial_not_found(trial_id)
            progress = _current_progress(session, [trial_id])[trial_id]
            return _stored(row, progress)

    def trials(self) -> TrialList:
        """Every trial of the job, ordered by (strategy, number)."""
        with session_scope(self.factory) as session:
            rows = session.execute(_select(_TRIAL_COLUMNS).where(Trial.job_id == self.job_id)).all()
            unfinished = [r.id for r in rows if r.state not in FINISHED_STATES]
            progress = _current_progress(session, unfinished)
            stored = [_stored(r, progress.get(r.id, ())) for r in rows]
        return sorted(stored, key=lambda t: (t.strategy, t.number))

    # ---- liveness -------------------------------------------------------------------------

    def heartbeat(self, trial_id: int, worker: str | None = None) -> None:
        """The worker running ``trial_id`` is alive (and, when given, is ``worker``)."""
        values: dict[str, Any] = {"heartbeat_at": utcnow()}
        if worker is not None:
            values["worker"] = worker
        with session_scope(self.factory) as session:
            result = session.execute(sa.update(Trial).where(self._trial(trial_id)).values(values))
            if not getattr(result, "rowcount", 0):
                raise _trial_not_found(trial_id)

    def requeue_stale(self, older_than: timedelta) -> list[int]:
        """Running trials whose heartbeat is older than ``older_than`` go back to queued."""
        cutoff = utcnow() - older_than
        stale = sa.and_(
            Trial.job_id == self.job_id,
            Trial.state == "running",
            sa.func.coalesce(Trial.heartbeat_at, Trial.started_at, Trial.created_at) < cutoff,
        )
        with session_scope(self.factory) as session:
            ids = list(session.scalars(sa.select(Trial.id).where(stale).order_by(Trial.id)))
            if ids:
                session.execute(
                    sa.update(Trial)
                    .where(stale, Trial.id.in_(ids))
                    .values(state="queued", worker=None)
                )
                _touch(session, self.job_id, ids)
        return ids


# ---- jobs -------------------------------------------------------------------------------------


def _record(row: Job, counts: dict[str, int]) -> JobRecord:
    return JobRecord(
        id=row.id,
        name=row.name,
        state=row.state,  # a JobStateName by construction
        spec=JobSpec.model_validate(row.spec),
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        version=row.version,
        trial_counts=counts,
    )


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


def _records(session: Session, rows: Iterable[Job]) -> JobList:
    rows = list(rows)
    counts = _trial_counts(session, [r.id for r in rows])
    return [_record(r, counts[r.id]) for r in rows]


class JobRepository:
    """Jobs and read access to their trials."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory

    def create(self, spec: JobSpec) -> JobRecord:
        """Store a validated job, state ``queued``."""
        now = utcnow()
        row = Job(
            name=spec.name,
            state="queued",
            spec=_json(spec),
            created_at=now,
            updated_at=now,
            version=1,
        )
        with session_scope(self.factory) as session:
            session.add(row)
            session.flush()
            return _record(row, {})

    def get(self, job_id: int) -> JobRecord:
        with session_scope(self.factory) as session:
            row = session.get(Job, job_id)
            if row is None:
                raise _job_not_found(job_id)
            return _records(session, [row])[0]

    def set_state(self, job_id: int, state: str, error: str | None = None) -> JobRecord:
        """Move the job to ``state``; ConflictError (naming the current state) when illegal.

        queued -> running | cancelled; running -> completed | failed | cancelled | queued;
        completed, failed and cancelled are final.
        """
        if state not in JOB_STATES:
            raise OptionsError(
                f"unknown job state {state!r}; known: {', '.join(JOB_STATES)}", field="state"
            )
        while True:
            with session_scope(self.factory) as session:
                current = session.scalar(sa.select(Job.state).where(Job.id == job_id))
                if current is None:
                    raise _job_not_found(job_id)
                if state not in JOB_TRANSITIONS.get(current, frozenset()):
                    raise ConflictError(
                        f"job {job_id} is {current}: it cannot become {state}", field="state"
                    )
                now = utcnow()
                values: dict[str, Any] = {
                    "state": state,
                    "version": Job.version + 1,
                    "updated_at": now,
                }
                if state == "running":
                    values["started_at"] = sa.func.coalesce(Job.started_at, now)
                if state in TERMINAL_JOB_STATES:
                    values["finished_at"] = now
                if error is not None:
                    values["error"] = error
                # compare-and-set: a concurrent change makes this a no-op, and we look again
                result = session.execute(
                    sa.update(Job).where(Job.id == job_id, Job.state == current).values(values)
                )
                if getattr(result, "rowcount", 0):
                    break
        return self.get(job_id)

    def delete(self, job_id: int) -> None:
        """Delete a job with its trials and events; ConflictError while it runs."""
        with session_scope(self.factory) as session:
            result = session.execute(sa.delete(Job).where(Job.id == job_id, Job.state != "running"))
            if getattr(result, "rowcount", 0):
                return
            current = session.scalar(sa.select(Job.state).where(Job.id == job_id))
        if current is None:
            raise _job_not_found(job_id)
        raise ConflictError(f"job {job_id} is {current}: cancel it first", field="state")

    def require(self, job_id: int) -> None:
        """``NotFoundError`` (404) unless the job exists; one primary-key lookup."""
        with session_scope(self.factory) as session:
            if session.scalar(sa.select(Job.id).where(Job.id == job_id)) is None:
                raise _job_not_found(job_id)

    def runnable(self) -> JobList:
        """Jobs the scheduler should run (queued, or running ones left behind), oldest first."""
        with session_scope(self.factory) as session:
            rows = session.scalars(
                sa.select(Job).where(Job.state.in_(_UNFINISHED)).order_by(Job.created_at, Job.id)
            )
            return _records(session, rows)

    def trial_store(self, job_id: int) -> SqlTrialStore:
        """The ``TrialStore`` of one job (for the runner)."""
        return SqlTrialStore(self.factory, job_id)

    def _page(
        self,
        columns: tuple[Any, ...],
        job_id: int,
        strategy: str | None,
        state: str | None,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
    ) -> tuple[list[sa.Row[Any]], dict[int, ReportList], int]:
        """Rows of one page (sorted by ``sort``, NULLs last, ties by id), each row's latest
        progress report, and the total matching the filters."""
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise OptionsError(
                f"unknown sort key {sort!r}; known: {', '.join(SORT_COLUMNS)}", field="sort"
            )
        if offset < 0 or limit < 0:
            raise OptionsError("offset and limit must not be negative", field="limit")
        where = [Trial.job_id == job_id]
        if strategy is not None:
            where.append(Trial.strategy == strategy)
        if state is not None:
            where.append(Trial.state == state)
        ordered = column.desc() if descending else column.asc()
        with session_scope(self.factory) as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Trial).where(*where))
            # Sort narrow (id, key) rows first, then read the wide columns of one page only:
            # the documents are never touched for the rows the page skips.
            ids = list(
                session.scalars(
                    sa.select(Trial.id)
                    .where(*where)
                    .order_by(ordered.nulls_last(), Trial.id)
                    .offset(offset)
                    .limit(limit)
                )
            )
            found = {r.id: r for r in session.execute(_select(columns).where(Trial.id.in_(ids)))}
            rows = [found[i] for i in ids if i in found]
            latest = _last_progress(session, ids)
        return rows, latest, total or 0

    def trials_page(
        self,
        job_id: int,
        *,
        strategy: str | None = None,
        state: str | None = None,
        sort: str = "accuracy",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[TrialList, int]:
        """One page of a job's whole trials (requests and results), sorted by ``sort`` (NULLs
        last, ties by id), and the total matching the filters. Each trial carries only its
        latest progress report."""
        rows, latest, total = self._page(
            _TRIAL_COLUMNS, job_id, strategy, state, sort, descending, offset, limit
        )
        return [_stored(r, latest.get(r.id, ())) for r in rows], total

    def summaries_page(
        self,
        job_id: int,
        *,
        strategy: str | None = None,
        state: str | None = None,
        sort: str = "accuracy",
        descending: bool = True,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[TrialSummary], int]:
        """Like ``trials_page``, as ``TrialSummary`` rows read from columns only (no request
        or result documents parsed): what listings need, several times cheaper."""
        rows, latest, total = self._page(
            _SUMMARY_COLUMNS, job_id, strategy, state, sort, descending, offset, limit
        )
        return [_summary(r, _last(latest.get(r.id))) for r in rows], total

    def best_trial(self, job_id: int) -> StoredTrial | None:
        """The most accurate completed trial (ties: the first), or None; no counts, no
        progress: what ``/best``, the export and weight pruning need."""
        with session_scope(self.factory) as session:
            best_id = session.scalar(
                sa.select(Trial.id)
                .where(Trial.job_id == job_id, Trial.state == "completed")
                .order_by(Trial.accuracy.desc().nulls_last(), Trial.id)
                .limit(1)
            )
            if best_id is None:
                return None
            row = session.execute(_select(_TRIAL_COLUMNS).where(Trial.id == best_id)).one()
        return _stored(row)

    def pareto(self, job_id: int, cost: Literal["macs", "n_params"]) -> TrialList:
        """The completed trials on the accuracy-vs-``cost`` Pareto front, cheapest first (a
        sweep over three columns, then only the front's rows are read)."""
        column = SORT_COLUMNS[cost]
        with session_scope(self.factory) as session:
            # The sweep's running maximum as a window in SQL: only the points at least as
            # accurate as every cheaper one come back (a few), and one pass settles ties.
            order = (column.asc(), Trial.accuracy.desc(), Trial.id)
            ranked = (
                sa.select(
                    Trial.id,
                    Trial.accuracy,
                    column.label("cost"),
                    sa.func.max(Trial.accuracy)
                    .over(order_by=order, rows=(None, -1))
                    .label("best_before"),
                )
                .where(
                    Trial.job_id == job_id,
                    Trial.state == "completed",
                    Trial.accuracy.is_not(None),
                    column.is_not(None),
                )
                .subquery()
            )
            points = session.connection().execute(
                sa.select(ranked.c.id, ranked.c.accuracy, ranked.c.cost)
                .where(
                    sa.or_(
                        ranked.c.best_before.is_(None),
                        ranked.c.accuracy >= ranked.c.best_before,
                    )
                )
                .order_by(ranked.c.cost.asc(), ranked.c.accuracy.desc(), ranked.c.id)
            )
            ids = pareto_front(((r[0], r[1], r[2]) for r in points), presorted=True)
            rows = session.execute(_select(_TRIAL_COLUMNS).where(Trial.id.in_(ids))).all()
        by_id = {row.id: _stored(row) for row in rows}
        return [by_id[i] for i in ids]

    def progress(self, job_id: int) -> dict[str, Any]:
        """Trial counts per state and per strategy (every strategy of the job, zeros too)::

        {"job_id": 1, "state": "running", "total": 12,
         "states": {"queued": 0, "running": 2, "completed": 9, "pruned": 1, "failed": 0},
         "strategies": {"grid": {"queued": 0, ..., "total": 6}, ...}}
        """
        with session_scope(self.factory) as session:
            job = session.execute(
                sa.select(Job.state, Job.spec).where(Job.id == job_id)
            ).one_or_none()
            if job is None:
                raise _job_not_found(job_id)
            rows = session.execute(
                sa.select(Trial.strategy, Trial.state, sa.func.count())
                .where(Trial.job_id == job_id)
                .group_by(Trial.strategy, Trial.state)
            ).all()
        keys = [s.get("label") or s["name"] for s in job.spec.get("strategies", [])]
        states = dict.fromkeys(TRIAL_STATES, 0)
        strategies = {k: {**dict.fromkeys(TRIAL_STATES, 0), "total": 0} for k in keys}
        for strategy, state, n in rows:
            per = strategies.setdefault(strategy, {**dict.fromkeys(TRIAL_STATES, 0), "total": 0})
            per[state] = per.get(state, 0) + n
            per["total"] += n
            states[state] = states.get(state, 0) + n
        return {
            "job_id": job_id,
            "state": job.state,
            "total": sum(states.values()),
            "states": states,
            "strategies": strategies,
        }

    def events(self, trial_id: int, limit: int = 1000) -> ReportList:
        """The latest ``limit`` progress reports of the trial's current attempt, in order."""
        with session_scope(self.factory) as session:
            attempts = session.scalar(sa.select(Trial.attempts).where(Trial.id == trial_id))
            if attempts is None:
                raise _trial_not_found(trial_id)
            reports = session.scalars(
                sa.select(TrialEvent.report)
                .where(TrialEvent.trial_id == trial_id, TrialEvent.attempt == attempts)
                .order_by(TrialEvent.id.desc())
                .limit(limit)
            ).all()
        return [EpochReport.model_validate(r) for r in reversed(reports)]

    # Last: a method named ``list`` would shadow the builtin in the annotations above.
    def list(
        self, state: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[JobList, int]:
        """A page of jobs, newest first, and the total (optionally only those in ``state``)."""
        where = [Job.state == state] if state is not None else []
        with session_scope(self.factory) as session:
            total = session.scalar(sa.select(sa.func.count()).select_from(Job).where(*where))
            rows = session.scalars(
                sa.select(Job).where(*where).order_by(Job.id.desc()).offset(offset).limit(limit)
            )
            return _records(session, rows), total or 0
