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
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from api.db.models import (
    Job,
    Trial,
    TrialDocument,
    TrialEvent,
    utcnow,
)
from api.db.session import database_now, session_scope
from api.pareto import pareto_front
from api.schemas.jobs import JobRecord
from api.schemas.trials import TrialLog, TrialSummary
from api.states import (
    JOB_STATES,
    JOB_TRANSITIONS,
    TERMINAL_JOB_STATES,
    UNFINISHED_JOB_STATES,
    UNFINISHED_TRIAL_STATES,
    JobState,
    count_by_strategy,
)
from api.targets import run_keys
from nas.errors import ConflictError, NasError, NotFoundError, OptionsError
from nas.job import Budget, JobSpec, job_error_from, strategy_key
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.processes import bounded_log
from workers.store import FINISHED_STATES, BudgetUse, StoredTrial

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
CANCELLED = "cancelled"
"""The error of the trials a cancel stopped (they run again when the job is extended)."""
MAX_EXTENSION = 1e30

Factory = sessionmaker[Session]


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


@dataclass(frozen=True)
class LeaseState:
    state: str
    owner: str | None
    budget: Budget


class LeaseLost(ConflictError):
    """A write of a server that no longer runs the job: another server holds its lease now, or
    the job is no longer running (cancelled, say). Nothing of the write is stored."""


def _lease_lost(session: Session, job_id: int, owner: str) -> NasError:
    row = session.execute(
        sa.select(Job.state, Job.lease_owner).where(Job.id == job_id)
    ).one_or_none()
    if row is None:
        return _job_not_found(job_id)
    if row.state != JobState.RUNNING:
        return LeaseLost(f"job {job_id} is {row.state}", field="state")
    holder = row.lease_owner or "no server"
    return LeaseLost(f"job {job_id} is held by {holder}, not {owner}", field="state")


def _touch(
    session: Session, job_id: int, trial_ids: Iterable[int] = (), owner: str | None = None
) -> int | None:
    """Bump the job's version and stamp ``trial_ids`` with it (``trial.version``, what
    incremental clients ask for); the new version, None when there is no such job.

    With ``owner`` the write is fenced: it happens only while the job is running under
    ``owner``'s lease, else ``LeaseLost`` (or NotFoundError) rolls the whole transaction back.
    The check and the bump are one UPDATE of the job row, so a concurrent claim (which updates
    the same row) is either before it (the write is refused) or after it."""
    bump = sa.update(Job).where(Job.id == job_id)
    if owner is not None:
        bump = bump.where(Job.lease_owner == owner, Job.state == JobState.RUNNING)
    version: int | None = session.scalar(
        bump.values(version=Job.version + 1, updated_at=utcnow()).returning(Job.version)
    )
    if version is None and owner is not None:
        raise _lease_lost(session, job_id, owner)
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
    Trial.copied_from,
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
        copied_from=row.copied_from,
    )


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
    TrialDocument.result["stride_readout"].label("stride_readout"),
    TrialDocument.result["test_accuracy"].label("test_accuracy"),
    Trial.copied_from,
)


def _last(reports: ReportList | None) -> EpochReport | None:
    return reports[-1] if reports else None


