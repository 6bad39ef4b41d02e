"""The contract every registered strategy keeps (``nas.strategies.names()``), in the style of
Optuna's sampler tests: one suite parametrized over the registry, so a new strategy is covered
the day it is registered. Synthetic objective (``tests.fakes``), tiny spaces and budgets.

- registered under its own name, with options that forbid unknown fields;
- replay: rebuilt from its records (with a trial in flight), it asks exactly what it would have
  asked, and agrees on ``is_finished`` (on a stride space and on one with block and
  downsampling choices);
- options are validated, the error naming the field (directly and through ``JobSpec``);
- once ``is_finished``, ``ask`` and ``propose`` give nothing (and ask records nothing);
- run by the ``JobRunner``, it never spends more than its share (FLOPs and trial budgets);
- chained onto another strategy's recommendation (``from``: ``nas.strategies.chained``), it
  waits until begun, then asks from that base, and a replay of its own trials (never begun)
  rebuilds the same base and asks exactly what it would have asked.

``FAST`` gives a strategy options that keep it small; a strategy not listed runs with its
defaults. ``VARIANTS`` adds a strategy again under other options that change what it asks (the
cost-ordered grid): the suite runs over every name and every variant.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from harness import drive, replayed
from pydantic import ValidationError

from nas import strategies
from nas.data import ImageData, load
from nas.job import JobError, JobSpec
from nas.search_space import SearchSpace
from nas.strategies.base import SearchStrategy, StrategyContext
from nas.strategies.chained import Chained
from tests.fakes import SyntheticExecutor, SyntheticObjective
from workers.executors.interface import InlineExecutor
from workers.jobs.runner import JobRunner, fit_base
from workers.jobs.store import MemoryTrialStore, TrialState

NAMES = strategies.names()
FAST: dict[str, dict[str, Any]] = {
    "optuna": {"n_startup_trials": 3},
    "compound": {"max_grid_points": 3, "phi_max": 2},
    "diffstride": {"inits": [[1, 2, 2, 2], [1, 1.5, 2.5, 1.5]]},
}
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    **{name: (name, FAST.get(name, {})) for name in NAMES},
    "grid[cost]": ("grid", {"order": "cost"}),
    "grid[product]": ("grid", {"order": "product"}),
}
SPACES = {
    "strides": SearchSpace(strides=[[1, 2]] * 4, widths=[0.5, 1.0]),
    "blocks": SearchSpace(
        strides=[[1, 2]] * 4,
        blocks=[["basic", "bottleneck"]],
        downsamples=["strided", "maxpool"],
    ),
}
Make = Callable[..., StrategyContext]


def build(variant: str, context: StrategyContext) -> SearchStrategy:
    name, options = VARIANTS[variant]
    return strategies.get(name)(context, options)


@pytest.mark.parametrize("name", NAMES)
def test_registered_under_its_name_with_strict_options(name: str) -> None:
    cls = strategies.get(name)
    assert cls.name == name and cls.description
    assert cls.Options.model_config.get("extra") == "forbid"


@pytest.mark.parametrize("k", [0, 4, 9])
@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("name", VARIANTS)
def test_replay_asks_the_same_next_trial(
    make_context: Make, objective: SyntheticObjective, name: str, space: str, k: int
) -> None:
    def make() -> SearchStrategy:
        return build(name, make_context(space=SPACES[space], seed=4))

    strategy = make()
    drive(strategy, objective, k)
    strategy.ask()  # one trial in flight (when it has one to ask)
    fresh = replayed(strategy, make())
    assert [r.state for r in fresh.records] == [r.state for r in strategy.records]
    assert fresh.is_finished() == strategy.is_finished()
    assert fresh.ask() == strategy.ask()


@pytest.mark.parametrize("name", NAMES)
def test_options_are_validated_naming_the_field(make_context: Make, name: str) -> None:
    with pytest.raises(ValidationError) as info:
        strategies.get(name)(make_context(), {"no_such_option": 1})
    assert info.value.errors()[0]["loc"][0] == "no_such_option"
    with pytest.raises(JobError) as job_info:
        job(name, no_such_option=1)
    assert job_info.value.field == "strategies[0].options.no_such_option"


@pytest.mark.parametrize("name", VARIANTS)
def test_nothing_is_proposed_once_finished(
    make_context: Make, objective: SyntheticObjective, name: str
) -> None:
    space = SearchSpace(strides=[[1], [1, 2], [2], [1, 2]])  # 4 points
    strategy = build(name, make_context(space=space))
    drive(strategy, objective, 50)
    if not strategy.is_finished():
        pytest.skip(f"{name} does not finish on a 4-point space within 50 trials")
    asked = len(strategy.records)
    assert strategy.ask() is None and len(strategy.records) == asked
    assert strategy.propose() is None
    fresh = replayed(strategy, build(name, make_context(space=space)))
    assert fresh.is_finished() and fresh.ask() is None


@pytest.mark.parametrize("k", [0, 3])
@pytest.mark.parametrize("name", VARIANTS)
def test_a_chained_strategy_replays_from_the_base_its_trials_name(
    make_context: Make, objective: SyntheticObjective, name: str, k: int
) -> None:
    source = strategies.get("diffstride")(make_context(key="diffstride"), FAST["diffstride"])
    drive(source, objective, 10)
    retrains = [r for r in source.records if r.request.params.get("phase") == "retrain"]
    recommended = max(retrains, key=lambda r: (r.accuracy or 0.0, -r.number))

    def make() -> Chained:
        cls, options = strategies.get(VARIANTS[name][0]), VARIANTS[name][1]
        context = make_context(space=SPACES["strides"], seed=4, key="chained")
        return Chained(context, "diffstride", partial(cls, options=options))

    strategy = make()
    assert strategy.ask() is None and not strategy.is_finished()  # waits to be begun
    assert strategy.begin(source.records)
    assert strategy.inner is not None and strategy.inner.context.base == recommended.request.spec
    drive(strategy, objective, k)
    first = strategy.ask()  # one trial in flight (when it has one to ask)
    assert first is None or first.params["base_trial"] == recommended.number
    fresh = replayed(strategy, make())
    assert fresh.inner is not None and fresh.inner.context.base == recommended.request.spec
    assert [r.state for r in fresh.records] == [r.state for r in strategy.records]
    assert fresh.is_finished() == strategy.is_finished()
    assert fresh.ask() == strategy.ask()


def job(variant: str, **config: Any) -> JobSpec:
    name, options = VARIANTS[variant]
    return JobSpec.parse(
        {
            "name": "contract",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": {"strides": [[1], [1, 2], [1, 2], [1, 2]]},
            "strategies": [{"name": name, "options": {**options, **config}}],
            "budget": {"unit": "base_epochs", "total": 3, "epochs_per_trial": 1},
            "confirm_seeds": 0,
        }
    )


@pytest.fixture(scope="module")
def data() -> ImageData:
    return load("synthetic", subset=200)


@pytest.mark.parametrize("unit", ["base_epochs", "flops", "trials"])
@pytest.mark.parametrize("name", VARIANTS)
def test_a_run_spends_at_most_its_share(data: ImageData, name: str, unit: str) -> None:
    spec = job(name)
    probe = JobRunner(spec, data, InlineExecutor(), MemoryTrialStore())
    total = 3 * probe.epoch_cost(probe.base) if unit == "flops" else 3  # 3 base epochs
    budget = spec.budget.model_copy(update={"unit": unit, "total": total})
    spec = spec.model_copy(update={"budget": budget})
    objective = SyntheticObjective(
        base=fit_base(spec, data), target_strides=(1, 2, 2, 1), cost_of_epoch=probe.epoch_cost
    )
    runner = JobRunner(spec, data, SyntheticExecutor(objective), MemoryTrialStore())
    trials = runner.run()
    (use,) = runner.budget_use().values()
    run = [t for t in trials if t.state != TrialState.SKIPPED]
    assert run and use.stopped is not None
    assert use.spent <= use.budget
    if unit == "trials":
        assert len(run) <= use.budget == 3
    else:
        assert sum(t.result.cost_flops for t in run if t.result) <= use.budget
