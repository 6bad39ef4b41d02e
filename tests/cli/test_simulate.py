"""``nas simulate TABLE JOB_FILE``: the job's fixed-stride strategies (and the base network)
replayed against a small hand-made oracle table (nothing trained), its summary as text and JSON,
and its errors."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app
from nas.compare import area_under_curve, compute_to_target
from nas.errors import OptionsError
from nas.flops import epoch_cost_estimator
from nas.job import JobSpec
from nas.oracle import OraclePoint, OracleRun, OracleTable
from nas.presets import parse_spec
from tests.cli.test_cli import one_line_error
from workers.jobs.simulation import simulate

BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
STRIDES = [[1, 2], [1, 2]]
NUM_TRAIN, NUM_VAL = 180, 20
# Mean final accuracy per point: (2, 1) is clearly the best; the seeds differ by 0.2 points.
MEANS: dict[tuple[int, ...], float] = {(1, 1): 0.70, (1, 2): 0.62, (2, 1): 0.81, (2, 2): 0.55}
SEED_OFFSETS = (-0.002, 0.0, 0.002)
runner = CliRunner()


def point(strides: tuple[int, ...]) -> OraclePoint:
    base = parse_spec(BASE)
    arch = base.replace(
        stages=[
            {**s.model_dump(), "stride": (float(v), float(v))}
            for s, v in zip(base.stages, strides, strict=True)
        ]
    )
    mean = MEANS[strides]
    return OraclePoint(
        spec=arch.to_string(),
        strides=list(strides),
        params=1000,
        macs=1000,
        # what the runner estimates for one epoch, so budgets in base epochs mean the same here
        epoch_flops=epoch_cost_estimator(NUM_TRAIN, NUM_VAL)(arch),
        runs=[
            OracleRun(
                seed=k,
                val_accuracy=[mean - 0.1 + offset, mean + offset],
                val_loss=[1.0, 0.5],
                test_accuracy=mean,
                wall_seconds=1.0,
            )
            for k, offset in enumerate(SEED_OFFSETS)
        ],
    )


@pytest.fixture(scope="module")
def table_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    table = OracleTable(
        name="hand-made-4",
        base=BASE,
        strides=STRIDES,
        dataset={"name": "synthetic", "subset": 200, "val_fraction": 0.1, "seed": 0},
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        epochs=2,
        train={"batch_size": 100},
        machine="test",
        version="test",
        created="2026-12-02",
        points=[point(s) for s in itertools.product(*STRIDES)],
    )
    return table.save(tmp_path_factory.mktemp("oracle") / "table.json")


def job(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "simulated",
        "dataset": {"name": "synthetic", "subset": 200},
        "base": BASE,
        "space": {"strides": STRIDES},
        "strategies": ["grid", "random"],
        # the full grid is 4 points: every strategy can afford all of them
        "budget": {"unit": "base_epochs", "total": 60, "epochs_per_trial": 2},
        "confirm_seeds": 0,
    }
    return {**spec, **changes}


def job_file(tmp_path: Path, **changes: Any) -> Path:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job(**changes)))
    return path


def test_simulate_summarises_each_strategy_as_json(table_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", str(table_file), str(job_file(tmp_path)), "--repeats", "6", "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    table = OracleTable.load(table_file)
    base_epoch = table.base_epoch_flops()
    assert out["table"] == "hand-made-4" and out["repeats"] == 6
    assert out["best_strides"] == [2, 1]
    assert out["target"] == pytest.approx(0.81 - 0.005)  # 2 SEs of the 3 seeds: < 0.5 points
    assert out["budget_base_epochs"] == pytest.approx(30.0)
    assert [r["strategy"] for r in out["strategies"]] == ["grid", "random"]

    # the same numbers from the simulator's runs directly
    spec = JobSpec.parse(job())
    runs = simulate(spec, table, 6, 0)
    budget = 30.0 * base_epoch
    for row in out["strategies"]:
        steps = [r.steps.get(row["strategy"], []) for r in runs]
        c2t = sorted(
            (c / base_epoch if c is not None else math.inf)
            for c in (compute_to_target(s, out["target"]) for s in steps)
        )
        assert row["runs"] == 6
        assert row["success_rate"] == sum(math.isfinite(c) for c in c2t) / 6
        assert row["compute_to_target"]["median"] == pytest.approx((c2t[2] + c2t[3]) / 2)
        assert row["auc"] == pytest.approx(sum(area_under_curve(s, budget) for s in steps) / 6)
    grid = out["strategies"][0]
    # grid can afford the whole grid: it always finds (2, 1), and recommends it in the end
    assert grid["success_rate"] == 1.0
    assert grid["best_at"]["1.0"] == pytest.approx(0.81)
    full_grid = sum(p.epoch_flops for p in table.points) * 2 / base_epoch
    assert 0 < grid["compute_to_target"]["q1"] <= grid["compute_to_target"]["q3"] <= full_grid


def test_simulate_prints_a_table(table_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", str(table_file), str(job_file(tmp_path))])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "hand-made-4: simulated, 10 simulated runs per strategy, selecting on one seed's "
        "validation accuracy and scored on the test split over the table's other seeds; "
        "target 80.50% (best test mean 81.00%"
    ) in text
    assert "budget 30.00 base epochs per strategy" in text
    assert "grid" in text and "random" in text and "100%" in text


def test_the_same_seed_repeats_the_same_draws(table_file: Path, tmp_path: Path) -> None:
    def run(seed: str) -> Any:
        args = ["simulate", str(table_file), str(job_file(tmp_path)), "--json", "--seed", seed]
        result = runner.invoke(app, [*args, "--repeats", "3"])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["strategies"]

    assert run("1") == run("1")


@pytest.mark.parametrize(
    ("changes", "table", "expected"),
    [
        (
            {"strategies": ["grid", "diffstride"]},
            None,
            "error: strategies[1].name: diffstride trains networks that are not in an oracle",
        ),
        ({"space": {"strides": [[1, 2], [1, 3]]}}, None, "error: space.strides: the job searches"),
        ({}, "missing.json", "error: table: cannot read oracle table"),
        ({}, "broken.json", "error: table:"),
        ({"strategies": ["nope"]}, None, "error: strategies[0].name: unknown strategy 'nope'"),
    ],
)
def test_errors_are_one_line(
    table_file: Path, tmp_path: Path, changes: dict[str, Any], table: str | None, expected: str
) -> None:
    (tmp_path / "broken.json").write_text('{"name": "x"}')
    path = str(tmp_path / table) if table else str(table_file)
    result = runner.invoke(app, ["simulate", path, str(job_file(tmp_path, **changes))])
    assert result.exit_code == 2, result.output
    assert one_line_error(result).startswith(expected)


def test_the_base_network_and_a_cost_ordered_grid(table_file: Path, tmp_path: Path) -> None:
    strategies = ["base", {"name": "grid", "label": "cheapest", "options": {"order": "cost"}}]
    path = job_file(tmp_path, strategies=strategies)
    result = runner.invoke(
        app, ["simulate", str(table_file), str(path), "--repeats", "4", "--json"]
    )
    assert result.exit_code == 0, result.output
    base, cheapest = json.loads(result.stdout)["strategies"]
    # the base (strides 1-2, mean 0.62) is looked up once per run and never reaches the target
    assert base["strategy"] == "base" and base["runs"] == 4 and base["success_rate"] == 0.0
    assert base["compute_to_target"]["median"] is None
    assert base["best_at"] == {"0.25": pytest.approx(0.62), "0.5": 0.62, "1.0": 0.62}
    assert cheapest["success_rate"] == 1.0

    table = OracleTable.load(table_file)
    by_cost = sorted(table.points, key=lambda p: p.epoch_flops)
    for run in simulate(JobSpec.parse(job(strategies=strategies)), table, 4, 0):
        (trial,) = run.trials["base"]
        assert trial.request.spec == parse_spec(BASE)
        (step,) = run.steps["base"]
        assert step.true == pytest.approx(0.62) and step.cost == table.base_epoch_flops() * 2
        # cheapest first by the table's cost per point (the runner's estimate: the same here)
        assert [s.cost for s in run.steps["cheapest"]] == [p.epoch_flops * 2 for p in by_cost]


def test_the_base_network_needs_its_strides_in_the_table(table_file: Path) -> None:
    table = OracleTable.load(table_file)
    without = table.model_copy(
        update={"strides": [[2], [1, 2]], "points": [p for p in table.points if p.strides[0] == 2]}
    )
    spec = JobSpec.parse(job(strategies=["grid", "base"], space={"strides": [[2], [1, 2]]}))
    with pytest.raises(OptionsError) as info:
        simulate(spec, without, 1)
    assert info.value.field == "strategies[1].name"
    assert "not a point of the oracle table" in info.value.message
