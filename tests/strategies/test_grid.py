"""Grid search enumerates exactly its space, in a fixed order, skipping impossible points."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from harness import drive, replayed

from nas.data import load
from nas.errors import OptionsError
from nas.job import JobError, JobSpec
from nas.search_space import SearchSpace
from nas.strategies.grid import GridSearch
from nas.strategies.space import Space, is_valid_choice, key_of_params
from tests.fakes import SyntheticExecutor, SyntheticObjective
from workers.executors.interface import InlineExecutor
from workers.jobs.runner import JobRunner
from workers.jobs.store import MemoryTrialStore, TrialState


def expected_points(base, space: SearchSpace) -> list[tuple]:  # type: ignore[no-untyped-def]
    stride_choices = itertools.product(*space.strides)
    points = []
    for strides, width, depth, resolution in itertools.product(
        stride_choices, space.widths, space.depths, space.resolutions or [base.resolution]
    ):
        if is_valid_choice(base, strides=strides, width=width, depth=depth, resolution=resolution):
            # no block or downsampling choices in the space: those key entries are None
            points.append((tuple(float(s) for s in strides), width, depth, resolution, None, None))
    return points


def test_enumerates_exactly_its_space_in_order(make_context, objective, base_spec) -> None:
    space = SearchSpace(
        strides=[[1, 2], [1, 2, 3], [2], [1, 2]], widths=[0.5, 1.0], depths=[1.0, 2.0]
    )
    grid = GridSearch(make_context(space=space), {"order": "product"})
    records = drive(grid, objective, 1000)
    keys = [key_of_params(r.request.params) for r in records]
    expected = expected_points(base_spec, space)
    assert len(keys) == len(expected) == 2 * 3 * 2 * 2 * 2
    assert keys == expected  # the product order, strides outermost
    assert grid.is_finished() and grid.ask() is None
    for record in records:  # each request's spec is what its params say
        assert [s[0] for s in record.request.spec.strides] == record.request.params["strides"]


def test_skips_impossible_points(make_context, objective, base_spec) -> None:
    # 28 px input: four stride-4 stages (or 3, 4, 4, ...) cannot leave a pixel.
    space = SearchSpace(strides=[[1, 4]] * 4, resolutions=[16, 28])
    records = drive(GridSearch(make_context(space=space)), objective, 1000)
    expected = expected_points(base_spec, space)
    assert 0 < len(expected) < 2**4 * 2
    assert sorted(key_of_params(r.request.params) for r in records) == sorted(expected)
    assert all(r.request.spec.output_resolution() >= 1 for r in records)


def test_empty_strides_and_resolutions_mean_the_base(make_context, objective, base_spec) -> None:
    space = SearchSpace(widths=[0.5, 1.0, 2.0])
    records = drive(GridSearch(make_context(space=space)), objective, 100)
    assert sorted(r.request.params["width"] for r in records) == [0.5, 1.0, 2.0]
    assert all(r.request.params["strides"] == [1, 2, 2, 2] for r in records)
    assert all(r.request.spec.resolution == base_spec.resolution for r in records)
    (unit,) = [r for r in records if r.request.params["width"] == 1.0]
    assert unit.request.spec == base_spec


def test_the_default_order_is_a_seeded_shuffle_of_the_whole_space(
    make_context, objective, base_spec
) -> None:
    space = SearchSpace(strides=[[1], [1, 2], [1, 2, 3], [1, 2, 3]])
    orders = []
    for seed in (0, 0, 1):
        records = drive(GridSearch(make_context(space=space, seed=seed)), objective, 100)
        orders.append([key_of_params(r.request.params) for r in records])
    expected = expected_points(base_spec, space)
    assert sorted(orders[0]) == sorted(expected) and len(orders[0]) == 18  # every point once
    assert orders[0] == orders[1]  # the same seed, the same order (replayable)
    assert orders[0] != orders[2]  # another seed, another order
    assert orders[0] != expected  # not the product order


def test_a_shuffled_grid_replays_to_the_same_next_ask(make_context, objective) -> None:
    space = SearchSpace(strides=[[1], [1, 2], [1, 2, 3], [1, 2, 3]])
    grid = GridSearch(make_context(space=space, seed=5))
    drive(grid, objective, 7)
    fresh = replayed(grid, GridSearch(make_context(space=space, seed=5)))
    first, second = grid.ask(), fresh.ask()
    assert first is not None and second is not None
    assert first.params == second.params


def test_a_job_asked_before_grids_were_shuffled_resumes_in_product_order(
    make_context, objective
) -> None:
    # Trials stored by an older server name no order: the grid must go on where it was.
    space = SearchSpace(strides=[[1], [1, 2], [1, 2, 3], [1, 2, 3]])
    old = GridSearch(make_context(space=space), {"order": "product"})
    drive(old, objective, 5)
    for record in old.records:
        del record.request.params["order"]  # as stored before
    resumed = replayed(old, GridSearch(make_context(space=space)))
    rest = drive(resumed, objective, 100)
    keys = [key_of_params(r.request.params) for r in rest]
    product = [
        key_of_params(r.request.params)
        for r in drive(GridSearch(make_context(space=space), {"order": "product"}), objective, 100)
    ]
    assert keys == product  # all 18 points, in product order, none twice


# ---- order: cost ------------------------------------------------------------------------------

COST_SPACE = {
    "strides": [[1], [1, 2], [2], [2, 4]],
    "widths": [0.5, 1.0],
    "depths": [1.0, 2.0],
    "resolutions": [8, 28],  # 8 px under strides 1-2-2-4 leaves no pixel: impossible points
}


def test_a_cost_ordered_grid_trains_the_cheapest_point_first_by_the_budgets_estimate() -> None:
    spec = JobSpec.parse(
        {
            "name": "cheapest-first",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": COST_SPACE,
            "strategies": [{"name": "grid", "options": {"order": "cost"}}],
            "budget": {"unit": "base_epochs", "total": 1000, "epochs_per_trial": 2},
            "confirm_seeds": 0,
        }
    )
    data = load("synthetic", subset=200)
    probe = JobRunner(spec, data, InlineExecutor(), MemoryTrialStore())
    objective = SyntheticObjective(
        base=probe.base, target_strides=(1, 2, 2, 2), cost_of_epoch=probe.epoch_cost
    )
    runner = JobRunner(spec, data, SyntheticExecutor(objective), MemoryTrialStore())
    trials = sorted(runner.run(), key=lambda t: t.number)
    assert all(t.state == TrialState.COMPLETED for t in trials)
    space = Space(runner.base, spec.space)
    keys = [key_of_params(t.request.params) for t in trials]
    indices = [space.index_of(key) if key is not None else None for key in keys]
    assert sorted(indices) == list(space.valid_indices())  # every valid point once
    assert 0 < len(indices) < space.size  # some points are impossible
    # in the order of what the budget estimates (and charges), ties in product order
    estimates = [runner.ledger.estimate(t.request.spec) for t in trials]
    charged = list(zip(estimates, indices, strict=True))
    assert charged == sorted(charged)
    assert [t.result.cost_flops for t in trials if t.result] == estimates
    assert {t.request.params["order"] for t in trials} == {"cost"}
    widths = {t.request.params["width"] for t in trials[:4]}
    assert widths == {0.5} and trials[-1].request.params["depth"] == 2.0  # small first


def cheapest_first_job(total: float, parallel: int = 1) -> JobSpec:
    return JobSpec.parse(
        {
            "name": "cheapest-first",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": COST_SPACE,
            "strategies": [{"name": "grid", "options": {"order": "cost"}}],
            "budget": {
                "unit": "base_epochs",
                "total": total,
                "epochs_per_trial": 2,
                "parallel_trials": parallel,
            },
            "confirm_seeds": 0,
        }
    )


def cheapest_first_runner(total: float, parallel: int = 1) -> JobRunner:
    data = load("synthetic", subset=200)
    probe = JobRunner(cheapest_first_job(1000), data, InlineExecutor(), MemoryTrialStore())
    objective = SyntheticObjective(
        base=probe.base, target_strides=(1, 2, 2, 2), cost_of_epoch=probe.epoch_cost
    )
    job = cheapest_first_job(total, parallel)
    return JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore())


def test_a_cost_ordered_grid_stops_at_its_first_point_over_budget() -> None:
    """Cheapest first, once a point does not fit what is left (one trial at a time: nothing in
    flight to give back), no later one can: it stops there, one skip, not 25 (the rule for
    other strategies), saying what the cheapest point left needs."""
    runner = cheapest_first_runner(6)
    trials = sorted(runner.run(), key=lambda t: t.number)
    states = [t.state for t in trials]
    assert states.count(TrialState.SKIPPED) == 1 and states[-1] == TrialState.SKIPPED
    assert TrialState.COMPLETED in states
    (account,) = runner.ledger.accounts.values()
    stopped = account.stopped or ""
    assert stopped.startswith("budget: its cheapest proposal left needs "), stopped
    estimates = [runner.ledger.estimate(t.request.spec) for t in trials]
    assert estimates == sorted(estimates)  # the skipped one costs at least every trained one
    assert not account.fits(estimates[-1])


def test_cost_ties_keep_product_order(make_context, objective, base_spec) -> None:
    space = SearchSpace(strides=[[1, 2], [1, 2], [2], [1, 2]], widths=[1.0, 0.5])
    context = make_context(space=space)
    by_width = replace(context, epoch_cost=lambda spec: float(spec.stages[-1].out_channels))
    records = drive(GridSearch(by_width, {"order": "cost"}), objective, 100)
    keys = [key_of_params(r.request.params) for r in records]
    product = expected_points(base_spec, space)
    assert keys == [k for k in product if k[1] == 0.5] + [k for k in product if k[1] == 1.0]


def test_a_resumed_cost_ordered_grid_asks_what_an_unstopped_one_would(
    make_context, objective
) -> None:
    space = SearchSpace(strides=[[1, 2], [1, 2, 3], [2], [1, 2]], widths=[0.5, 1.0])
    whole = [
        r.request
        for r in drive(GridSearch(make_context(space=space), {"order": "cost"}), objective, 100)
    ]
    assert len(whole) == 24
    costs = [objective.epoch_cost(r.spec) for r in whole]
    assert costs == sorted(costs)
    for k in (1, 7, 23):
        grid = GridSearch(make_context(space=space), {"order": "cost"})
        drive(grid, objective, k)
        grid.ask()  # one trial in flight
        resumed = replayed(grid, GridSearch(make_context(space=space), {"order": "cost"}))
        rest = drive(resumed, objective, 100)
        assert [r.request for r in rest] == whole


def test_a_cost_order_needs_a_space_it_can_estimate(make_context) -> None:
    huge = SearchSpace(strides=[[1, 2, 3, 4, 5]] * 4, widths=[0.25 * k for k in range(1, 11)])
    with pytest.raises(OptionsError) as info:
        GridSearch(make_context(space=huge), {"order": "cost"})
    assert info.value.field == "options.order"
    GridSearch(make_context(space=huge), {"order": "product"})  # the other orders do not estimate


def test_an_unknown_order_names_the_field() -> None:
    with pytest.raises(JobError) as info:
        JobSpec.parse(
            {
                "name": "bad",
                "dataset": {"name": "synthetic"},
                "strategies": [{"name": "grid", "options": {"order": "cheapest"}}],
                "budget": {"unit": "trials", "total": 3},
            }
        )
    assert info.value.field == "strategies[0].options.order"


def test_an_extended_cost_ordered_grid_trains_the_point_it_skipped_next() -> None:
    """Stopped at its first point over budget, then given more: the grid asks for that point
    again (it is still the cheapest left) and goes on from there; no point trains twice, and a
    run rebuilt from the store (a restart) asks what this one asks."""
    runner = cheapest_first_runner(6)
    first = sorted(runner.run(), key=lambda t: t.number)
    skipped = first[-1]
    assert skipped.state == TrialState.SKIPPED
    runner.extend(runner.job.budget.model_copy(update={"total": 40}))
    trials = sorted(runner.run(), key=lambda t: t.number)
    after = trials[len(first) :]
    assert after, "the extension trained nothing"
    assert after[0].request.spec == skipped.request.spec
    assert after[0].state == TrialState.COMPLETED
    trained = [t.request.spec.to_string() for t in trials if t.state == TrialState.COMPLETED]
    assert len(trained) == len(set(trained))
    estimates = [runner.ledger.estimate(t.request.spec) for t in trials if t.state != "skipped"]
    assert estimates == sorted(estimates)  # still cheapest first
    data = load("synthetic", subset=200)
    rebuilt = JobRunner(runner.job, data, runner.executor, runner.store)
    rebuilt.start()
    (state,) = rebuilt.states.values()
    (live,) = runner.states.values()
    assert [r.state for r in state.strategy.records] == [r.state for r in live.strategy.records]
    assert state.strategy.propose() == live.strategy.propose()


def test_a_cost_ordered_grid_waits_for_its_trials_in_flight_after_a_skip() -> None:
    """Trials in flight when a point does not fit: the grid is not asked again until one of
    them finishes (it would propose the same point), so it skips far fewer times than the 25
    in a row that stop other strategies."""
    runner = cheapest_first_runner(9, parallel=3)
    trials = runner.run()
    skips = [t for t in trials if t.state == TrialState.SKIPPED]
    assert skips and len(skips) <= 3
    assert sum(t.state == TrialState.COMPLETED for t in trials) >= 2
