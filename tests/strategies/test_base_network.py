"""``base``: the job's base network as it is, trained once per repeat, under every budget unit
and beside strategies that use their whole share."""

from __future__ import annotations

from typing import Any

import pytest
from harness import drive, replayed

from nas.data import ImageData, load
from nas.job import JobSpec
from nas.strategies.base import RecordState
from nas.strategies.base_network import NOT_TRAINED, TRAINED, BaseNetwork
from tests.fakes import SyntheticExecutor, SyntheticObjective
from workers.executors.interface import Completion, InlineExecutor
from workers.jobs.runner import JobRunner, fit_base
from workers.jobs.store import MemoryTrialStore, StoredTrial, TrialState


def test_asks_the_base_spec_once_and_is_finished_once_told(make_context, objective) -> None:
    context = make_context()
    strategy = BaseNetwork(context)
    request = strategy.ask()
    assert request is not None and request.spec == context.base
    assert request.epochs == context.epochs and request.options == context.train
    assert request.params == {"strides": [1, 2, 2, 2], "width": 1.0, "depth": 1.0, "resolution": 28}
    assert not strategy.is_finished() and strategy.ask() is None  # in flight: nothing more
    fresh = replayed(strategy, BaseNetwork(context))  # resumed with it in flight
    assert not fresh.is_finished() and fresh.ask() is None
    strategy.tell(0, objective.evaluate(request))
    assert strategy.is_finished() and strategy.ask() is None and len(strategy.records) == 1
    assert strategy.finished_reason() == TRAINED


def test_a_failed_trial_is_not_called_trained(make_context) -> None:
    strategy = BaseNetwork(make_context())
    assert strategy.ask() is not None
    strategy.tell(0, None)
    assert strategy.is_finished() and strategy.records[0].state == RecordState.FAILED
    assert strategy.finished_reason() == NOT_TRAINED


def test_anisotropic_base_strides_are_kept(make_context, base_spec, objective) -> None:
    stages = [s.model_dump() for s in base_spec.stages]
    stages[1]["stride"] = (2.0, 1.0)
    base = base_spec.replace(stages=stages)
    (record,) = drive(BaseNetwork(make_context(base=base)), objective, 5)
    assert record.request.spec == base
    assert record.request.params["strides"] == [1, [2.0, 1.0], 2, 2]


def job(unit: str, total: float, strategies: list[Any] | None = None, **changes: Any) -> JobSpec:
    return JobSpec.parse(
        {
            "name": "baseline",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": {"strides": [[1], [1, 2], [1, 2], [1, 2]]},
            "strategies": strategies or ["base"],
            "budget": {"unit": unit, "total": total, "epochs_per_trial": 2},
            "confirm_seeds": 0,
            **changes,
        }
    )


@pytest.fixture(scope="module")
def data() -> ImageData:
    return load("synthetic", subset=200)


def run(spec: JobSpec, data: ImageData) -> tuple[JobRunner, list[StoredTrial]]:
    """``spec`` run to the end on the synthetic objective, charged the runner's own estimate."""
    probe = JobRunner(spec, data, InlineExecutor(), MemoryTrialStore())
    objective = SyntheticObjective(
        base=fit_base(spec, data), target_strides=(1, 2, 2, 1), cost_of_epoch=probe.epoch_cost
    )
    runner = JobRunner(spec, data, SyntheticExecutor(objective), MemoryTrialStore())
    return runner, runner.run()


def base_epochs(data: ImageData, spec: JobSpec, n: float) -> float:
    runner = JobRunner(spec, data, InlineExecutor(), MemoryTrialStore())
    return n * runner.epoch_cost(runner.base)


@pytest.mark.parametrize("unit", ["trials", "flops", "base_epochs"])
def test_one_trial_of_the_base_under_every_unit(data: ImageData, unit: str) -> None:
    probe = job("trials", 10)
    total = base_epochs(data, probe, 10) if unit == "flops" else 10
    runner, trials = run(job(unit, total), data)
    (trial,) = trials
    assert trial.state == TrialState.COMPLETED and trial.request.spec == runner.base
    (use,) = runner.budget_use().values()
    assert use.stopped == TRAINED and use.fraction == 1.0 and use.trials == 1
    assert trial.result is not None
    assert use.spent == (1.0 if unit == "trials" else trial.result.cost_flops)
    assert use.spent < use.budget  # it finished early, with most of its share left


def test_repeats_train_the_base_once_per_seed(data: ImageData) -> None:
    runner, trials = run(job("base_epochs", 30, repeats=3, train={"seed": 7}), data)
    assert sorted(t.strategy for t in trials) == ["base/r0", "base/r1", "base/r2"]
    assert all(t.request.spec == runner.base for t in trials)
    assert sorted(t.request.options.seed for t in trials) == [7, 8, 9]
    assert all(u.stopped == TRAINED for u in runner.budget_use().values())


def test_beside_a_grid_it_stops_early_and_the_grid_keeps_its_share(data: ImageData) -> None:
    alone, _ = run(job("base_epochs", 10, ["grid"]), data)
    runner, trials = run(job("base_epochs", 20, ["base", "grid"]), data)
    use = runner.budget_use()
    assert use["base"].stopped == TRAINED and use["base"].trials == 1
    assert use["grid"].budget == use["base"].budget == alone.budget_use()["grid"].budget
    grid = [t.request.spec for t in trials if t.strategy == "grid"]
    assert len(grid) == alone.budget_use()["grid"].trials  # as many as on its own


def test_a_base_over_its_share_is_skipped_and_stops(data: ImageData) -> None:
    runner, trials = run(job("base_epochs", 1), data)  # one epoch's share, a 2-epoch trial
    (trial,) = trials
    assert trial.state == TrialState.SKIPPED
    (use,) = runner.budget_use().values()
    assert use.spent == 0 and use.stopped is not None and use.stopped != TRAINED


class FailingExecutor(SyntheticExecutor):
    """Every trial fails (an error of the trial, not retried)."""

    def wait(self, timeout: float | None = None) -> list[Completion]:
        trial_id, _, _ = self.queue.popleft()
        return [Completion(trial_id, None, "RuntimeError: out of memory")]


def test_a_failed_base_stops_without_asking_again(data: ImageData) -> None:
    spec = job("trials", 3)
    objective = SyntheticObjective(base=fit_base(spec, data), target_strides=(1, 2, 2, 1))
    runner = JobRunner(spec, data, FailingExecutor(objective), MemoryTrialStore())
    (trial,) = runner.run()
    assert trial.state == TrialState.FAILED
    assert runner.budget_use()["base"].stopped == NOT_TRAINED
