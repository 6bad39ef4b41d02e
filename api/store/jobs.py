"""``JobRepository``: jobs and their lifecycle (create, state changes, extend, cancel, delete),
with the lease methods (``api.store.leases``) and the read queries (``api.store.queries``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.db.models import Job, Trial, utcnow
from api.db.session import session_scope
from api.specs import stored_spec
from api.states import (
    JOB_STATES,
    JOB_TRANSITIONS,
    TERMINAL_JOB_STATES,
    UNFINISHED_JOB_STATES,
    UNFINISHED_TRIAL_STATES,
    JobState,
)
from api.store.fence import bump_job
from api.store.leases import Leases
from api.store.queries import JobQueries
from api.store.records import StoredJob
from api.store.rows import (
    CANCELLED,
    Factory,
    JobList,
    as_json,
    job_not_found,
    stored_job,
    stored_jobs,
)
from api.store.trials import SqlTrialStore
from api.store.warm_start import warm_start
from nas.errors import ConflictError, OptionsError
from nas.job import Budget, JobSpec, job_error_from
from workers.jobs.store import TrialState

MAX_EXTENSION = 1e30


class JobRepository(JobQueries, Leases):
    """Jobs and read access to their trials."""

    def __init__(self, factory: Factory) -> None:
        self.factory = factory

    def create(self, spec: JobSpec) -> StoredJob:
        """Store a validated job, state ``queued``."""
        now = utcnow()
        row = Job(
            name=spec.name,
            state=JobState.QUEUED,
            spec=as_json(spec),
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
                counts = warm_start(session, row.id, spec)
            return stored_job(row, counts)

    def get(self, job_id: int) -> StoredJob:
        with session_scope(self.factory) as session:
            row = session.get(Job, job_id)
            if row is None:
                raise job_not_found(job_id)
            return stored_jobs(session, [row])[0]

    def set_state(
        self, job_id: int, state: str, error: str | None = None, *, owner: str | None = None
    ) -> StoredJob:
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
        again). With ``owner`` the job must be running under its lease (``bump_job``'s fence)."""
        current = session.scalar(sa.select(Job.state).where(Job.id == job_id))
        if current is None:
            raise job_not_found(job_id)
        source = JobState.RUNNING if owner is not None else current
        if state not in JOB_TRANSITIONS.get(source, frozenset()):
            raise ConflictError(
                f"job {job_id} is {source}: it cannot become {state}", field="state"
            )
        now = utcnow()
        values: dict[str, Any] = {"state": state, "updated_at": now}
        if state == JobState.RUNNING:
            values["started_at"] = sa.func.coalesce(Job.started_at, now)
        if state in TERMINAL_JOB_STATES:
            values.update(finished_at=now, lease_owner=None, lease_expires_at=None)
        if error is not None:
            values["error"] = error
        # compare-and-set: a concurrent change makes this a no-op, and we look again
        version = bump_job(session, job_id, owner=owner, where=[Job.state == source], values=values)
        return version is not None

    def extend(
        self, job_id: int, more: float, max_trials_per_strategy: int | None = None
    ) -> StoredJob:
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
                    raise job_not_found(job_id)
                spec = stored_spec(row.spec, job_id)
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
                values: dict[str, Any] = {"spec": as_json(extended)}
                resumed = row.state in TERMINAL_JOB_STATES
                if resumed:
                    values.update(state=JobState.QUEUED, finished_at=None, error=None)
                version = bump_job(
                    session, job_id, where=[Job.version == row.version], values=values
                )
                if version is None:
                    continue  # changed meanwhile: look again
                if resumed:
                    session.execute(
                        sa.update(Trial)
                        .where(
                            Trial.job_id == job_id,
                            Trial.state == TrialState.FAILED,
                            Trial.error == CANCELLED,
                        )
                        .values(
                            state=TrialState.QUEUED, error=None, finished_at=None, version=version
                        )
                    )
                break
        return self.get(job_id)

    def cancel(self, job_id: int) -> StoredJob:
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
                        .values(state=TrialState.FAILED, error=CANCELLED, finished_at=utcnow())
                    )
                    bump_job(session, job_id, ids)
                break
        return self.get(job_id)

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
            raise job_not_found(job_id)
        raise ConflictError(f"job {job_id} is {current}: cancel it first", field="state")

    def runnable(self) -> JobList:
        """Jobs the scheduler should run (queued, or running ones left behind), oldest first."""
        with session_scope(self.factory) as session:
            rows = session.scalars(
                sa.select(Job)
                .where(Job.state.in_(UNFINISHED_JOB_STATES))
                .order_by(Job.created_at, Job.id)
            )
            return stored_jobs(session, rows)

    def trial_store(self, job_id: int, lease_owner: str | None = None) -> SqlTrialStore:
        """The ``TrialStore`` of one job (for the runner; fenced by ``lease_owner``'s lease)."""
        return SqlTrialStore(self.factory, job_id, lease_owner=lease_owner)

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
            return stored_jobs(session, rows), total or 0
