"""Optuna strategy: TPE beats random, CMA-ES/NSGA-II run, pruning prunes, replay is exact."""

from __future__ import annotations

import statistics

import pytest
from harness import drive, replayed
from pydantic import ValidationError

from nas.search_space import Objectives, SearchSpace
from nas.strategies.optuna_search import OptunaSearch
from nas.strategies.random_search import RandomSearch
from nas.strategies.space import key_of_params
from nas.trial import EpochReport

# 3^4 x 3 = 243 points, 210 of them possible on the 28 px base; the optimum is unique.
SPACE = SearchSpace(strides=[[1, 2, 3]] * 4, widths=[0.5, 1.0, 2.0])


def keys(records) -> list:  # type: ignore[no-untyped-def]
    return [key_of_params(r.request.params) for r in records]


def report(epoch: int, accuracy: float) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        train_loss=1.0,
        train_accuracy=accuracy,
        val_loss=1.0,
        val_accuracy=accuracy,
        lr=0.1,
        seconds=0.0,
    )


def test_tpe_beats_random_on_average(make_context, objective) -> None:
    def best(strategy) -> float:  # type: ignore[no-untyped-def]
        records = drive(strategy, objective, 25, report_epochs=False)
        return max(r.accuracy or 0.0 for r in records)

    seeds = range(5)
    tpe = [best(OptunaSearch(make_context(space=SPACE, seed=s), {"pruner": "none"})) for s in seeds]
    rnd = [best(RandomSearch(make_context(space=SPACE, seed=s))) for s in seeds]
    assert statistics.mean(tpe) > statistics.mean(rnd) + 0.01, (tpe, rnd)


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "nsga2", "random"])
def test_samplers_run_without_duplicates(make_context, objective, sampler: str) -> None:
    search = OptunaSearch(make_context(space=SPACE), {"sampler": sampler, "population_size": 8})
    records = drive(search, objective, 30)
    assert len(records) == 30
    assert len(set(keys(records))) == 30
    assert all(r.state in {"completed", "pruned"} for r in records)


def test_exhausts_a_small_space(make_context, objective) -> None:
    search = OptunaSearch(make_context(space=SearchSpace(strides=[[1, 2]] * 4)))
    records = drive(search, objective, 40)
    assert len(records) == len(set(keys(records))) == 16
    assert search.is_finished() and search.ask() is None


@pytest.mark.parametrize(
    ("options", "objectives"),
    [({"sampler": "nsga2", "population_size": 6}, None), ({}, Objectives(secondary="params"))],
)
def test_multi_objective_pareto_set(make_context, objective, options, objectives) -> None:
    search = OptunaSearch(make_context(space=SPACE, objectives=objectives), options)
    assert search.multi_objective
    records = drive(search, objective, 30)
    done = [r for r in records if r.state == "completed"]
    front = search.pareto_front()
    assert front and len(front) < len(done)
    cost = "macs" if objectives is None else "params"

    def point(r) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        return (r.result.accuracy, float(getattr(r.result, cost)))

    def dominates(a, b) -> bool:  # type: ignore[no-untyped-def]
        return a[0] >= b[0] and a[1] <= b[1] and a != b

    for r in front:
        assert not any(dominates(point(o), point(r)) for o in done)
    for r in done:
        assert r in front or any(dominates(point(f), point(r)) for f in front)
    # the front spans the trade-off: its most accurate member is the most accurate overall
    assert max(point(r)[0] for r in front) == max(point(r)[0] for r in done)


def _tell_good_trials(search: OptunaSearch, objective, n: int) -> None:  # type: ignore[no-untyped-def]
    for _ in range(n):
        request = search.ask()
        assert request is not None
        for e in range(1, request.epochs + 1):
            assert not search.report(request.number, report(e, 0.8 + 0.01 * e))
        search.tell(request.number, objective.evaluate(request))


@pytest.mark.parametrize("pruner", ["median", "hyperband"])
def test_pruner_prunes_bad_intermediate_values(make_context, objective, pruner: str) -> None:
    search = OptunaSearch(make_context(space=SPACE, epochs=4), {"pruner": pruner})
    _tell_good_trials(search, objective, 6)
    bad = search.ask()
    assert bad is not None
    assert any(search.report(bad.number, report(e, 0.1)) for e in range(1, 4))
    good = search.ask()
    assert good is not None
    assert not any(search.report(good.number, report(e, 0.95)) for e in range(1, 4))


def test_no_pruning_with_pruner_none(make_context, objective) -> None:
    search = OptunaSearch(make_context(space=SPACE, epochs=4), {"pruner": "none"})
    _tell_good_trials(search, objective, 6)
    bad = search.ask()
    assert bad is not None
    assert not any(search.report(bad.number, report(e, 0.1)) for e in range(1, 4))


def test_median_pruning_while_driving(make_context, objective) -> None:
    search = OptunaSearch(make_context(space=SPACE, epochs=4), {"sampler": "random"})
    records = drive(search, objective, 30)
    pruned = [r for r in records if r.state == "pruned"]
    completed = [r for r in records if r.state == "completed"]
    assert pruned and completed
    assert all(r.result is not None and r.result.epochs_run < 4 for r in pruned)
    best_pruned = max(r.reports[0].val_accuracy for r in pruned)
    assert best_pruned < max(r.reports[0].val_accuracy for r in completed)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"sampler": "cmaes", "n_startup_trials": 3},
        {"sampler": "nsga2", "population_size": 4},
        {"sampler": "random", "pruner": "hyperband"},
        {"sampler": "tpe", "n_startup_trials": 3, "pruner": "hyperband"},
    ],
)
@pytest.mark.parametrize("pending", [False, True])
def test_replay_asks_the_same_next_trial(make_context, objective, options, pending) -> None:
    search = OptunaSearch(make_context(space=SPACE, seed=7), options)
    drive(search, objective, 12)
    if pending:
        request = search.ask()
        assert request is not None
        search.report(request.number, report(1, 0.5))  # in flight, one epoch reported
    fresh = replayed(search, OptunaSearch(make_context(space=SPACE, seed=7), options))
    assert [r.state for r in fresh.records] == [r.state for r in search.records]
    assert fresh.ask() == search.ask()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"sampler": "grid"}, "sampler"),
        ({"pruner": "asha"}, "pruner"),
        ({"population_size": 1}, "population_size"),
        ({"n_startup_trials": -1}, "n_startup_trials"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_bad_options_name_the_field(make_context, options, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        OptunaSearch(make_context(), options)
