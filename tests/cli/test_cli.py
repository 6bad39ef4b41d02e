"""The client verbs against a real server: submit, watch, jobs, leaderboard, best, export, cancel,
and their error lines and exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from typer.testing import CliRunner, Result

from api.cli import app
from nas import export
from nas.models import build_model
from tests.cli.conftest import KEY, RunningServer
from tests.threaded_server import free_port
from workers.executors.host import node_name

TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
JOB: dict[str, Any] = {
    "name": "cli-test",
    "dataset": {"name": "synthetic", "subset": 200},
    "base": TINY_BASE,
    "space": {"strides": [[1], [1, 2]]},
    "strategies": ["grid", "random"],
    "budget": {"unit": "trials", "total": 4, "epochs_per_trial": 1},
    "confirm_seeds": 0,
    "train": {"batch_size": 100},
}
runner = CliRunner()


def nas(server: RunningServer, *args: str, key: str | None = KEY) -> Result:
    env = {"NAS_SERVER": server.url, "NAS_API_KEY": key}
    return runner.invoke(app, list(args), env=env)


def job_file(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({**JOB, **changes}))
    return path


def submitted(server: RunningServer, path: Path) -> int:
    result = nas(server, "submit", str(path), "--json")
    assert result.exit_code == 0, result.output
    job_id: int = json.loads(result.stdout)["id"]
    return job_id


def one_line_error(result: Result) -> str:
    """The error a failing verb printed: exactly one line on stderr, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    return lines[0]


def test_submit_watch_rank_and_export_a_model_that_predicts_as_in_the_worker(
    server: RunningServer, tmp_path: Path
) -> None:
    result = nas(server, "submit", str(job_file(tmp_path)))
    assert result.exit_code == 0, result.output
    first, second = result.stdout.strip().splitlines()
    job_id = int(first.split()[2])
    assert first.startswith(f"submitted job {job_id} (cli-test")
    assert second == f"leaderboard: {server.url}/jobs/{job_id}"

    watched = nas(server, "watch", str(job_id), "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    assert f"job {job_id} (cli-test) completed: 4 completed" in watched.stdout
    assert "grid: budget 100% (2 of 2 trials, 2 run), stopped:" in watched.stdout
    assert "grid" in watched.stderr and "random" in watched.stderr  # one bar per strategy

    progress = httpx.get(f"{server.url}/api/v1/jobs/{job_id}/progress").json()
    assert progress["state"] == "completed" and progress["total"] == 4
    assert {k: v["completed"] for k, v in progress["strategies"].items()} == {
        "grid": 2,
        "random": 2,
    }

    listed = nas(server, "jobs", "--json")
    assert listed.exit_code == 0 and job_id in [j["id"] for j in json.loads(listed.stdout)]
    table = nas(server, "jobs")
    row = next(line for line in table.stdout.splitlines() if f" {job_id} " in line)
    assert "cli-test" in row and "4/4" in row and "grid, random" in row, table.stdout

    board = nas(server, "leaderboard", str(job_id), "--json")
    assert board.exit_code == 0, board.output
    rows = json.loads(board.stdout)
    assert len(rows) == 4 and {r["strategy"] for r in rows} == {"grid", "random"}
    accuracies = [r["accuracy"] for r in rows]
    assert accuracies == sorted(accuracies, reverse=True)
    assert len(json.loads(nas(server, "leaderboard", str(job_id), "--json", "--top", "2").stdout))
    human = nas(server, "leaderboard", str(job_id))
    assert human.exit_code == 0 and "grid" in human.stdout
    flat = " ".join(human.stdout.split())
    assert f"job {job_id} cli-test (completed): 4 ranked trials" in flat
    assert "4 trials: 4 ranked" in flat
    # 20 validation images cannot tell trials apart: no target, and the CLI says why
    assert "no target: 20 validation images cannot tell trials apart" in flat

    # keep_weights defaults to "best": only the best trial's weights are left on disk
    best_id = rows[0]["id"]
    # one trial: where it ran (the inline executor: the server's own machine)
    trial = nas(server, "trial", str(job_id), str(best_id))
    assert trial.exit_code == 0, trial.output
    assert trial.stdout.startswith(f"trial {best_id} ({rows[0]['strategy']} #")
    assert "completed after 1 attempt\n" in trial.stdout
    assert f"node: {node_name()}\n" in trial.stdout and "device: cpu\n" in trial.stdout
    assert (
        json.loads(nas(server, "trial", str(job_id), str(best_id), "--json").stdout)["node"]
        == node_name()
    )
    job_dir = server.settings.artifact_dir / f"job-{job_id}"
    assert [p.name for p in job_dir.iterdir()] == [f"trial-{best_id}"]

    out = tmp_path / "exported"
    shown = nas(server, "best", str(job_id), "--export", str(out))
    assert shown.exit_code == 0, shown.output
    assert f"best of job {job_id}: trial {best_id}" in shown.stdout
    assert f"nas.export.load('{out}')" in shown.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(export.EXPORT_FILES)

    record = json.loads((out / export.RECORD).read_text())
    assert record["job"] == {"id": job_id, "name": "cli-test", "state": "completed"}
    assert record["trial"]["id"] == best_id and record["trial"]["strategy"] == rows[0]["strategy"]
    assert record["metrics"]["accuracy"] == rows[0]["accuracy"]
    assert record["data"]["name"] == "synthetic" and record["budget"]["unit"] == "trials"
    assert record["trained_with"]["torch"] == torch.__version__
    assert record["program"]["file"] == export.PROGRAM and record["probe_max_abs_diff"] == 0.0

    model = export.load(out)
    assert not model.training
    x, at_training = export.probe(out)  # saved by the worker right after it trained
    with torch.no_grad():
        assert torch.equal(model(x), at_training)
        assert torch.equal(export.load_program(out).module()(x), at_training)
        untrained = build_model(model.spec).eval()(x)
    assert not torch.allclose(untrained, at_training, atol=1e-3)  # the weights were loaded


def test_cancel_and_watch_a_cancelled_job(server: RunningServer, tmp_path: Path) -> None:
    bigger = job_file(tmp_path, budget={"unit": "trials", "total": 40, "epochs_per_trial": 1})
    job_id = submitted(server, bigger)
    cancelled = nas(server, "cancel", str(job_id))
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.stdout.strip() == f"job {job_id} (cli-test) cancelled"

    watched = nas(server, "watch", str(job_id), "--interval", "0.2")
    assert watched.exit_code == 1 and f"job {job_id} (cli-test) cancelled" in watched.stdout

    again = nas(server, "cancel", str(job_id))
    assert again.exit_code == 1
    assert "409" in one_line_error(again) and "cancelled" in again.stderr


def test_extend_a_finished_job_and_watch_it_finish_again(
    server: RunningServer, tmp_path: Path
) -> None:
    six_points = {"strides": [[1, 2], [1, 2, 3]]}
    job_id = submitted(server, job_file(tmp_path, strategies=["random"], space=six_points))
    first = nas(server, "watch", str(job_id), "--interval", "0.2")
    assert first.exit_code == 0 and "completed: 4 completed" in first.stdout, first.output
    extended = nas(server, "extend", str(job_id), "--budget", "2")
    assert extended.exit_code == 0, extended.output
    assert f"job {job_id} (cli-test)" in extended.stdout and "budget now 6" in extended.stdout
    watched = nas(server, "watch", str(job_id), "--interval", "0.2")
    assert watched.exit_code == 0, watched.output
    assert f"job {job_id} (cli-test) completed: 6 completed" in watched.stdout
    refused = nas(server, "extend", str(job_id), "--budget", "0")
    assert refused.exit_code == 2  # checked here: never sent


def test_run_refuses_a_warm_start(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(job_file(tmp_path, warm_start=1))])
    assert result.exit_code == 2
    assert "warm_start" in one_line_error(result)


