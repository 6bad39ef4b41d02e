"""``nas verdict JOB`` in an 80-column terminal (text and ``--json``) from a server whose trials
are written straight into its database; the verdict in ``nas simulate --json`` against the
committed oracle table; and in ``record.json`` of ``nas best --export`` after a real job."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from api.app import create_app
from api.cli import app as cli
from api.cli.verdict import pair_lines
from api.client import VerdictPair
from api.db.session import upgrade_database
from api.settings import Settings
from api.store import JobRepository
from nas import export
from nas.verdict import NO_CLAIM
from tests.api.store_helpers import make_job, request, result
from tests.cli.conftest import RunningServer
from tests.cli.test_cli import JOB, nas, one_line_error
from tests.threaded_server import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
LONG = "tpe-with-median-pruning-and-a-long-label"  # 40 characters
runner = CliRunner()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, JobRepository]]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(url)
    app = create_app(Settings(database_url=url), scheduler=False)
    with serve_in_thread(app) as base:
        yield base, app.state.services.repo


def verdict_cli(base: str, *args: str) -> Result:
    return runner.invoke(cli, ["verdict", *args, "--server", base], env={"COLUMNS": "80"})


def repeated_job(repo: JobRepository) -> int:
    """grid (0.90-0.94) and the long-labelled TPE (0.91-0.95) well ahead of random (0.70-0.74);
    5 repeats, one trial of 1e9 FLOPs per run, base epochs as the budget's unit."""
    strategies: list[Any] = ["grid", {"name": "optuna", "label": LONG}, "random"]
    job = repo.create(make_job(strategies=strategies, repeats=5))
    store = repo.trial_store(job.id)
    for r in range(5):
        for key, accuracy in (("grid", 0.90), (LONG, 0.91), ("random", 0.70)):
            trial = store.add(request(f"{key}/r{r}", 0)).id
            store.mark_running(trial)
            store.finish(trial, result(accuracy + 0.01 * r), None)
    return job.id


def test_the_verdict_fits_80_columns_and_says_who_is_ahead(
    served: tuple[str, JobRepository],
) -> None:
    base, repo = served
    job_id = repeated_job(repo)
    shown = verdict_cli(base, str(job_id))
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, shown.stdout
    assert "…" not in shown.stdout  # nothing cut: long labels fold
    text = " ".join(shown.stdout.split())
    assert text.startswith(f"job {job_id} (queued): 5 runs per strategy; provisional")
    assert (
        f"grid ahead of random (p = 0.024); {LONG} ahead of random (p = 0.024); the other pair "
        "not distinguishable"
    ) in text
    # each pair: who is ahead, then U out of its bound, p, Holm's p and the effect in points
    assert (
        "grid vs random: grid ahead U +50/50, p 0.0079, Holm p 0.024; a - b +20.00 points (95%: "
    ) in text
    assert f"grid vs {LONG}: not distinguishable U -18/50, p 0.44, Holm p 0.44" in text
    assert f"{LONG} vs random: {LONG} ahead" in text
    assert "test: each run scored at its own final cost" in text


def test_json_is_the_servers_verdict(served: tuple[str, JobRepository]) -> None:
    base, repo = served
    job_id = repeated_job(repo)
    shown = verdict_cli(base, str(job_id), "--json")
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.stdout)
    assert body == httpx.get(f"{base}/api/v1/jobs/{job_id}/verdict").json()
    assert body["claim"] and len(body["pairs"]) == 3


def test_one_repeat_says_no_claim_and_an_unknown_job_is_one_line(
    served: tuple[str, JobRepository],
) -> None:
    base, repo = served
    job = repo.create(make_job(strategies=["grid", "random"]))
    shown = verdict_cli(base, str(job.id))
    assert shown.exit_code == 0, shown.output
    assert NO_CLAIM in shown.stdout and "vs" not in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    missing = verdict_cli(base, "9999")
    assert missing.exit_code == 1
    assert one_line_error(missing) == "error: 404 no job 9999"


def test_simulate_json_carries_the_verdict(tmp_path: Path) -> None:
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "name": "verdict-sim",
                "dataset": {"name": "fashion-mnist", "subset": 12000, "val_fraction": 1 / 6},
                "strategies": ["grid", "random"],
                "budget": {"unit": "base_epochs", "total": 20, "epochs_per_trial": 3},
                "confirm_seeds": 0,
            }
        )
    )
    table = str(ROOT / "data" / "oracles" / "resnet3_27.json")
    shown = runner.invoke(cli, ["simulate", table, str(job), "--repeats", "4", "--json"])
    assert shown.exit_code == 0, shown.output
    found = json.loads(shown.stdout)["verdict"]
    assert found["claim"] and [s["runs"] for s in found["strategies"]] == [4, 4]
    assert [(p["a"], p["b"]) for p in found["pairs"]] == [("grid", "random")]
    once = runner.invoke(cli, ["simulate", table, str(job), "--repeats", "1", "--json"])
    assert json.loads(once.stdout)["verdict"]["says"] == NO_CLAIM
    text = runner.invoke(cli, ["simulate", table, str(job), "--repeats", "1"])
    assert f"verdict: {NO_CLAIM}" in text.stdout


def test_the_export_record_holds_the_verdict_of_a_trained_job(
    server: RunningServer, tmp_path: Path
) -> None:
    path = tmp_path / "job.json"
    # two repeats of grid and random, one tiny trial each: 4 trainings
    path.write_text(json.dumps({**JOB, "repeats": 2, "budget": {**JOB["budget"], "total": 2}}))
    submitted = nas(server, "submit", str(path), "--json")
    assert submitted.exit_code == 0, submitted.output
    job_id = json.loads(submitted.stdout)["id"]
    watched = nas(server, "watch", str(job_id), "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    out = tmp_path / "exported"
    shown = nas(server, "best", str(job_id), "--export", str(out))
    assert shown.exit_code == 0, shown.output
    record = json.loads((out / export.RECORD).read_text())
    served = httpx.get(f"{server.url}/api/v1/jobs/{job_id}/verdict").json()
    assert record["verdict"] == served
    assert served["final"] and [s["runs"] for s in served["strategies"]] == [2, 2]
    assert served["claim"] and served["pairs"][0]["smallest_p"] == pytest.approx(2 / 6)
    assert served["pairs"][0]["says"] == "not distinguishable"  # 2 runs each can show nothing


def test_a_trade_off_is_named_in_the_pair_line() -> None:
    """A pair the test cannot tell apart while its interval can: who answers sooner, who
    better (``nas.verdict.TradeOff``), escaped like every label."""
    pair = VerdictPair.model_validate(
        {
            "a": "base",
            "b": "[search]",
            "statistic": 0,
            "bound": 50,
            "p": 1.0,
            "p_holm": 1.0,
            "effect": -0.2,
            "effect_low": -0.21,
            "effect_high": -0.19,
            "ahead": None,
            "says": "not distinguishable",
            "trade_off": {"sooner": "base", "better": "[search]"},
        }
    )
    head, _ = pair_lines(pair)
    assert head == (
        "base vs \\[search]: not distinguishable: base sooner, \\[search] better (a trade-off)"
    )
    assert "trade-off" not in pair_lines(pair.model_copy(update={"trade_off": None}))[0]
