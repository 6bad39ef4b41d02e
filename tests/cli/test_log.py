"""``nas log JOB TRIAL``: why a trial failed, from a server (its scheduler off: the trials are
written straight into its database)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.db.session import upgrade_database
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore
from tests.api.store_helpers import make_job, request, result
from tests.cli.test_cli import one_line_error
from tests.threaded_server import serve_in_thread
from workers.jobs.store import Interruption

runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, JobRepository]]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(url)
    app = create_app(Settings(database_url=url), scheduler=False)
    with serve_in_thread(app) as base:
        yield base, app.state.services.repo


def test_log_prints_the_reason_and_the_log(served: tuple[str, JobRepository]) -> None:
    base, repo = served
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    failed = store.add(request(number=0)).id
    store.mark_running(failed)
    store.finish(failed, None, "RuntimeError: [bold]boom[/]", log="warming up\nTraceback: boom")
    fine = store.add(request(number=1)).id
    store.mark_running(fine)
    store.finish(fine, result(0.9), None)

    shown = runner.invoke(cli, ["log", str(job.id), str(failed), "--server", base])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines() == [
        f"trial {failed} (grid #0) of job {job.id}: failed after 1 attempt",
        "reason:",
        "RuntimeError: [bold]boom[/]",  # as it is: no markup interpreted
        "log (its worker's stderr and the traceback):",
        "warming up",
        "Traceback: boom",
    ]
    as_json = runner.invoke(cli, ["log", str(job.id), str(failed), "--server", base, "--json"])
    assert json.loads(as_json.stdout)["log"] == "warming up\nTraceback: boom"
    none = runner.invoke(cli, ["log", str(job.id), str(fine), "--server", base])
    assert "(no log kept for this trial)" in none.stdout

    missing = runner.invoke(cli, ["log", str(job.id), "999999", "--server", base])
    assert missing.exit_code == 1
    assert "404 no trial 999999 in job" in one_line_error(missing)


def test_log_says_which_attempts_were_not_charged(served: tuple[str, JobRepository]) -> None:
    """Attempts cut short when its server died (takeovers) and free retries are named."""
    base, repo = served
    job = repo.create(make_job())
    store = SqlTrialStore(repo.factory, job.id, worker="server-a")
    trial = store.add(request(number=0)).id
    for _ in range(2):  # its server died twice mid-trial
        store.mark_running(trial)
        SqlTrialStore(repo.factory, job.id, worker="b").requeue(trial, Interruption.TAKEOVER)
    store.mark_running(trial)
    store.requeue(trial, Interruption.FREE)  # its Ray cluster was lost
    store.mark_running(trial)
    store.finish(trial, None, "given up")

    shown = runner.invoke(cli, ["log", str(job.id), str(trial), "--server", base])
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[0] == (
        f"trial {trial} (grid #0) of job {job.id}: failed after 4 attempts "
        "(2 taken over when its server died, 1 free retry; not charged)"
    )
    as_json = json.loads(
        runner.invoke(cli, ["log", str(job.id), str(trial), "--server", base, "--json"]).stdout
    )
    assert (as_json["attempts"], as_json["takeovers"], as_json["free_retries"]) == (4, 2, 1)
