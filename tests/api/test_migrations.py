"""Alembic: the migrations build the models' schema on an empty database, on both backends."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from api.db.models import Base
from api.db.session import alembic_config, make_engine, upgrade_database
from api.strides import strides_text
from nas.models import preset
from tests.api.harness import diffstride_spec

TABLES = {"job", "trial", "trial_document", "trial_event", "api_key"}


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def old_job(conn: sa.Connection, state: str) -> int:
    """A job row as an earlier schema stores it (raw SQL: no model of today's); its id."""
    job: int = conn.execute(
        sa.text(
            "INSERT INTO job (name, state, spec, created_at, updated_at, version) "
            "VALUES ('old', :state, '{}', :now, :now, 3) RETURNING id"
        ),
        {"state": state, "now": "2026-12-01 10:00:00"},
    ).scalar_one()
    return job


def just_before(database_url: str, revision: str) -> tuple[Config, str]:
    """Migrate to the revision before ``revision``; its Alembic config and that revision."""
    config = alembic_config(database_url)
    before = ScriptDirectory.from_config(config).get_revision(revision).down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    return config, before


def test_db_one_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1


def test_db_upgrade_head_then_check(database_url: str) -> None:
    upgrade_database(database_url)
    assert table_names(database_url) == TABLES == set(Base.metadata.tables)
    # autogenerate against the migrated database finds nothing to do: models == migrations
    command.check(alembic_config(database_url))


def test_db_downgrade_base_then_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    upgrade_database(database_url)
    command.downgrade(config, "base")
    assert table_names(database_url) == set()
    upgrade_database(database_url)
    assert table_names(database_url) == TABLES
    command.check(config)


def test_db_replicas_starting_together_migrate_one_after_the_other(
    make_database: Any,
) -> None:
    url = make_database("postgresql")
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            upgrade_database(url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert table_names(url) == TABLES
    command.check(alembic_config(url))


def test_db_upgrade_works_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(url)
    assert table_names(url) == TABLES
    assert not list(elsewhere.iterdir())  # nothing written to the working directory


# the revision that moved trial.request / trial.result into trial_document, and its parent
DOCUMENTS_REVISION, BEFORE_DOCUMENTS = "5219c1561cac", "f7792097aa5f"


def test_db_trial_documents_move_with_their_data_both_ways(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, BEFORE_DOCUMENTS)
    request = {"epochs": 3, "spec": "resnet:28:c16", "params": {"phase": "search"}}
    result = {"accuracy": 0.875, "history": [{"epoch": 1, "strides": [[2.0, 2.5], None]}]}
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            job = old_job(conn, "completed")
            for number, stored in ((0, result), (1, None)):
                conn.execute(
                    sa.text(
                        "INSERT INTO trial (job_id, strategy, number, state, request, spec, "
                        "params, result, attempts, created_at, version) VALUES (:job, 'grid', "
                        ":number, 'completed', :request, 's', '{}', :result, 1, :now, 2)"
                    ).bindparams(
                        sa.bindparam("request", type_=sa.JSON()),
                        sa.bindparam("result", type_=sa.JSON(none_as_null=True)),
                    ),
                    {
                        "job": job,
                        "number": number,
                        "request": request,
                        "result": stored,
                        "now": "2026-12-01 10:00:00",
                    },
                )
        upgrade_database(database_url)
        with engine.connect() as conn:
            moved = conn.execute(
                sa.text(
                    "SELECT t.number, d.request, d.result FROM trial t "
                    "JOIN trial_document d ON d.trial_id = t.id ORDER BY t.number"
                ).columns(
                    sa.column("number", sa.Integer()),
                    sa.column("request", sa.JSON()),
                    sa.column("result", sa.JSON()),
                )
            ).all()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("trial")}
        assert [tuple(r) for r in moved] == [(0, request, result), (1, request, None)]
        assert not {"request", "result"} & columns
        command.downgrade(config, BEFORE_DOCUMENTS)
        with engine.connect() as conn:
            back = conn.execute(
                sa.text("SELECT number, request, result FROM trial ORDER BY number").columns(
                    sa.column("number", sa.Integer()),
                    sa.column("request", sa.JSON()),
                    sa.column("result", sa.JSON()),
                )
            ).all()
            tables = set(sa.inspect(conn).get_table_names())
        assert [tuple(r) for r in back] == [(0, request, result), (1, request, None)]
        assert "trial_document" not in tables
    finally:
        engine.dispose()


BEFORE_CONFIRM_SEEDS = "02180e20ab8a"


def test_db_jobs_stored_before_confirm_seeds_keep_confirmation_off(database_url: str) -> None:
    config = alembic_config(database_url)
    command.upgrade(config, BEFORE_CONFIRM_SEEDS)
    old = {"name": "old", "seed": 4}
    new = {"name": "new", "seed": 5, "confirm_seeds": 2}
    spec_column = sa.column("spec", sa.JSON())
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for name, spec in (("old", old), ("new", new)):
                conn.execute(
                    sa.text(
                        "INSERT INTO job (name, state, spec, created_at, updated_at, version) "
                        "VALUES (:name, 'completed', :spec, :now, :now, 1)"
                    ).bindparams(sa.bindparam("spec", type_=sa.JSON())),
                    {"name": name, "spec": spec, "now": "2026-12-01 10:00:00"},
                )

        def specs() -> dict[str, Any]:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT name, spec FROM job").columns(sa.column("name"), spec_column)
                ).all()
            return {name: spec for name, spec in rows}

        upgrade_database(database_url)
        assert specs() == {"old": {**old, "confirm_seeds": 0}, "new": new}
        command.downgrade(config, BEFORE_CONFIRM_SEEDS)
        assert specs() == {"old": old, "new": {"name": "new", "seed": 5}}
    finally:
        engine.dispose()


