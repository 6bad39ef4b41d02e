"""``nas leaderboard JOB``: compute to target under the trials, and ``--csv`` (stdout or
``--out FILE``), from a server whose trials are written straight into its database."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from api.db.session import upgrade_database
from api.result_tables import COLUMNS
from api.settings import Settings
from api.store import JobRepository
from tests.api.store_helpers import make_job, request, result
from tests.cli.test_cli import one_line_error
from tests.threaded_server import serve_in_thread
from workers.jobs.store import BudgetUse

runner = CliRunner()
NAME = '=cmd("calc"), "x"'


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, JobRepository]]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(url)
    app = create_app(Settings(database_url=url), scheduler=False)
    with serve_in_thread(app) as base:
        yield base, app.state.services.repo


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the first table in ``text`` (``api.cli.tables``: a header, a rule,
    then rows whose cells are two or more spaces apart), as cell texts."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if set(line.strip()) == {"─"}) + 1
    rows = []
    for line in lines[start:]:
        if not line.startswith(" ") and rows and "  " not in line.strip():
            break
        cells = [cell for cell in re.split(r"\s{2,}", line.strip()) if cell]
        if len(cells) < 2:
            break
        rows.append(cells)
    return rows


def job_with_trials(repo: JobRepository) -> tuple[int, list[int]]:
    """grid reaches the target at its second trial; random never does."""
    job = repo.create(
        make_job(
            name=NAME,
            strategies=["grid", "random"],
            dataset={"name": "synthetic", "subset": 1000},  # 100 validation images
            budget={"unit": "base_epochs", "total": 20, "epochs_per_trial": 2},
        )
    )
    store = repo.trial_store(job.id)
    ids = []
    for number, (strategy, accuracy) in enumerate(
        [("grid", 0.7), ("grid", 0.9), ("random", 0.6), ("random", 0.65)]
    ):
        trial = store.add(request(strategy, number)).id  # each trial costs 1e9 FLOPs
        store.mark_running(trial)
        store.finish(trial, result(accuracy), None)
        ids.append(trial)
    use = BudgetUse(unit="flops", budget=4e9, spent=2e9, trials=2, fraction=0.5)
    store.record_budget({"grid": use, "random": use})
    return job.id, ids


def test_the_leaderboard_ends_with_compute_to_target(served: tuple[str, JobRepository]) -> None:
    base, repo = served
    job_id, ids = job_with_trials(repo)
    shown = runner.invoke(cli, ["leaderboard", str(job_id), "--server", base])
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.stdout.split())
    # 0.9 on 100 images: 2 SEs are 6 points; a share of 10 base epochs is 4e9 FLOPs
    assert (
        f"target 84.00%: the best, 90.00% (trial {ids[1]}), less 6.00 points (the larger of 0.5 "
        "points and 2 standard errors on 100 validation images)"
    ) in text
    assert "compute to target, in base epochs" in text
    table = shown.stdout[shown.stdout.index("compute to target") :]
    rows = {cells[0]: cells[1:] for cells in table_rows(table)}
    # 2e9 FLOPs until its 0.9; AUC over 4e9: 0 to 1e9, 0.7 to 2e9, then 0.9: (0.7 + 1.8) / 4
    assert rows["grid"] == ["1", "5.00", "1/1", "62.50%"]
    assert rows["random"][1:3] == ["not reached", "0/1"]


def test_csv_goes_to_stdout_or_a_file(served: tuple[str, JobRepository], tmp_path: Path) -> None:
    base, repo = served
    job_id, ids = job_with_trials(repo)
    shown = runner.invoke(cli, ["leaderboard", str(job_id), "--csv", "--server", base])
    assert shown.exit_code == 0, shown.output
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert list(rows[0]) == list(COLUMNS)
    assert [int(r["id"]) for r in rows] == ids
    assert {r["job_name"] for r in rows} == {"'" + NAME}
    assert rows[1]["accuracy"] == "0.9" and rows[1]["strides"] == "1-2-2-2"

    out = tmp_path / "trials.csv"
    written = runner.invoke(
        cli, ["leaderboard", str(job_id), "--csv", "--out", str(out), "--server", base]
    )
    assert written.exit_code == 0, written.output
    assert out.read_text() == shown.stdout
    assert written.stdout == "" and f"wrote {out}" in written.stderr


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["424242", "--csv"], 1, "404 no job 424242"),
        (["{job}", "--csv", "--out", "{tmp}/missing/dir/trials.csv"], 2, "cannot write"),
        (["{job}", "--out", "{tmp}/x.csv"], 2, "--out goes with --csv"),
        (["{job}", "--csv", "--json"], 2, "choose --csv or --json"),
    ],
)
def test_csv_errors_are_one_line(
    served: tuple[str, JobRepository], tmp_path: Path, args: list[str], code: int, expected: str
) -> None:
    base, repo = served
    job_id, _ = job_with_trials(repo)
    filled = [a.format(job=job_id, tmp=tmp_path) for a in args]
    shown = runner.invoke(cli, ["leaderboard", *filled, "--server", base])
    assert shown.exit_code == code, shown.output
    assert expected in one_line_error(shown)
    assert not list((tmp_path).glob("**/*.csv"))