def test_export_without_kept_weights_says_why(server: RunningServer, tmp_path: Path) -> None:
    path = job_file(
        tmp_path,
        keep_weights="none",
        strategies=["grid"],
        space={"strides": [[1], [2]]},
        budget={"unit": "trials", "total": 1, "epochs_per_trial": 1},
    )
    job_id = submitted(server, path)
    assert nas(server, "watch", str(job_id), "--interval", "0.2").exit_code == 0
    assert not (server.settings.artifact_dir / f"job-{job_id}").exists()

    out = tmp_path / "nothing"
    result = nas(server, "best", str(job_id), "--export", str(out))
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "404" in line and "no saved weights" in line and "'none'" in line
    assert not out.exists()
    assert nas(server, "best", str(job_id)).exit_code == 0  # the trial itself is there


@pytest.mark.parametrize(
    ("args", "key", "code", "expected"),
    [
        (["leaderboard", "999999"], KEY, 1, "404 no job 999999"),
        (["watch", "999999"], KEY, 1, "404 no job 999999"),
        (["best", "999999", "--export", "{tmp}/x"], KEY, 1, "404 no job 999999"),
        (["cancel", "999999"], None, 1, "401 this server needs an API key"),
        (["extend", "999999", "--budget", "1"], KEY, 1, "404 no job 999999"),
        (["submit", "{job}"], "wrong", 1, "403 API key not recognised (give the key with"),
        (["submit", "{bad_job}"], KEY, 1, "422 strategies[0].name: unknown strategy 'nope'"),
        (["submit", "{tmp}/missing.yaml"], KEY, 2, "cannot read"),
    ],
)
def test_errors_are_one_line_with_an_exit_code(
    server: RunningServer,
    tmp_path: Path,
    args: list[str],
    key: str | None,
    code: int,
    expected: str,
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**JOB, "strategies": ["nope"]}))
    names = {"tmp": str(tmp_path), "job": str(job_file(tmp_path)), "bad_job": str(bad)}
    result = nas(server, *(a.format(**names) for a in args), key=key)
    assert result.exit_code == code, result.output
    assert expected in one_line_error(result)


def test_server_down_is_one_line(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    for args in (["jobs"], ["submit", str(job_file(tmp_path))], ["watch", "1", "--patience", "0"]):
        result = runner.invoke(app, [*args, "--server", down])
        assert result.exit_code == 3, result.output
        assert f"cannot reach the server at {down}" in one_line_error(result)