TAKEOVERS_REVISION = "3c1f0a9e2b71"


def test_db_trials_stored_before_takeovers_keep_their_attempts_charged(
    database_url: str,
) -> None:
    """``trial.takeovers`` and ``trial.free_retries`` arrive as 0 on every stored trial (its
    attempts so far stay charged, as they were), and go again on the way down."""
    config, before = just_before(database_url, TAKEOVERS_REVISION)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            job = old_job(conn, "running")
            conn.execute(
                sa.text(
                    "INSERT INTO trial (job_id, strategy, number, state, spec, params, "
                    "attempts, created_at, version) VALUES "
                    "(:job, 'grid', 0, 'running', 's', '{}', 2, :now, 2)"
                ),
                {"job": job, "now": "2026-12-01 10:00:00"},
            )
        upgrade_database(database_url)
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT attempts, takeovers, free_retries FROM trial")).one()
        assert tuple(row) == (2, 0, 0)
        command.downgrade(config, before)
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("trial")}
        assert "attempts" in columns and not {"takeovers", "free_retries"} & columns
    finally:
        engine.dispose()


STRIDES_REVISION = "8fa783f5385a"


def test_db_trials_stored_before_the_strides_column_get_their_strides_text(
    database_url: str,
) -> None:
    """``trial.strides`` is filled in for every stored trial: the block string's strides, or a
    finished DiffStride trial's learned ones from its result document; it goes on the way down."""
    config, before = just_before(database_url, STRIDES_REVISION)
    fixed = preset("resnet_narrow_fmnist").to_string()
    learning = diffstride_spec().to_string()
    learned = [None, [1.634, 1.7], [2.4, 2.4], [3.0, 3.0]]
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            job = old_job(conn, "running")
            for number, spec, result in (
                (0, fixed, None),
                (1, learning, {"learned_strides": learned}),
                (2, learning, None),  # not finished yet: its starting strides
                (3, "not a block string", None),
            ):
                trial = conn.execute(
                    sa.text(
                        "INSERT INTO trial (job_id, strategy, number, state, spec, params, "
                        "attempts, created_at, version) VALUES "
                        "(:job, 'grid', :number, 'completed', :spec, '{}', 1, :now, 2) "
                        "RETURNING id"
                    ),
                    {"job": job, "number": number, "spec": spec, "now": "2026-12-01 10:00:00"},
                ).scalar_one()
                conn.execute(
                    sa.text(
                        "INSERT INTO trial_document (trial_id, request, result) "
                        "VALUES (:trial, '{}', :result)"
                    ).bindparams(sa.bindparam("result", type_=sa.JSON(none_as_null=True))),
                    {"trial": trial, "result": result},
                )
        upgrade_database(database_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT number, strides FROM trial ORDER BY number")).all()
        assert [strides for _, strides in rows] == [
            strides_text(fixed),
            "1-1.63x1.70-2.40-3.00",
            strides_text(learning),
            None,
        ]
        assert strides_text(fixed) == "1-2-2-2"
        command.downgrade(config, before)
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("trial")}
        assert "strides" not in columns
    finally:
        engine.dispose()
