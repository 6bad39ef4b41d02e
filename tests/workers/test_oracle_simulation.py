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
from workers.executor import InlineExecutor
from workers.oracle import OracleExecutor, simulate
from workers.runner import JobRunner
from workers.store import MemoryTrialStore
from workers.trial_entry import load_dataset

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


def test_steps_score_the_truth_and_seeds_are_drawn_per_proposal(table: OracleTable) -> None:
    (run,) = simulate(job(), table, repeats=1)
    for trial, step in zip(run.trials["grid"], run.steps["grid"], strict=True):
        point = table.lookup(trial.request.spec)
        assert point is not None and step.true == point.mean(2) and step.cost > 0
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
