"""Leases: which server runs which job (``JobRepository``'s claims, renewals, releases, and the
fenced completion of a job). The fence every write passes is ``api.store.fence``."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from api.db.models import Job, Trial, utcnow
from api.db.session import database_now, session_scope
from api.specs import stored_spec
from api.states import UNFINISHED_JOB_STATES, JobState
from api.store.fence import bump_job, held_by
from api.store.records import StoredJob
from api.store.rows import Factory, job_not_found, stored_jobs
from nas.job import Budget
from workers.jobs.store import TrialState


@dataclass(frozen=True)
class LeaseState:
    state: str
    owner: str | None
    budget: Budget


class Leases:
    """The lease methods of ``JobRepository`` (over its ``factory``)."""

    factory: Factory

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
                    raise job_not_found(job_id)
                stored = stored_spec(row.spec, job_id).budget
                if stored != budget:
                    return stored
                now = utcnow()
                done = bump_job(
                    session,
                    job_id,
                    owner=owner,
                    where=[Job.version == row.version],
                    values={
                        "state": JobState.COMPLETED,
                        "updated_at": now,
                        "finished_at": now,
                        "lease_owner": None,
                        "lease_expires_at": None,
                    },
                )
                if done is not None:
                    return None
                # still ours, but the job changed meanwhile (extended?): look again

    def claim(
        self,
        owner: str,
        lease: timedelta,
        limit: int = 1,
        exclude: Collection[int] = (),
    ) -> list[StoredJob]:
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
            by_id = {r.id: r for r in stored_jobs(session, rows)}
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
                    .where(Job.id.in_(list(job_ids)), held_by(owner))
                    .values(lease_expires_at=now + lease)
                    .returning(Job.id)
                )
            )
            if held:
                session.execute(
                    sa.update(Trial)
                    .where(Trial.job_id.in_(held), Trial.state == TrialState.RUNNING)
                    .values(heartbeat_at=now)
                )
        return held

    def release(self, owner: str, job_ids: Collection[int]) -> None:
        """Let ``owner``'s leases of ``job_ids`` go (a server shutting down): their running
        trials go back to queued, each attempt cut short counted a free retry (not charged), and
        another server may take the jobs at once."""
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
                        sa.select(Trial.id).where(
                            Trial.job_id == job_id, Trial.state == TrialState.RUNNING
                        )
                    )
                )
                if ids:
                    session.execute(
                        sa.update(Trial)
                        .where(Trial.id.in_(ids), Trial.state == TrialState.RUNNING)
                        .values(
                            state=TrialState.QUEUED,
                            worker=None,
                            free_retries=Trial.free_retries + 1,  # a free retry: not charged
                        )
                    )
                    bump_job(session, job_id, ids)

    def lease_states(self, job_ids: Collection[int]) -> dict[int, LeaseState]:
        """State, lease owner and budget of each of ``job_ids`` that still exists (what a
        scheduler checks of the jobs it runs)."""
        if not job_ids:
            return {}
        with session_scope(self.factory) as session:
            rows = session.execute(
                sa.select(Job.id, Job.state, Job.lease_owner, Job.spec).where(
                    Job.id.in_(list(job_ids))
                )
            )
            return {
                r.id: LeaseState(r.state, r.lease_owner, stored_spec(r.spec, r.id).budget)
                for r in rows
            }
