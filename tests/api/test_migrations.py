"""Alembic: the migrations build the models' schema on an empty database, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from api.db.models import Base
from api.db.session import alembic_config, make_engine, upgrade_database

TABLES = {"job", "trial", "trial_event", "api_key"}


def table_names(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


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
