"""API keys in the database (hashed, revocable), the `nas keys` verbs, and no secret in logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.db.models import ApiKey
from api.db.session import make_engine, session_factory
from api.keys import KeyRepository, key_digest
from api.settings import Settings
from nas.errors import ConflictError, NotFoundError
from tests.live_server import LiveServer

JOB: dict[str, Any] = {
    "name": "keys",
    "dataset": {"name": "synthetic", "subset": 200},
    "strategies": ["grid"],
    "space": {"strides": [[1], [1], [2], [2]]},
    "budget": {"unit": "trials", "total": 1},
    "confirm_seeds": 0,
}


@pytest.fixture
def keys(migrated_url: str) -> KeyRepository:
    return KeyRepository(session_factory(make_engine(migrated_url)))


def test_only_the_digest_is_stored_and_names_are_unique(
    keys: KeyRepository, migrated_url: str
) -> None:
    key = keys.create("ci")
    with make_engine(migrated_url).connect() as conn:
        rows = conn.execute(sa.select(ApiKey.name, ApiKey.key_hash)).all()
    assert rows == [("ci", key_digest(key).hex())]
    assert all(key not in str(value) for row in rows for value in row)
    with pytest.raises(ConflictError):
        keys.create("ci")
    keys.revoke("ci")
    assert keys.active_digests() == []
    with pytest.raises(NotFoundError):
        keys.revoke("ci")
    assert [k.name for k in keys.infos()] == ["ci"] and keys.infos()[0].revoked_at is not None


def test_stored_keys_guard_writes_and_revocation_applies(
    keys: KeyRepository, migrated_url: str
) -> None:
    key = keys.create("alice")
    app = create_app(Settings(database_url=migrated_url, executor="inline"), scheduler=False)
    app.state.services.keys._cache_seconds = 0  # see revocations at once
    with TestClient(app) as client:
        assert client.post("/api/v1/jobs", json=JOB).status_code == 401
        wrong = {"Authorization": "Bearer " + key[:-1] + "x"}
        assert client.post("/api/v1/jobs", json=JOB, headers=wrong).status_code == 403
        right = {"Authorization": f"Bearer {key}"}
        assert client.post("/api/v1/jobs", json=JOB, headers=right).status_code == 201
        assert client.get("/api/v1/jobs").status_code == 200  # reads stay open by default
        keys.revoke("alice")  # the last key: the server locks, it does not open
        assert client.post("/api/v1/jobs", json=JOB, headers=right).status_code == 403
        assert client.post("/api/v1/jobs", json=JOB).status_code == 401


def test_nas_keys_verbs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "bob", "--database-url", url])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert len(key) >= 40
    listed = runner.invoke(cli, ["keys", "list", "--database-url", url])
    assert "bob" in listed.stdout and key not in listed.stdout
    again = runner.invoke(cli, ["keys", "create", "bob", "--database-url", url])
    assert again.exit_code == 1 and "exists already" in again.output
    assert runner.invoke(cli, ["keys", "revoke", "bob", "--database-url", url]).exit_code == 0
    gone = runner.invoke(cli, ["keys", "revoke", "bob", "--database-url", url])
    assert gone.exit_code == 1 and "no active key" in gone.output


def test_no_secret_reaches_the_server_log(make_database: Any, tmp_path: Path) -> None:
    """The database password and the API keys sent, right or wrong, never appear in the log."""
    url = make_database("postgresql")  # trust auth: the password is carried, never checked
    password, key, wrong = "pw-s3cr3t-9f2c", "key-s3cr3t-41ab", "key-wrong-77de"
    with_password = make_url(url).set(password=password).render_as_string(hide_password=False)
    log = tmp_path / "server.log"
    server = LiveServer(with_password, log, executor="inline", env={"NAS_API_KEYS": key})
    with server:
        assert server.post("/api/v1/jobs", json=JOB).status_code == 401
        bad = server.post("/api/v1/jobs", json=JOB, headers={"Authorization": f"Bearer {wrong}"})
        assert bad.status_code == 403
        good = server.post("/api/v1/jobs", json=JOB, headers={"Authorization": f"Bearer {key}"})
        assert good.status_code == 201
        assert server.get("/api/v1/jobs/999999").status_code == 404
    text = log.read_text()
    assert "serving on" in text  # the log is there
    for secret in (password, key, wrong):
        assert secret not in text
