"""bench/strategies.py on its smoke table (4 points, 2 seeds, 2 epochs on generated IDX images
with a test split): the simulated strategies and baselines, real DiffStride, compound and
compound-after-DiffStride runs checkpointed and resumed, held-out scoring, a deterministic
summary and its section. No timings are asserted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import strategies as bench
from nas.oracle import OraclePoint, OracleRun, OracleTable
from nas.presets import parse_spec
from nas.scaling import compound_scale
from nas.spec import ArchSpec

BASE = bench.SMOKE_BASE


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[OracleTable, Path]:
    path = bench.smoke_table(tmp_path_factory.mktemp("smoke"))
    return OracleTable.load(path), path


SETTINGS = bench.RealSettings(
    diffstride={"which_stages": [0, 1], "retrain": True, "round_to": "space"},
    compound=bench.compound_options(1, 2),
)
REPEATS = {bench.DIFFSTRIDE: 2, bench.COMPOUND: 2, bench.AFTER: 2}


@pytest.fixture(scope="module")
def runs(
    table: tuple[OracleTable, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[bench.RealRun], Path]:
    oracle, _ = table
    path = tmp_path_factory.mktemp("runs") / "strategies_smoke.jsonl"
    return bench.real_runs(oracle, SETTINGS, REPEATS, path), path


def test_simulated_strategies_and_baselines(table: tuple[OracleTable, Path]) -> None:
    oracle, _ = table
    found = bench.simulated_runs(oracle, 3)
    assert list(found) == [
        "grid",
        "grid-cheapest",
        "random",
        "tpe+median",
        "tpe+hyperband",
        "cmaes",
        "nsga2",
        "base",
    ]
    assert all(len(runs) == 3 for runs in found.values())
    assert all(len(steps) == 1 for steps in found["base"])  # one trial: the base as it is
    base_point = oracle.lookup(parse_spec(BASE))
    assert base_point is not None
    assert {steps[0].cost for steps in found["base"]} == {base_point.epoch_flops * oracle.epochs}
    # cheapest first: every repetition of grid-cheapest trains the same order
    orders = {tuple(s.cost for s in steps) for steps in found["grid-cheapest"]}
    assert len(orders) == 1 and list(next(iter(orders))) == sorted(next(iter(orders)))


def test_real_runs_are_stored_trial_by_trial_and_resume(
    table: tuple[OracleTable, Path],
    runs: tuple[list[bench.RealRun], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oracle, _ = table
    found, path = runs
    assert [(r.strategy, r.repeat) for r in found] == [
        ("diffstride", 0),
        ("diffstride", 1),
        ("compound", 0),
        ("compound", 1),
        ("compound-after-diffstride", 0),
        ("compound-after-diffstride", 1),
    ]
    lines = path.read_text().splitlines()
    assert len(lines) == 7 and "header" in json.loads(lines[0])
    for run in found:
        phases = [t.params["phase"] for t in run.trials]
        if run.strategy == bench.DIFFSTRIDE:
            assert phases == ["search", "retrain"]
        elif run.strategy == bench.AFTER:  # the whole job: DiffStride's, then compound's
            assert phases == ["search", "retrain", "grid", "scale"]
        else:  # both phases: its grid point, then scaled to phi 2
            assert phases == ["grid", "scale"] and run.trials[1].params["phi"] == 2
        assert all(t.seed == run.seed and t.test_accuracy is not None for t in run.trials)

    def no_training(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a finished run trained again")

    monkeypatch.setattr(bench, "run_real", no_training)
    again = bench.real_runs(oracle, SETTINGS, REPEATS, path)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in found]
    with pytest.raises(SystemExit, match="other settings"):
        other = SETTINGS.model_copy(update={"compound": bench.compound_options(2, 2)})
        bench.real_runs(oracle, other, REPEATS, path)


def test_a_retrain_is_the_tables_run_of_its_seed_and_is_scored_by_the_others(
    table: tuple[OracleTable, Path], runs: tuple[list[bench.RealRun], Path]
) -> None:
    oracle, _ = table
    found, _ = runs
    for run in (r for r in found if r.strategy == bench.DIFFSTRIDE):
        search, retrain = run.trials
        point = oracle.lookup(parse_spec(retrain.spec))
        assert point is not None and point.spec == retrain.spec
        own = next(r for r in point.runs if r.seed == run.seed)
        other = next(r for r in point.runs if r.seed != run.seed)
        assert retrain.val_accuracy == own.val_accuracy[-1]  # the same training, seed s
        steps = bench.real_steps(run, oracle)
        assert steps[0].true == search.test_accuracy  # (a): not in the table
        assert steps[1].true == other.test_accuracy  # (b): the other seed's test accuracy
    for run in (r for r in found if r.strategy == bench.COMPOUND):
        assert [s.true for s in bench.real_steps(run, oracle)] == [
            t.test_accuracy for t in run.trials
        ]


def held_out_table() -> OracleTable:
    """One point, three seeds with distinct accuracies (no training)."""
    spec = parse_spec(BASE).with_strides([1, 2])
    runs = [
        OracleRun(
            seed=s,
            val_accuracy=[0.5 + s / 10],
            val_loss=[1.0],
            test_accuracy=0.6 + s / 10,
            wall_seconds=1.0,
        )
        for s in range(3)
    ]
    point = OraclePoint(
        spec=spec.to_string(), strides=[1, 2], params=1, macs=1, epoch_flops=1.0, runs=runs
    )
    return OracleTable(
        name="held",
        base=BASE,
        strides=[[1], [2]],
        dataset={"name": "synthetic"},
        num_train=1,
        num_val=1,
        epochs=1,
        train={},
        machine="test",
        version="test",
        created="2026-12-07",
        points=[point],
    )


def trial(spec: str, seed: int, val: float, test: float) -> bench.RealTrial:
    return bench.RealTrial(
        spec=spec,
        params={},
        state="completed",
        seed=seed,
        epochs=1,
        cost_flops=1.0,
        val_accuracy=val,
        test_accuracy=test,
    )


def test_held_out_scoring_of_real_trials() -> None:
    oracle = held_out_table()
    point = oracle.points[0].spec
    other_spec = BASE.replace("stem_c8", "stem_c16")
    run = bench.RealRun(
        strategy="diffstride",
        repeat=0,
        seed=1,
        trials=[
            trial(point, 1, 0.9, 0.91),  # a table point with seed 1: seeds 0 and 2 score it
            trial(point, 7, 0.9, 0.91),  # a seed the table lacks: every seed scores it
            trial(other_spec, 1, 0.9, 0.93),  # same strides, another network: its own test
        ],
        finished_reason="",
        machine="test",
        wall_seconds=0.0,
    )
    trues = [s.true for s in bench.real_steps(run, oracle)]
    assert trues == [pytest.approx(0.7), pytest.approx(0.7), 0.93]


def test_the_summary_is_deterministic_and_holds_the_verdict(
    table: tuple[OracleTable, Path], runs: tuple[list[bench.RealRun], Path], tmp_path: Path
) -> None:
    oracle, path = table
    found, _ = runs
    settings = {"repeats": 3, "real": SETTINGS.model_dump()}

    def make() -> bench.Summary:
        return bench.summary(oracle, path, bench.simulated_runs(oracle, 3), found, settings)

    first, second = make(), make()
    assert first.model_dump_json() == second.model_dump_json()
    names = [s.strategy for s in first.strategies]
    assert names[-3:] == ["diffstride", "compound", bench.AFTER] and "grid-cheapest" in names
    assert [s["strategy"] for s in first.verdict["strategies"]] == names
    assert first.verdict["claim"] and len(first.verdict["pairs"]) == 55
    pairs = {frozenset((p["a"], p["b"])) for p in first.verdict["pairs"]}
    assert frozenset((bench.AFTER, "compound")) in pairs  # the comparison the arm is for
    assert first.stand is not None and set(first.stand.against) == {"grid-cheapest", "base"}
    assert first.table.sha256 == bench.file_sha256(path)
    assert first.readouts is not None and first.readouts.retrain_in_table == 2
    assert all(r["phi"] == 2 for r in first.compound)
    assert [r["repeat"] for r in first.after] == [0, 1] and all(r["phi"] == 2 for r in first.after)
    text = bench.section(first, oracle, found, "smoke.png", smoke=False)
    assert "### Table `smoke` (4 points)" in text and first.verdict["says"] in text
    assert "Compound scaling after DiffStride" in text
    bench.plot(
        bench.all_runs(bench.simulated_runs(oracle, 3), found, oracle), oracle, tmp_path / "p.png"
    )
    assert (tmp_path / "p.png").stat().st_size > 0


def test_compound_after_diffstride_scales_the_retrain_and_pays_for_both(
    table: tuple[OracleTable, Path], runs: tuple[list[bench.RealRun], Path]
) -> None:
    oracle, _ = table
    found, _ = runs
    job = bench.real_job(oracle, SETTINGS, bench.AFTER, 1)
    assert [(s.key, s.from_) for s in job.strategies] == [
        ("diffstride", None),
        (bench.AFTER, "diffstride"),
    ]
    assert [s.options for s in job.strategies] == [SETTINGS.diffstride, SETTINGS.compound]
    assert job.seed == job.train.seed == 1 and job.budget.total == 2 * 3  # 3 trials each
    alone = {(r.strategy, r.repeat): r for r in found}
    for run in (r for r in found if r.strategy == bench.AFTER):
        search, retrain, grid, scale = run.trials
        assert [t.strategy for t in run.trials] == ["diffstride"] * 2 + [bench.AFTER] * 2
        # its DiffStride is the DiffStride arm's run of the same seed, trained again
        diffstride = alone[(bench.DIFFSTRIDE, run.repeat)].trials
        assert [(t.spec, t.seed, t.val_accuracy) for t in (search, retrain)] == [
            (t.spec, t.seed, t.val_accuracy) for t in diffstride
        ]
        # compound scales the retrain (readout b), with the compound arm's grid point
        for trial in (grid, scale):
            assert trial.params["base_from"] == "diffstride"
            assert trial.params["base_spec"] == retrain.spec and trial.params["base_trial"] == 1
            p = trial.params
            scaled = compound_scale(
                ArchSpec.from_string(retrain.spec), p["phi"], p["alpha"], p["beta"], p["gamma"]
            )
            assert trial.spec == scaled.to_string()
        compound = alone[(bench.COMPOUND, run.repeat)].trials
        assert [t.params["alpha"] for t in compound] == [grid.params["alpha"]] * 2
        # its compute is the whole job's: the search that found the strides counts
        steps = bench.real_steps(run, oracle)
        assert [s.cost for s in steps] == [t.cost_flops for t in run.trials]
        assert run.finished_reason == "done: 1 grid point, scaled to phi 2"
