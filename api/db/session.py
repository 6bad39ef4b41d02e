"""Engines, sessions and migrations: the one place that talks to a database driver.

``make_engine(url)`` tunes each backend (SQLite: WAL, foreign keys, busy timeout, usable from
several threads; PostgreSQL: pre-ping), ``session_scope(factory)`` is the one transaction
helper, and ``upgrade_database(url)`` runs the Alembic migrations to ``head``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = ROOT / "alembic.ini"
MIGRATIONS = ROOT / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_POOL_SIZE = 16
"""SQLite connections kept open (and as many more opened while busier): a file's connections
are cheap to keep, unlike a server's."""


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` with the per-backend settings the service relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        connect_args.update(kwargs.pop("connect_args", {}))
        if parsed.database in (None, "", ":memory:"):
            kwargs.setdefault("poolclass", sa.pool.StaticPool)  # one in-memory database
        elif "poolclass" not in kwargs:
            # Keep as many connections as requests run at once: past the pool size each
            # connection is opened (with its PRAGMAs) and closed again per request, which
            # cost an eighth of a loaded server's time (bench/reliability.py's load row).
            kwargs.setdefault("pool_size", SQLITE_POOL_SIZE)
            kwargs.setdefault("max_overflow", SQLITE_POOL_SIZE)
        engine = sa.create_engine(parsed, connect_args=connect_args, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_on_connect)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(parsed, **kwargs)


def database_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (down, refused, connection lost,
    pool exhausted), as opposed to a bad query."""
    if isinstance(exc, OperationalError | PoolTimeoutError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def database_now(session: Session) -> datetime:
    """The time leases are measured by: PostgreSQL's clock (one clock for every server on the
    database, whatever their own clocks say), this machine's for SQLite (a file on one
    machine)."""
    if session.get_bind().dialect.name == "postgresql":
        now: datetime | None = session.scalar(sa.select(sa.func.clock_timestamp()))
        if now is not None:
            return now.astimezone(UTC)
    return datetime.now(UTC)


def alembic_config(url: str) -> Config:
    """Alembic's configuration for ``url``, found relative to this package (not the cwd)."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': escape it (URL-encoded passwords contain it).
    rendered = make_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    config.attributes["configure_logger"] = False  # leave the caller's logging alone
    return config


MIGRATION_LOCK = 0x6E6173  # PostgreSQL advisory lock key: one migrating server at a time


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (default: the latest migration).

    On PostgreSQL under an advisory lock: replicas starting together (``docker compose up``
    with two API servers) migrate one after the other; the later ones find nothing to do."""
    if make_url(url).get_backend_name() != "postgresql":
        command.upgrade(alembic_config(url), revision)
        return
    engine = sa.create_engine(make_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as lock:
            lock.execute(sa.select(sa.func.pg_advisory_lock(MIGRATION_LOCK)))
            try:
                command.upgrade(alembic_config(url), revision)
            finally:
                lock.execute(sa.select(sa.func.pg_advisory_unlock(MIGRATION_LOCK)))
    finally:
        engine.dispose()
