"""The one write of a job row (``bump_job``: its version moves) and the lease fence on it.

Every change to a job or to its trials bumps the job's ``version`` through ``bump_job``. A
scheduler's writes pass its ``owner``: then the same UPDATE requires the job to be running under
that owner's lease (``held_by``), and when it is not, ``LeaseLost`` says why (``refusal``) and
the transaction stores nothing. The check and the bump are one UPDATE of the job row, so a
concurrent claim (which updates the same row) is either before it (the write is refused) or
after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.db.models import Job, Trial, utcnow
from api.states import JobState
from api.store.rows import job_not_found
from nas.errors import ConflictError, NasError


class LeaseLost(ConflictError):
    """A write of a server that no longer runs the job: another server holds its lease now, or
    the job is no longer running (cancelled, say). Nothing of the write is stored."""


def held_by(owner: str) -> sa.ColumnElement[bool]:
    """The job row is running under ``owner``'s lease (in SQL)."""
    return sa.and_(Job.state == JobState.RUNNING, Job.lease_owner == owner)


def refusal(session: Session, job_id: int, owner: str) -> NasError | None:
    """Why ``owner`` may not write the job: there is no such job, it is not running, or another
    server (or none) holds its lease; None while ``owner`` holds it."""
    row = session.execute(
        sa.select(Job.state, Job.lease_owner).where(Job.id == job_id)
    ).one_or_none()
    if row is None:
        return job_not_found(job_id)
    if row.state != JobState.RUNNING:
        return LeaseLost(f"job {job_id} is {row.state}", field="state")
    if row.lease_owner != owner:
        holder = row.lease_owner or "no server"
        return LeaseLost(f"job {job_id} is held by {holder}, not {owner}", field="state")
    return None


def bump_job(
    session: Session,
    job_id: int,
    trial_ids: Iterable[int] = (),
    *,
    owner: str | None = None,
    where: Iterable[sa.ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
) -> int | None:
    """Bump the job's version (setting ``values`` too) and stamp ``trial_ids`` with it
    (``trial.version``, what incremental clients ask for); the new version.

    ``where``: more conditions on the job row (a compare-and-set). With ``owner`` the write is
    fenced: when the job does not run under ``owner``'s lease, ``LeaseLost`` (or
    ``NotFoundError``) rolls the whole transaction back. None when nothing was written for
    another reason: there is no such job (without ``owner``), or a ``where`` condition no
    longer holds (the row changed meanwhile: look again)."""
    bump = sa.update(Job).where(Job.id == job_id, *where)
    if owner is not None:
        bump = bump.where(held_by(owner))
    changes = {"version": Job.version + 1, "updated_at": utcnow(), **(values or {})}
    version: int | None = session.scalar(bump.values(changes).returning(Job.version))
    if version is None:
        if owner is not None and (error := refusal(session, job_id, owner)) is not None:
            raise error
        return None
    ids = list(trial_ids)
    if ids:
        session.execute(sa.update(Trial).where(Trial.id.in_(ids)).values(version=version))
    return version
