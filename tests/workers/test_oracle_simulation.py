"""Simulated strategies: the live runner against an oracle table, proposal for proposal."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from nas.errors import OptionsError
from nas.job import JobSpec
from nas.oracle import OraclePoint, OracleTable
from nas.presets import parse_spec
from nas.train import train
from nas.trial import TrialRequest
from workers.executors.interface import InlineExecutor
from workers.executors.trial_entry import load_dataset
from workers.jobs.runner import JobRunner
from workers.jobs.simulation import OracleExecutor, simulate
from workers.jobs.store import MemoryTrialStore

BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
STRIDES = [[1, 2], [1, 2]]


def job(**changes: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "name": "simulated",
        "dataset": {"name": "synthetic", "subset": 200},
        "base": BASE,
        "space": {"strides": STRIDES},
        "strategies": [
            "grid",
            "random",
            {"name": "optuna", "options": {"sampler": "tpe", "n_startup_trials": 2}},
        ],
        "budget": {"unit": "trials", "total": 12, "epochs_per_trial": 2},
        "confirm_seeds": 0,
        "train": {"batch_size": 100},
        "seed": 4,
    }
    return JobSpec.parse({**spec, **changes})


@pytest.fixture(scope="module")
def table() -> OracleTable:
    """Every point trained once, with the job's own training options: the table holds exactly
    what the live runner measures."""
    spec = job()
    data = load_dataset(spec.dataset)
    base = parse_spec(BASE)
    points = []
    for strides in itertools.product(*STRIDES):
        arch = base.with_strides(strides)
        points.append(OraclePoint.from_results(arch, [(0, train(arch, data, 2, spec.train))]))
    return OracleTable(
        name="synthetic-4",
        base=BASE,
        strides=STRIDES,
        dataset=spec.dataset.model_dump(),
        num_train=data.num_train,
        num_val=data.num_val,
        epochs=2,
        train=spec.train.model_dump(),
        machine="test",
        version="test",
        created="2026-12-02",
        points=points,
    )


def proposals(trials: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for trial in sorted(trials, key=lambda t: t.id):
        out.setdefault(trial.strategy, []).append(trial.request.spec.to_string())
    return out


def test_the_simulator_proposes_exactly_what_the_live_runner_does(table: OracleTable) -> None:
    spec = job()
    live = JobRunner(spec, load_dataset(spec.dataset), InlineExecutor(), MemoryTrialStore()).run()
    (simulated,) = simulate(spec, table, repeats=1)
    assert simulated.seed == spec.seed
    sim_trials = list(itertools.chain.from_iterable(simulated.trials.values()))
    assert proposals(sim_trials) == proposals(live)
    live_accuracy = {t.id: t.result.accuracy for t in live if t.result is not None}
    assert [t.result.accuracy for t in sorted(sim_trials, key=lambda t: t.id) if t.result] == [
        live_accuracy[t.id] for t in sorted(sim_trials, key=lambda t: t.id) if t.result
    ]
    # Charged as if trained: the table's compute for the epochs run.
    for trial in sim_trials:
        point = table.lookup(trial.request.spec)
        assert point is not None and trial.result is not None
        assert trial.result.cost_flops == point.epoch_flops * trial.result.epochs_run


def test_repetitions_have_their_own_seeds_and_orders(table: OracleTable) -> None:
    runs = simulate(job(), table, repeats=4)
    assert [r.seed for r in runs] == [4, 5, 6, 7]
    grid_orders = {tuple(t.request.spec.to_string() for t in r.trials["grid"]) for r in runs}
    assert len(grid_orders) > 1  # the grid is shuffled by the repetition's seed
    assert all(len({t.request.spec.to_string() for t in r.trials["grid"]}) == 4 for r in runs)
    again = simulate(job(), table, repeats=4)

    def all_trials(run: Any) -> list[Any]:
        return list(itertools.chain.from_iterable(run.trials.values()))

    assert [proposals(all_trials(r)) for r in again] == [proposals(all_trials(r)) for r in runs]


def three_seeds(table: OracleTable, tested: bool) -> OracleTable:
    """``table`` with seeds 0, 1, 2 per point, each seed's accuracies its own (validation
    0.1 * seed apart, test 0.5 + 0.1 * seed when ``tested``): any mixing of seeds shows."""
    points = []
    for point in table.points:
        (run,) = point.runs
        runs = [
            run.model_copy(
                update={
                    "seed": seed,
                    "val_accuracy": [min(1.0, v + 0.1 * seed) for v in run.val_accuracy],
                    "test_accuracy": 0.5 + 0.1 * seed if tested else None,
                }
            )
            for seed in range(3)
        ]
        points.append(point.model_copy(update={"runs": runs}))
    return table.model_copy(update={"points": points})


@pytest.mark.parametrize("tested", [True, False], ids=["test split", "no test split"])
def test_held_out_scoring_never_uses_the_seen_seed(table: OracleTable, tested: bool) -> None:
    # the strategy sees one seed's validation accuracy; the step's truth is the other two
    # seeds' test accuracy (or, in a table without test scores, their validation accuracy)
    held = three_seeds(table, tested)
    assert held.split(2) == ("test" if tested else "validation")
    seen_seeds = set()
    (run,) = simulate(job(), held, repeats=1)
    for trial, step in zip(run.trials["grid"], run.steps["grid"], strict=True):
        point = held.lookup(trial.request.spec)
        assert point is not None and trial.result is not None and step.cost > 0
        (seed,) = [r.seed for r in point.runs if r.val_accuracy[-1] == trial.result.accuracy]
        seen_seeds.add(seed)
        others = [r for r in point.runs if r.seed != seed]
        if tested:
            expected = sum(r.test_accuracy or 0.0 for r in others) / 2
        else:
            expected = sum(r.val_accuracy[-1] for r in others) / 2
        assert step.true == pytest.approx(expected)
    # seed 1 is the middle one: its held-out mean equals the mean over all three seeds; seeds
    # 0 and 2 tell held-out scoring apart from it
    assert seen_seeds - {1}
    # a trial of fewer epochs than the table's has no test score at that epoch: validation
    assert held.split(1) == "validation"


def test_a_point_with_one_seed_has_no_held_out_score(table: OracleTable) -> None:
    point = table.points[0]
    assert point.held_out(point.runs[0].seed, "validation", 2) is None
    assert point.held_out(None, "validation", 2) == point.mean(2)


def test_seeds_are_drawn_per_proposal(table: OracleTable) -> None:
    first = table.points[0]
    zero = first.runs[0].model_copy(update={"seed": 1, "val_accuracy": [0.0, 0.0]})
    two_seeds = first.model_copy(update={"runs": [*first.runs, zero]})
    noisy = table.model_copy(update={"points": [two_seeds, *table.points[1:]]})
    executor = OracleExecutor(noisy, random.Random(0))
    seen = set()
    spec = parse_spec(two_seeds.spec)
    for trial_id in range(20):
        executor.submit(trial_id, TrialRequest(spec=spec, epochs=2), job().dataset, lambda r: False)
        (done,) = executor.wait()
        assert done.result is not None
        seen.add(done.result.accuracy)
    assert len(seen) == 2  # both seeds come up


def test_only_fixed_stride_strategies_over_the_tables_space(table: OracleTable) -> None:
    with pytest.raises(OptionsError) as info:
        simulate(job(strategies=["grid", "diffstride"]), table, repeats=1)
    assert info.value.field == "strategies[1].name"
    with pytest.raises(OptionsError) as info:
        simulate(job(space={"strides": [[1, 2], [1, 2, 3]]}), table, repeats=1)
    assert info.value.field == "space.strides"
    with pytest.raises(OptionsError) as info:
        simulate(job(budget={"unit": "trials", "total": 3, "epochs_per_trial": 5}), table, 1)
    assert info.value.field == "budget.epochs_per_trial"
