"""SQLAlchemy 2 typed ORM: jobs, their trials, the trials' progress events, API keys.

Portable types only (``sa.JSON``, timezone-aware ``DateTime``), so the same models serve the
embedded SQLite file and PostgreSQL. Constraint names follow ``NAMING_CONVENTION`` so Alembic
autogenerate is stable across backends. Datetimes are always timezone-aware UTC in Python.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from api.strides import strides_text
from workers.jobs.store import TRIAL_STATES as STORE_TRIAL_STATES
from workers.jobs.store import TrialState

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

TRIAL_STATES: tuple[str, ...] = STORE_TRIAL_STATES


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(sa.TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that always returns aware UTC datetimes.

    SQLite has no time zones: values are stored as naive UTC and made aware again on the way
    out; PostgreSQL stores ``timestamptz`` and its values are converted to UTC.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: sa.JSON(none_as_null=True),
    }


class Job(Base):
    """A comparison job: its validated spec (``JobSpec`` as JSON) and its lifecycle."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    state: Mapped[str] = mapped_column(sa.String(16), index=True)
    spec: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)
    """Bumped on every change to the job or any of its trials (for incremental clients)."""
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    """``JobSpec.priority``: servers claim higher priorities first."""
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))
    """The server running the job (``host:pid:token``); None when no server holds it."""
    lease_expires_at: Mapped[datetime | None]
    """When the owner's lease lapses unless renewed; then any server may take the job over."""
    budget_used: Mapped[dict[str, Any] | None]
    """Per strategy, its use of its budget share (``workers.jobs.store.BudgetUse`` as JSON)."""

    trials: Mapped[list[Trial]] = relationship(
        back_populates="job", cascade="all, delete-orphan", passive_deletes=True
    )


def _strides_of_spec(context: Any) -> str | None:
    """A new trial's strides text: its block string's (``api.strides.strides_text``)."""
    spec = context.get_current_parameters().get("spec")
    return strides_text(spec) if isinstance(spec, str) else None


class Trial(Base):
    """One trial of one strategy of a job: its state and denormalized metrics (its request and
    result documents are in ``TrialDocument``)."""

    __tablename__ = "trial"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "strategy", "number"),
        # A job's trials in id order, so also in table order: the leaderboard's first load
        # reads them sequentially (through the other job_id indexes, SQLite seeks each row).
        sa.Index("ix_trial_job_id", "job_id"),
        sa.Index("ix_trial_job_id_state", "job_id", "state"),
        sa.Index("ix_trial_job_id_accuracy", "job_id", "accuracy"),
        sa.Index("ix_trial_job_id_version", "job_id", "version"),
        # Sorting by a cost, and the Pareto sweep over it, read these alone (covering).
        sa.Index("ix_trial_job_id_macs", "job_id", "macs", "state", "accuracy"),
        sa.Index("ix_trial_job_id_n_params", "job_id", "n_params", "state", "accuracy"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(sa.ForeignKey("job.id", ondelete="CASCADE"))
    strategy: Mapped[str] = mapped_column(sa.String(64))
    number: Mapped[int]
    state: Mapped[str] = mapped_column(sa.String(16), default=TrialState.QUEUED)
    spec: Mapped[str] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]]
    accuracy: Mapped[float | None]
    n_params: Mapped[int | None] = mapped_column(sa.BigInteger)
    macs: Mapped[int | None] = mapped_column(sa.BigInteger)
    cost_flops: Mapped[float | None]
    wall_seconds: Mapped[float | None]
    epochs_run: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0)
    """Times it was started; the uncharged ones (``workers.jobs.store.Interruption``) follow."""
    takeovers: Mapped[int] = mapped_column(default=0, server_default="0")
    """Attempts cut short when the server running it died and another took the job over."""
    free_retries: Mapped[int] = mapped_column(default=0, server_default="0")
    """Attempts cut short otherwise through no fault of its own (Ray cluster lost, a release)."""
    worker: Mapped[str | None] = mapped_column(sa.String(200))
    heartbeat_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=0, server_default="0")
    """The job's ``version`` at this trial's last change (for incremental clients)."""
    strides: Mapped[str | None] = mapped_column(sa.Text, default=_strides_of_spec)
    """Its strides per stage as shown (``api.strides.strides_text``): the block string's when
    added, a DiffStride trial's learned ones once it finishes. Kept in the row so that a
    listing of 100,000 trials reads it rather than every result document."""
    copied_from: Mapped[int | None]
    """Warm start: the id of the trial (of another job) this one is a copy of."""

    job: Mapped[Job] = relationship(back_populates="trials")
    document: Mapped[TrialDocument] = relationship(
        back_populates="trial", cascade="all, delete-orphan", passive_deletes=True
    )


class TrialDocument(Base):
    """A trial's request and result (``TrialRequest``, ``TrialResult`` as JSON), a row per trial.

    Apart from ``trial`` so that the scans over its columns (the leaderboard's, the listings')
    read narrow rows: the documents are 90% of a trial's bytes.
    """

    __tablename__ = "trial_document"

    trial_id: Mapped[int] = mapped_column(
        sa.ForeignKey("trial.id", ondelete="CASCADE"), primary_key=True
    )
    request: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]
    log: Mapped[str | None] = mapped_column(sa.Text)
    """A failed trial's log: its worker's stderr tail and traceback (at most 64 kB)."""

    trial: Mapped[Trial] = relationship(back_populates="document")


class TrialEvent(Base):
    """One progress report (``EpochReport`` as JSON) of one attempt of a trial."""

    __tablename__ = "trial_event"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(sa.ForeignKey("trial.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int] = mapped_column(index=True)
    attempt: Mapped[int] = mapped_column(default=1)
    epoch: Mapped[int]
    report: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """A named API key, stored only as the SHA-256 hex digest of the key."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
