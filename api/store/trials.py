"""``SqlTrialStore``: ``workers.jobs.store.TrialStore`` over the database, for one job's trials."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.db.models import Job, Trial, TrialDocument, TrialEvent, utcnow
from api.db.session import database_now, session_scope
from api.store.fence import bump_job
from api.store.rows import (
    TRIAL_COLUMNS,
    Factory,
    TrialList,
    as_json,
    current_progress,
    job_not_found,
    select_trials,
    sortable,
    stored_trial,
    trial_not_found,
)
from api.strides import strides_text
from nas.errors import ConflictError
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.executors.processes import bounded_log
from workers.jobs.store import (
    FINISHED_STATES,
    BudgetUse,
    Interruption,
    StoredTrial,
    TrialState,
)


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SqlTrialStore:
    """``workers.jobs.store.TrialStore`` over the database, for the trials of one job.

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
        self.worker = worker or lease_owner or default_worker()

    def _trial(self, trial_id: int) -> sa.ColumnElement[bool]:
        return sa.and_(Trial.id == trial_id, Trial.job_id == self.job_id)

    def _exists(self, session: Session, trial_id: int) -> bool:
        found = session.scalar(sa.select(Trial.id).where(self._trial(trial_id)))
        return found is not None

    # ---- the TrialStore protocol ----------------------------------------------------------

    def add(self, request: TrialRequest) -> StoredTrial:
        """Store a new queued trial; ValueError when (strategy, number) is already stored."""
        dumped = as_json(request)
        row = Trial(
            job_id=self.job_id,
            strategy=request.strategy,
            number=request.number,
            state=TrialState.QUEUED,
            spec=request.spec.to_string(),
            params=dumped["params"],
            attempts=0,
            document=TrialDocument(request=dumped),
        )
        try:
            with session_scope(self.factory) as session:
                row.version = self._bump(session)
                session.add(row)
                session.flush()
        except IntegrityError:
            raise ValueError(f"trial {request.strategy}#{request.number} already stored") from None
        return StoredTrial(id=row.id, strategy=row.strategy, number=row.number, request=request)

    def _bump(self, session: Session) -> int:
        """Bump (and so lock) the job row, fenced by the lease: the new version. Every write
        takes the job's row before any of its trials' rows (one lock order for the store, the
        claims, renewals and cancels: no deadlocks between servers)."""
        version = bump_job(session, self.job_id, owner=self.lease_owner)
        if version is None:
            raise job_not_found(self.job_id)
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
                    state=TrialState.RUNNING,
                    attempts=Trial.attempts + 1,
                    started_at=now,
                    heartbeat_at=now,
                    worker=self.worker,
                    version=version,
                )
            )
            if not getattr(result, "rowcount", 0):  # raising rolls the bump back
                if not self._exists(session, trial_id):
                    raise trial_not_found(trial_id)
                raise ConflictError(f"trial {trial_id} already finished", field="trial_id")

    def requeue(self, trial_id: int, why: Interruption) -> StoredTrial:
        """Its latest attempt ended through no fault of its own: back to queued, that attempt
        counted as ``why`` (not charged). A takeover of an attempt this store's own ``worker``
        ran is counted a free retry: no server died (this one dropped the job itself, while the
        database was away, and took it again)."""
        with session_scope(self.factory) as session:
            version = self._bump(session)
            if not self._requeue(session, self._trial(trial_id), why, version):
                if not self._exists(session, trial_id):
                    raise trial_not_found(trial_id)
                raise ConflictError(f"trial {trial_id} already finished", field="trial_id")
        return self.get(trial_id)

    def _requeue(
        self, session: Session, where: sa.ColumnElement[bool], why: Interruption, version: int
    ) -> int:
        """Put the unfinished trials ``where`` back to queued, each attempt counted as ``why``
        (``requeue``'s rule); how many."""
        counted: dict[str, Any] = {"free_retries": Trial.free_retries + 1}
        if why == Interruption.TAKEOVER:
            other = Trial.worker.is_distinct_from(self.worker)  # another server ran it
            counted = {
                "takeovers": Trial.takeovers + sa.case((other, 1), else_=0),
                "free_retries": Trial.free_retries + sa.case((other, 0), else_=1),
            }
        result = session.execute(
            sa.update(Trial)
            .where(where, Trial.state.not_in(FINISHED_STATES))
            .values(state=TrialState.QUEUED, worker=None, version=version, **counted)
        )
        return int(getattr(result, "rowcount", 0))

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
                raise trial_not_found(trial_id)
            attempt = sa.select(Trial.attempts).where(Trial.id == trial_id).scalar_subquery()
            session.execute(
                sa.insert(TrialEvent).values(
                    trial_id=trial_id,
                    job_id=self.job_id,
                    attempt=attempt,
                    epoch=report.epoch,
                    report=as_json(report),
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
        state = TrialState.of_result(result)
        values: dict[str, Any] = {}
        if result is not None:
            values.update(
                accuracy=sortable(result.accuracy),
                n_params=result.params,
                macs=result.macs,
                cost_flops=sortable(result.cost_flops),
                wall_seconds=sortable(result.wall_seconds),
                epochs_run=result.epochs_run,
            )
        document = as_json(result) if result is not None else None
        kept = bounded_log(log) if log is not None and result is None else None
        learned = result.learned_strides if result is not None else None
        self._end(trial_id, state, error, values, document, kept, learned)

    def skip(self, trial_id: int, reason: str) -> None:
        """Finished without running (``skipped``); idempotent like ``finish``."""
        self._end(trial_id, TrialState.SKIPPED, reason, {}, None)

    def _end(
        self,
        trial_id: int,
        state: str,
        error: str | None,
        values: dict[str, Any],
        result: dict[str, Any] | None,
        log: str | None = None,
        learned: Sequence[Any] | None = None,
    ) -> None:
        """Finish the trial with ``values`` and its ``result`` document, in one transaction;
        ``learned``: its learned strides, which its strides text shows from now on."""
        values = {**values, "state": state, "error": error, "finished_at": utcnow()}
        with session_scope(self.factory) as session:
            version = self._bump(session)
            if learned is not None:
                spec = session.scalar(sa.select(Trial.spec).where(self._trial(trial_id)))
                if spec is not None:
                    values["strides"] = strides_text(spec, learned)
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
                raise trial_not_found(trial_id)
            else:
                session.rollback()  # finished already: nothing changes, not even the version

    def record_budget(self, used: dict[str, BudgetUse]) -> None:
        """Keep each strategy's budget use in the job row (a change: the version moves)."""
        stored = {key: as_json(value) for key, value in used.items()}
        with session_scope(self.factory) as session:
            self._bump(session)
            session.execute(sa.update(Job).where(Job.id == self.job_id).values(budget_used=stored))

    def get(self, trial_id: int) -> StoredTrial:
        with session_scope(self.factory) as session:
            row = session.execute(
                select_trials(TRIAL_COLUMNS).where(self._trial(trial_id))
            ).one_or_none()
            if row is None:
                raise trial_not_found(trial_id)
            progress = current_progress(session, [trial_id])[trial_id]
            return stored_trial(row, progress)

    def trials(self) -> TrialList:
        """Every trial of the job, ordered by (strategy, number)."""
        with session_scope(self.factory) as session:
            rows = session.execute(
                select_trials(TRIAL_COLUMNS).where(Trial.job_id == self.job_id)
            ).all()
            unfinished = [r.id for r in rows if r.state not in FINISHED_STATES]
            progress = current_progress(session, unfinished)
            stored = [stored_trial(r, progress.get(r.id, ())) for r in rows]
        return sorted(stored, key=lambda t: (t.strategy, t.number))

    # ---- liveness -------------------------------------------------------------------------

    def requeue_stale(self, older_than: timedelta) -> list[int]:
        """Running trials whose heartbeat is older than ``older_than`` go back to queued, each
        counted a takeover (``requeue``'s rule): a server that takes the job over calls it, and
        the heartbeats of a dead server's trials stopped with its lease renewals
        (``JobRepository.renew``). The runner counts the rest of the running trials when it
        resumes them."""
        with session_scope(self.factory) as session:
            cutoff = database_now(session) - older_than
            stale = sa.and_(
                Trial.job_id == self.job_id,
                Trial.state == TrialState.RUNNING,
                sa.func.coalesce(Trial.heartbeat_at, Trial.started_at, Trial.created_at) < cutoff,
            )
            ids = list(session.scalars(sa.select(Trial.id).where(stale).order_by(Trial.id)))
            if ids:
                version = self._bump(session)
                self._requeue(
                    session, sa.and_(stale, Trial.id.in_(ids)), Interruption.TAKEOVER, version
                )
        return ids