def _summary(row: sa.Row[Any], last: EpochReport | None) -> TrialSummary:
    """A ``TrialSummary`` from trusted columns, without revalidating them."""
    return TrialSummary.of_columns(row._mapping, last)


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
    With ``lease_owner`` (the server's scheduler) every write is fenced by the job's lease: it
    is stored only while the job runs under that owner's lease, else ``LeaseLost`` is raised and
    nothing changes; ``worker`` defaults to the owner.
    ``get`` returns the progress of the current attempt; ``trials`` returns it for unfinished
    trials only (a finished trial's epochs are in ``result.history``; see ``events``).
    """

    def __init__(
        self,
        factory: Factory,
        job_id: int,
        *,
        worker: str | None = None,
        lease_owner: str | None = None,
    ) -> None:
        self.factory = factory
        self.job_id = job_id
        self.lease_owner = lease_owner
        self.worker = worker or lease_owner or _default_worker()

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
                version = _touch(session, self.job_id, owner=self.lease_owner)
                if version is None:
                    raise _job_not_found(self.job_id)
                row.version = version
                session.add(row)
                session.flush()
        except IntegrityError:
            raise ValueError(f"trial {request.strategy}#{request.number} already stored") from None
        return StoredTrial(id=row.id, strategy=row.strategy, number=row.number, request=request)

    def _bump(self, session: Session) -> int:
        """Bump (and so lock) the job row, fenced by the lease: the new version. Every write
        takes the job's row before any of its trials' rows (one lock order for the store, the
        claims, renewals and cancels: no deadlocks between servers)."""
        version = _touch(session, self.job_id, owner=self.lease_owner)
        if version is None:
            raise _job_not_found(self.job_id)
        return version

    def mark_running(self, trial_id: int) -> None:
        """A new attempt starts: state running, attempts + 1, fresh progress and heartbeat."""
        now = utcnow()
        with session_scope(self.factory) as session:
            version = self._bump(session)
            result = session.execute(
                sa.update(Trial)
                .where(self._trial(trial_id), Trial.state.not_in(FINISHED_STATES))
                .values(
                    state="running",
                    attempts=Trial.attempts + 1,
                    started_at=now,
                    heartbeat_at=now,
                    worker=self.worker,
                    version=version,
                )
            )
            if not getattr(result, "rowcount", 0):  # raising rolls the bump back
                if not self._exists(session, trial_id):
                    raise _trial_not_found(trial_id)
                raise ConflictError(f"trial {trial_id} already finished", field="trial_id")

    def record_progress(self, trial_id: int, report: EpochReport) -> None:
        """Store one epoch's report (a ``trial_event`` row) and refresh the heartbeat."""
        now = utcnow()
        with session_scope(self.factory) as session:
            version = self._bump(session)
            result = session.execute(
                sa.update(Trial)
                .where(self._trial(trial_id))
                .values(heartbeat_at=now, version=version)
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

    def finish(
        self,
        trial_id: int,
        result: TrialResult | None,
        error: str | None,
        log: str | None = None,
    ) -> None:
        """Store the outcome, and a failure's ``log`` (cut to its last 64 kB; only failures
        keep one); a finished trial is never overwritten (idempotent)."""
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
        kept = bounded_log(log) if log is not None and result is None else None
        self._end(trial_id, state, error, values, document, kept)

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
        log: str | None = None,
    ) -> None:
        """Finish the trial with ``values`` and its ``result`` document, in one transaction."""
        values = {**values, "state": state, "error": error, "finished_at": utcnow()}
        with session_scope(self.factory) as session:
            version = self._bump(session)
            updated = session.execute(
                sa.update(Trial)
                .where(self._trial(trial_id), Trial.state.not_in(FINISHED_STATES))
                .values(**values, version=version)
            )
            if getattr(updated, "rowcount", 0):
                session.execute(
                    sa.update(TrialDocument)
                    .where(TrialDocument.trial_id == trial_id)
                    .values(result=result, log=log)
                )
            elif not self._exists(session, trial_id):
                raise _trial_not_found(trial_id)
            else:
                session.rollback()  # finished already: nothing changes, not even the version

    def record_budget(self, used: dict[str, BudgetUse]) -> None:
        """Keep each strategy's budget use in the job row (a change: the version moves)."""
        stored = {key: _json(value) for key, value in used.items()}
        with session_scope(self.factory) as session:
            self._bump(session)
            session.execute(sa.update(Job).where(Job.id == self.job_id).values(budget_used=stored))

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

    def requeue_stale(self, older_than: timedelta) -> list[int]:
        """Running trials whose heartbeat is older than ``older_than`` go back to queued (a
        server that takes the job over calls it: the heartbeats of a dead server's trials
        stopped with its lease renewals; ``JobRepository.renew``)."""
        with session_scope(self.factory) as session:
            cutoff = database_now(session) - older_than
            stale = sa.and_(
                Trial.job_id == self.job_id,
                Trial.state == "running",
                sa.func.coalesce(Trial.heartbeat_at, Trial.started_at, Trial.created_at) < cutoff,
            )
            ids = list(session.scalars(sa.select(Trial.id).where(stale).order_by(Trial.id)))
            if ids:
                version = self._bump(session)
                session.execute(
                    sa.update(Trial)
                    .where(stale, Trial.id.in_(ids))
                    .values(state="queued", worker=None, version=version)
                )
        return ids


# ---- jobs -------------------------------------------------------------------------------------


def _warm_start(session: Session, job_id: int, spec: JobSpec) -> dict[str, int]:
    """Copy into the new job ``job_id`` the known trials of the job ``spec.warm_start``: for
    each strategy with the same label, name and options in both, the longest run of its
    trials (by number, from 0) that completed, were pruned or failed (a cancelled or skipped
    one ends the run: it is not known). The copies keep their results and say where they come
    from (``copied_from``); the runner replays them free of charge. Their counts per state."""
    source_id = spec.warm_start
    source = session.execute(
        sa.select(Job.state, Job.spec).where(Job.id == source_id)
    ).one_or_none()
    if source is None:
        raise OptionsError(f"no job {source_id} to start from", field="warm_start")
    if source.state not in TERMINAL_JOB_STATES:
        raise OptionsError(
            f"job {source_id} is {source.state}: start from a finished job", field="warm_start"
        )
    theirs = JobSpec.model_validate(source.spec)
    for name, mine, other in (
        ("dataset", spec.dataset, theirs.dataset),
        ("base", spec.base_spec(), theirs.base_spec()),
        ("space", spec.space, theirs.space),
        ("train", spec.train, theirs.train),
        ("budget.epochs_per_trial", spec.budget.epochs_per_trial, theirs.budget.epochs_per_trial),
    ):
        if mine != other:
            raise OptionsError(
                f"job {source_id} has another {name}: its trials do not apply here",
                field="warm_start",
            )
    shared = [c.key for c in spec.strategies if c in theirs.strategies]
    rows = session.execute(
        sa.select(
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
            Trial.error,
            Trial.attempts,
            Trial.started_at,
            Trial.finished_at,
            TrialDocument.request,
            TrialDocument.result,
        )
        .join_from(Trial, TrialDocument)
        .where(Trial.job_id == source_id, Trial.strategy.in_(shared))
        .order_by(Trial.strategy, Trial.number)
    ).all()
    known = {"completed", "pruned", "failed"}
    copies: list[dict[str, Any]] = []
    expected: dict[str, int] = {}
    now = utcnow()
    for row in rows:
        if row.number != expected.get(row.strategy, 0):
            continue  # after the end of this strategy's known run
        if row.state not in known or row.error == CANCELLED:
            expected[row.strategy] = -1  # the run ends here
            continue
        expected[row.strategy] = row.number + 1
        copies.append(
            {
                "job_id": job_id,
                "strategy": row.strategy,
                "number": row.number,
                "state": row.state,
                "spec": row.spec,
                "params": row.params,
                "accuracy": row.accuracy,
                "n_params": row.n_params,
                "macs": row.macs,
                "cost_flops": row.cost_flops,
                "wall_seconds": row.wall_seconds,
                "epochs_run": row.epochs_run,
                "error": row.error,
                "attempts": row.attempts,
                "created_at": now,
                "started_at": row.started_at,
                "finished_at": row.finished_at,
                "version": 1,
                "copied_from": row.id,
                "request": row.request,
                "result": row.result,
            }
        )
    if copies:
        insert_trials(session, copies)
    counts: dict[str, int] = {}
    for copy in copies:
        counts[copy["state"]] = counts.get(copy["state"], 0) + 1
    return counts


def _record(row: Job, counts: dict[str, int]) -> JobRecord:
    return JobRecord(
        id=row.id,
        name=row.name,
        state=JobState(row.state),
        spec=JobSpec.model_validate(row.spec),
        error=row.error,
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        version=row.version,
        priority=row.priority,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        budget=_budget(row.budget_used),
        trial_counts=counts,
    )


def _budget(stored: dict[str, Any] | None) -> dict[str, BudgetUse] | None:
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
            state=JobState.QUEUED,
            spec=_json(spec),
            created_at=now,
            updated_at=now,
            version=1,
            priority=spec.priority,
        )
        with session_scope(self.factory) as session:
            session.add(row)
            session.flush()
            counts: dict[str, int] = {}
            if spec.warm_start is not None:
                counts = _warm_start(session, row.id, spec)
            return _record(row, counts)

    def get(self, job_id: int) -> JobRecord:
        with session_scope(self.factory) as session:
            row = session.get(Job, job_id)
            if row is None:
                raise _job_not_found(job_id)
            return _records(session, [row])[0]

    def set_state(
        self, job_id: int, state: str, error: str | None = None, *, owner: str | None = None
    ) -> JobRecord:
        """Move the job to ``state``; ConflictError (naming the current state) when illegal.

        queued -> running | cancelled; running -> completed | failed | cancelled | queued;
        completed, failed and cancelled are final (and hold no lease). With ``owner`` (a
        scheduler ending the job it runs) the change is fenced by the lease: ``LeaseLost``
        unless the job runs under ``owner``'s lease.
        """
        if state not in JOB_STATES:
            raise OptionsError(
                f"unknown job state {state!r}; known: {', '.join(JOB_STATES)}", field="state"
            )
        while True:
            with session_scope(self.factory) as session:
                if self._set_state(session, job_id, state, error, owner):
                    break
        return self.get(job_id)

    @staticmethod
    def _set_state(
        session: Session, job_id: int, state: str, error: str | None, owner: str | None
    ) -> bool:
        """One compare-and-set of the job's state; False when it changed meanwhile (look
        again)."""
        row = session.execute(
            sa.select(Job.state, Job.lease_owner).where(Job.id == job_id)
        ).one_or_none()
        if row is None:
            raise _job_not_found(job_id)
        current = row.state
        if owner is not None and (current != JobState.RUNNING or row.lease_owner != owner):
            raise _lease_lost(session, job_id, owner)
        if state not in JOB_TRANSITIONS.get(current, frozenset()):
            raise ConflictError(
                f"job {job_id} is {current}: it cannot become {state}", field="state"
            )
        now = utcnow()
        values: dict[str, Any] = {"state": state, "version": Job.version + 1, "updated_at": now}
        if state == JobState.RUNNING:
            values["started_at"] = sa.func.coalesce(Job.started_at, now)
        if state in TERMINAL_JOB_STATES:
            values.update(finished_at=now, lease_owner=None, lease_expires_at=None)
        if error is not None:
            values["error"] = error
        # compare-and-set: a concurrent change makes this a no-op, and we look again
        where = [Job.id == job_id, Job.state == current]
        if owner is not None:
            where.append(Job.lease_owner == owner)
        result = session.execute(sa.update(Job).where(*where).values(values))
        return bool(getattr(result, "rowcount", 0))

    def extend(
        self, job_id: int, more: float, max_trials_per_strategy: int | None = None
    ) -> JobRecord:
        """Add ``more`` to the job's budget (in its unit), and optionally raise its trials per
        strategy. A finished, failed or cancelled job goes back to ``queued`` (the trials a
        cancel stopped run again) and a server resumes it: its strategies replay what they
        ran. A queued or running job just has the bigger budget (its server takes it up)."""
        if not (0 < more <= MAX_EXTENSION):
            raise OptionsError(f"must be in (0, {MAX_EXTENSION:g}]", field="budget")
        while True:
            with session_scope(self.factory) as session:
                row = session.execute(
                    sa.select(Job.state, Job.spec, Job.version).where(Job.id == job_id)
                ).one_or_none()
                if row is None:
                    raise _job_not_found(job_id)
                spec = JobSpec.model_validate(row.spec)
                budget = spec.budget.model_dump()
                budget["total"] = spec.budget.total + more
                if max_trials_per_strategy is not None:
                    if max_trials_per_strategy < spec.budget.max_trials_per_strategy:
                        raise OptionsError(
                            f"the job already allows {spec.budget.max_trials_per_strategy}: "
                            "extend raises it, never lowers it",
                            field="max_trials_per_strategy",
                        )
                    budget["max_trials_per_strategy"] = max_trials_per_strategy
                try:
                    extended = spec.model_copy(update={"budget": Budget.model_validate(budget)})
                except ValidationError as exc:
                    error = job_error_from(exc)
                    raise OptionsError(error.message, field=f"budget.{error.field}") from None
                values: dict[str, Any] = {
                    "spec": _json(extended),
                    "version": Job.version + 1,
                    "updated_at": utcnow(),
                }
                resumed = row.state in TERMINAL_JOB_STATES
                if resumed:
                    values.update(state=JobState.QUEUED, finished_at=None, error=None)
                version = session.scalar(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.version == row.version)
                    .values(values)
                    .returning(Job.version)
                )
                if version is None:
                    continue  # changed meanwhile: look again
                if resumed:
                    session.execute(
                        sa.update(Trial)
                        .where(
                            Trial.job_id == job_id,
                            Trial.state == "failed",
                            Trial.error == CANCELLED,
                        )
                        .values(state="queued", error=None, finished_at=None, version=version)
                    )
                break
        return self.get(job_id)

    def complete(self, job_id: int, owner: str, budget: Budget) -> Budget | None:
        """A scheduler's job ran out of things to do under ``budget``: mark it completed
        (fenced by ``owner``'s lease) unless its budget was extended meanwhile; then the new
        budget (the job goes on), else None."""
        while True:
            with session_scope(self.factory) as session:
                row = session.execute(
                    sa.select(Job.spec, Job.version).where(Job.id == job_id)
                ).one_or_none()
                if row is None:
                    raise _job_not_found(job_id)
                stored = JobSpec.model_validate(row.spec).budget
                if stored != budget:
                    return stored
                now = utcnow()
                done = session.execute(
                    sa.update(Job)
                    .where(
                        Job.id == job_id,
                        Job.version == row.version,
                        Job.state == JobState.RUNNING,
                        Job.lease_owner == owner,
                    )
                    .values(
                        state=JobState.COMPLETED,
                        version=Job.version + 1,
                        updated_at=now,
                        finished_at=now,
                        lease_owner=None,
                        lease_expires_at=None,
                    )
                )
                if getattr(done, "rowcount", 0):
                    return None
                current = session.execute(
                    sa.select(Job.state, Job.lease_owner, Job.version).where(Job.id == job_id)
                ).one()
                if current.state != JobState.RUNNING or current.lease_owner != owner:
                    raise _lease_lost(session, job_id, owner)
                # else the version moved (a trial write, an extension): look again

    def cancel(self, job_id: int) -> JobRecord:
        """Cancel a queued or running job: in one transaction it becomes ``cancelled`` and its
        unfinished trials ``failed`` ("cancelled"). The server running it sees the state at
        its next look (its later writes are refused), kills the trials' workers and lets the
        lease go. ConflictError when the job already ended."""
        while True:
            with session_scope(self.factory) as session:
                if not self._set_state(session, job_id, JobState.CANCELLED, None, None):
                    continue
                ids = list(
                    session.scalars(
                        sa.select(Trial.id).where(
                            Trial.job_id == job_id, Trial.state.in_(UNFINISHED_TRIAL_STATES)
                        )
                    )
                )
                if ids:
                    session.execute(
                        sa.update(Trial)
                        .where(Trial.id.in_(ids), Trial.state.in_(UNFINISHED_TRIAL_STATES))
                        .values(state="failed", error=CANCELLED, finished_at=utcnow())
                    )
                    _touch(session, job_id, ids)
                break
        return self.get(job_id)

    # ---- leases: which server runs which job ----------------------------------------------

    def claim(
        self,
        owner: str,
        lease: timedelta,
        limit: int = 1,
        exclude: Collection[int] = (),
    ) -> list[JobRecord]:
        """Take the leases of up to ``limit`` runnable jobs (queued, or running with no live
        lease: their server died or let go), highest priority first, then oldest; a queued
        job becomes running. Atomic across servers: on PostgreSQL the candidate rows are
        locked (``SELECT ... FOR UPDATE SKIP LOCKED``: a row another server is claiming is
        skipped, not waited for), and on both backends the lease is taken by a conditional
        UPDATE that succeeds only while the lease is still free, so one claimer wins each job.
        ``exclude``: jobs this server already runs."""
        if limit < 1:
            return []
        with session_scope(self.factory) as session:
            now = database_now(session)
            free = sa.or_(
                Job.lease_owner.is_(None), Job.lease_expires_at < now, Job.lease_owner == owner
            )
            candidates = (
                sa.select(Job.id)
                .where(Job.state.in_(UNFINISHED_JOB_STATES), free, Job.id.not_in(list(exclude)))
                .order_by(Job.priority.desc(), Job.created_at, Job.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            won: list[int] = []
            for job_id in session.scalars(candidates).all():
                taken = session.execute(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.state.in_(UNFINISHED_JOB_STATES), free)
                    .values(
                        lease_owner=owner,
                        lease_expires_at=now + lease,
                        state=JobState.RUNNING,
                        started_at=sa.func.coalesce(Job.started_at, now),
                        version=Job.version + 1,
                        updated_at=now,
                    )
                )
                if getattr(taken, "rowcount", 0):
                    won.append(job_id)
            rows = session.scalars(sa.select(Job).where(Job.id.in_(won)))
            by_id = {r.id: r for r in _records(session, rows)}
        return [by_id[i] for i in won if i in by_id]

    def renew(self, owner: str, job_ids: Collection[int], lease: timedelta) -> set[int]:
        """Extend ``owner``'s leases of ``job_ids`` and refresh the heartbeats of their running
        trials; the ids still held (a job missing here was taken over, or ended)."""
        if not job_ids:
            return set()
        with session_scope(self.factory) as session:
            now = database_now(session)
            held = set(
                session.scalars(
                    sa.update(Job)
                    .where(
                        Job.id.in_(list(job_ids)),
                        Job.lease_owner == owner,
                        Job.state == JobState.RUNNING,
                    )
                    .values(lease_expires_at=now + lease)
                    .returning(Job.id)
                )
            )
            if held:
                session.execute(
                    sa.update(Trial)
                    .where(Trial.job_id.in_(held), Trial.state == "running")
                    .values(heartbeat_at=now)
                )
        return held

    def release(self, owner: str, job_ids: Collection[int]) -> None:
        """Let ``owner``'s leases of ``job_ids`` go (a server shutting down): their running
        trials go back to queued, and another server may take the jobs at once."""
        if not job_ids:
            return
        with session_scope(self.factory) as session:
            held = list(
                session.scalars(
                    sa.update(Job)
                    .where(Job.id.in_(list(job_ids)), Job.lease_owner == owner)
                    .values(lease_owner=None, lease_expires_at=None)
                    .returning(Job.id)
                )
            )
            for job_id in held:
                ids = list(
                    session.scalars(
                        sa.select(Trial.id).where(Trial.job_id == job_id, Trial.state == "running")
                    )
                )
                if ids:
                    session.execute(
                        sa.update(Trial)
                        .where(Trial.id.in_(ids), Trial.state == "running")
                        .values(state="queued", worker=None)
                    )
                    _touch(session, job_id, ids)

    def lease_states(self, job_ids: Collection[int]) -> dict[int, LeaseState]:
        """State, lease owner and budget of each of ``job_ids`` that still exists (what a
        scheduler checks of the jobs it runs)."""
        if not job_ids:
            return {}
        with session_scope(self.factory) as session:
            rows = session.execute(
                sa.select(
                    Job.id, Job.state, Job.lease_owner, Job.spec["budget"].label("budget")
                ).where(Job.id.in_(list(job_ids)))
            )
            return {
                r.id: LeaseState(r.state, r.lease_owner, Budget.model_validate(r.budget))
                for r in rows
            }

    def delete(self, job_id: int) -> None:
        """Delete a job with its trials and events; ConflictError while it runs."""
        with session_scope(self.factory) as session:
            result = session.execute(
                sa.delete(Job).where(Job.id == job_id, Job.state != JobState.RUNNING)
            )
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
                sa.select(Job)
                .where(Job.state.in_(UNFINISHED_JOB_STATES))
                .order_by(Job.created_at, Job.id)
            )
            return _records(session, rows)

    def trial_store(self, job_id: int, lease_owner: str | None = None) -> SqlTrialStore:
        """The ``TrialStore`` of one job (for the runner; fenced by ``lease_owner``'s lease)."""
        return SqlTrialStore(self.factory, job_id, lease_owner=lease_owner)

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

    def summaries_after(self, job_id: int, after: int, limit: int) -> list[TrialSummary]:
        """Up to ``limit`` of the job's trials with ids above ``after``, by id, as
        ``TrialSummary`` rows (no progress reports): an export reads a job in such pages."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                _select(_SUMMARY_COLUMNS)
                .where(Trial.job_id == job_id, Trial.id > after)
                .order_by(Trial.id)
                .limit(limit)
            ).all()
        return [_summary(r, None) for r in rows]

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
        sweep over three columns, then only the front's rows are read). The rule is
        ``api.pareto``'s; the SQL window only drops points it would drop (proof there)."""
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
                sa.select(Job.state, Job.spec, Job.budget_used).where(Job.id == job_id)
            ).one_or_none()
            if job is None:
                raise _job_not_found(job_id)
            rows = session.execute(
                sa.select(Trial.strategy, Trial.state, sa.func.count())
                .where(Trial.job_id == job_id)
                .group_by(Trial.strategy, Trial.state)
            ).all()
        keys = run_keys(
            [strategy_key(s) for s in job.spec.get("strategies", [])],
            int(job.spec.get("repeats") or 1),
        )
        states, strategies = count_by_strategy(keys, rows)
        budget = _budget(job.budget_used)
        return {
            "job_id": job_id,
            "state": job.state,
            "total": sum(states.values()),
            "states": states,
            "strategies": strategies,
            "budget": budget,
            "budget_used": {k: b.fraction for k, b in budget.items()} if budget else None,
        }

    def trial_log(self, job_id: int, trial_id: int) -> TrialLog:
        """A trial's error and log; NotFoundError for an unknown job, or a trial of another."""
        with session_scope(self.factory) as session:
            if session.scalar(sa.select(Job.id).where(Job.id == job_id)) is None:
                raise _job_not_found(job_id)
            row = session.execute(
                sa.select(
                    Trial.id,
                    Trial.strategy,
                    Trial.number,
                    Trial.state,
                    Trial.attempts,
                    Trial.error,
                    TrialDocument.log,
                )
                .join_from(Trial, TrialDocument)
                .where(Trial.id == trial_id, Trial.job_id == job_id)
            ).one_or_none()
        if row is None:
            raise NotFoundError(f"no trial {trial_id} in job {job_id}", field="trial_id")
        return TrialLog(
            job_id=job_id,
            trial=row.id,
            strategy=row.strategy,
            number=row.number,
            state=row.state,
            attempts=row.attempts,
            error=row.error,
            log=row.log,
        )

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
