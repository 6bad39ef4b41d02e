"""Databases for the service's tests: each test gets a fresh SQLite file or PostgreSQL database.

PostgreSQL is the local server (``NAS_TEST_POSTGRES_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``): every test creates its own database
``nas_test_<random>`` there and drops it afterwards. When the server is unreachable the
PostgreSQL cases are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from api.db.session import make_engine, session_factory, upgrade_database
from api.store import JobRepository
from tests.api.harness import Harness

POSTGRES_ADMIN_URL = os.environ.get(
    "NAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
BACKENDS = ["sqlite", "postgresql"]

MakeDatabase = Callable[[str], str]


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string for psycopg."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """The admin URL of the local PostgreSQL server; skip (fail under CI) when unreachable."""
    try:
        psycopg.connect(_libpq(POSTGRES_ADMIN_URL), connect_timeout=3).close()
    except psycopg.Error as exc:
        shown = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        message = f"PostgreSQL unreachable at {shown} ({type(exc).__name__}: {exc})".strip()
        if IN_CI:
            pytest.fail(
                f"{message}; CI=true needs a reachable server (NAS_TEST_POSTGRES_URL)",
                pytrace=False,
            )
        pytest.skip(message)
    return POSTGRES_ADMIN_URL


@pytest.fixture
def make_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MakeDatabase]:
    """``make_database("sqlite" | "postgresql") -> url`` of a new, empty database; every
    PostgreSQL database made is dropped (``WITH (FORCE)``) when the test ends."""
    created: list[tuple[str, str]] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path / f'nas-{uuid.uuid4().hex[:8]}.db'}"
        if backend != "postgresql":
            raise ValueError(f"unknown backend {backend!r}")
        admin: str = request.getfixturevalue("postgres_admin")
        name = f"nas_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append((admin, name))
        return make_url(admin).set(database=name).render_as_string(hide_password=False)

    yield make
    for admin, name in created:
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, make_database: MakeDatabase) -> str:
    """An empty database on each backend (the test runs once per backend)."""
    return make_database(request.param)


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """``database_url`` migrated to the latest schema."""
    upgrade_database(database_url)
    return database_url


@pytest.fixture
def factory(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory over a fresh migrated database (SQLite and PostgreSQL)."""
    engine = make_engine(migrated_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def repo(factory: sessionmaker[Session]) -> JobRepository:
    return JobRepository(factory)


@pytest.fixture
def h(migrated_url: str) -> Iterator[Harness]:
    """A TestClient over a fresh migrated database, scheduler off."""
    harness = Harness(migrated_url)
    with harness.client:
        yield harness
