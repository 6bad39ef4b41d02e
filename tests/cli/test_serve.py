"""``nas serve``: an unguarded server (no API key set or stored) binds to loopback only; the rule
is ``Settings.bound``, the CLI says what it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

import api.heap
from api.cli import app
from api.settings import Settings
from tests.cli.test_cli import job_file

runner = CliRunner()


@pytest.mark.parametrize(
    ("host", "keys", "stored", "bound"),
    [
        ("0.0.0.0", [], False, "127.0.0.1"),
        ("10.1.2.3", [], False, "127.0.0.1"),
        ("localhost", [], False, "localhost"),
        ("::1", [], False, "::1"),
        ("0.0.0.0", ["k" * 32], False, "0.0.0.0"),
        ("0.0.0.0", [], True, "0.0.0.0"),
    ],
)
def test_unguarded_settings_bind_to_loopback(
    host: str, keys: list[str], stored: bool, bound: str
) -> None:
    settings = Settings(host=host, api_keys=keys)
    assert settings.unguarded(stored) == (not keys and not stored)
    assert settings.bound(stored).host == bound
    assert settings.bound(stored).port == settings.port


def serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: str, keys: str = ""
) -> tuple[Any, str]:
    """``nas serve ARGS`` up to ``uvicorn.run``: the options it got (and ``settled``: whether
    the heap was settled before it, ``api.heap``), and stderr (unwrapped). The heap is not
    frozen here: that would freeze the test process's."""
    served: dict[str, Any] = {}
    settled: list[bool] = []

    def fake_run(app: object, **options: Any) -> None:
        served.update(options, settled=bool(settled))

    monkeypatch.setattr(uvicorn, "run", fake_run)
    monkeypatch.setattr(api.heap, "settle", lambda: settled.append(True) or 0)
    monkeypatch.setenv("NAS_API_KEYS", keys)
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    result = runner.invoke(app, ["serve", "--database-url", url, "--executor", "inline", *args])
    assert result.exit_code == 0, result.output
    return served, " ".join(result.stderr.split())


def test_serve_without_keys_binds_to_loopback_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, said = serve(tmp_path, monkeypatch, "--host", "0.0.0.0", "--port", "8123")
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    assert "binding to 127.0.0.1 instead of 0.0.0.0" in said
    assert "serving on http://127.0.0.1:8123" in said

    served, said = serve(tmp_path, monkeypatch, "--host", "127.0.0.1")
    assert served["host"] == "127.0.0.1"
    assert "no API keys: open to this machine only (127.0.0.1)" in said


def test_serve_with_a_key_binds_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, said = serve(tmp_path, monkeypatch, "--host", "0.0.0.0", keys="x" * 32)
    assert served["host"] == "0.0.0.0"
    assert "no API keys" not in said


def test_serve_demo_stores_the_job_and_says_where_to_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, said = serve(tmp_path, monkeypatch, "--port", "8124", "--demo", str(job_file(tmp_path)))
    assert served["port"] == 8124
    assert "demo job 1 submitted leaderboard: http://127.0.0.1:8124/jobs/1" in said


def test_serve_settles_its_heap_and_logs_requests_only_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served, _ = serve(tmp_path, monkeypatch)
    assert served["settled"] and served["access_log"] is False
    monkeypatch.setenv("NAS_ACCESS_LOG", "true")
    served, _ = serve(tmp_path, monkeypatch)
    assert served["access_log"] is True
