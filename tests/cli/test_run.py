"""``nas run``: a whole comparison on this machine, its JSON leaderboard and confirmation."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def test_a_diffstride_search_learns_its_strides_at_a_small_budget(
    fashion_mnist_dir: Path, tmp_path: Path, monkeypatch: object
) -> None:
    """The DiffStride issue's budget: from (2, 2, 2) on 3,000 Fashion-MNIST images for 2 epochs
    with the defaults, at least two stage strides move by 0.25 or more, and the JSON says so."""
    job = {
        "name": "diffstride-learns",
        "dataset": {"name": str(fashion_mnist_dir), "subset": 3000},
        "family": "resnet",
        "strategies": [{"name": "diffstride", "options": {"retrain": False}}],
        "budget": {"unit": "trials", "total": 1, "epochs_per_trial": 2},
        "seed": 0,
        "confirm_seeds": 0,  # the search run is what is checked here
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    result = runner.invoke(app, ["run", str(path), "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["confirmation"] is None  # confirm_seeds 0
    (row,) = shown["leaderboard"]
    assert row["strategy"] == "diffstride" and row["phase"] == "search"
    learned = row["learned_strides"]
    assert learned[0] is None  # stage 0 keeps stride 1: no DiffStride there
    moves = [max(abs(h - 2.0), abs(w - 2.0)) for h, w in learned[1:]]
    assert sum(m >= 0.25 for m in moves) >= 2, learned
    statuses = row["stride_status"]
    assert statuses[0] is None
    for move, status in zip(moves, statuses[1:], strict=True):
        if move >= 0.25:
            assert any(s.startswith("learned") for s in status), (move, status)
    assert row["test_accuracy"] is None  # not asked for


def test_nas_run_confirms_its_recommendation_on_other_seeds(tmp_path: Path) -> None:
    job = {
        "name": "confirmed",
        "dataset": {"name": "synthetic", "subset": 200},
        "space": {"strides": [[1], [1, 2], [2], [2]]},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": 2},
        "train": {"batch_size": 100},
        "confirm_seeds": 2,
    }
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job))
    result = runner.invoke(app, ["run", str(path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    assert "…" not in result.stdout
    flat = " ".join(result.stdout.split())
    assert "4 trials: 2 ranked; not ranked: 2 confirmation runs" in flat  # counted, not ranked
    assert "recommended: trial" in flat and "(grid)" in flat
    assert "confirmed on 2 of 2 other seeds: val " in flat
    assert "test" not in flat.split("recommended:")[1]  # no test split in this data
    shown = json.loads(runner.invoke(app, ["run", str(path), "--json"]).stdout)
    ranked = shown["leaderboard"]
    assert [row["strategy"] for row in ranked] == ["grid", "grid"]  # confirmations not ranked
    confirmation = shown["confirmation"]
    assert confirmation["seeds"] == confirmation["finished"] == 2
    assert len(set(confirmation["trials"])) == 2 and confirmation["failed"] == 0
    assert confirmation["val_min"] <= confirmation["val_mean"] <= confirmation["val_max"]
    assert confirmation["test_mean"] is None  # no test split in this data
    best = max(ranked, key=lambda row: row["accuracy"])
    assert confirmation["search_accuracy"] == best["accuracy"]
