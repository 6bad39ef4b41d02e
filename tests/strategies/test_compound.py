"""Compound scaling strategy: the constrained grid, scaling the best triple, the ceiling, replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from nas.scaling import compound_scale, flops_factor
from nas.search_space import Objectives
from nas.spec import ArchSpec
from nas.strategies.base import StrategyContext, TrialRecord
from nas.strategies.compound import (
    PAPER_TRIPLE,
    CompoundOptions,
    CompoundScaling,
    grid_points,
    spec_cost,
)
from tests.fakes import SyntheticObjective

Make = Callable[..., StrategyContext]


def triple(record: TrialRecord) -> tuple[float, float, float]:
    p = record.request.params
    return (p["alpha"], p["beta"], p["gamma"])


def test_grid_satisfies_the_constraint() -> None:
    options = CompoundOptions()
    points = grid_points(options)
    assert len(points) == options.max_grid_points == len(set(points))
    assert points[0] == PAPER_TRIPLE
    assert all(abs(flops_factor(*t) - 2.0) <= 0.1 + 1e-9 for t in points)
    assert grid_points(CompoundOptions()) == points  # deterministic


def test_grid_without_limit_and_custom_target() -> None:
    options = CompoundOptions(
        alphas=[1.0, 1.5], betas=[1.0, 1.5], gammas=[1.0], target=2.25, tolerance=0.0,
        max_grid_points=None,
    )  # fmt: skip
    assert grid_points(options) == [(1.0, 1.5, 1.0)]
    everything = grid_points(CompoundOptions(max_grid_points=None))
    assert len(everything) > 6
    assert all(abs(flops_factor(*t) - 2.0) <= 0.1 + 1e-9 for t in everything)


def test_phases_and_best_triple(
    make_context: Make, objective: SyntheticObjective, drive: Any, base_spec: ArchSpec
) -> None:
    strategy = CompoundScaling(make_context(), {"phi_max": 3})
    records = drive(strategy, objective, 100)
    grid = [r for r in records if r.request.params["phase"] == "grid"]
    scaled = [r for r in records if r.request.params["phase"] == "scale"]
    assert [triple(r) for r in grid] == grid_points(CompoundOptions())
    assert all(r.request.params["phi"] == 1 for r in grid)
    assert records == grid + scaled  # all of phase 1 before phase 2
    best = max(grid, key=lambda r: r.accuracy or 0.0)
    assert strategy.best_triple() == triple(best)
    assert [r.request.params["phi"] for r in scaled] == [2, 3]
    for r in scaled:
        assert triple(r) == triple(best)
        assert r.request.spec == compound_scale(base_spec, r.request.params["phi"], *triple(best))
    assert strategy.is_finished()
    assert strategy.ask() is None
    assert strategy.finished_reason() == f"done: {len(grid)} grid points, scaled to phi 3"


def test_waits_for_phase_one(make_context: Make, objective: SyntheticObjective) -> None:
    strategy = CompoundScaling(make_context(), {"max_grid_points": 2, "phi_max": 2})
    a, b = strategy.ask(), strategy.ask()
    assert a is not None and b is not None
    assert strategy.ask() is None
    strategy.tell(a.number, objective.evaluate(a))
    assert strategy.ask() is None  # b still pending
    assert not strategy.is_finished()
    strategy.tell(b.number, None)  # a failed grid point just drops out
    c = strategy.ask()
    assert (
        c is not None
        and c.params["phase"] == "scale"
        and triple(strategy.records[2])
        == (
            a.params["alpha"],
            a.params["beta"],
            a.params["gamma"],
        )
    )
    assert strategy.ask() is None
    assert strategy.is_finished()  # everything asked (c may still be running)


def test_all_grid_points_failed(make_context: Make) -> None:
    strategy = CompoundScaling(make_context(), {"max_grid_points": 1})
    request = strategy.ask()
    assert request is not None
    strategy.tell(request.number, None)
    assert strategy.ask() is None
    assert strategy.is_finished()
    assert strategy.finished_reason() == "done: no grid point completed, nothing to scale"


def test_ceiling_is_respected(
    make_context: Make, objective: SyntheticObjective, drive: Any, base_spec: ArchSpec
) -> None:
    options = CompoundOptions(phi_max=4, max_grid_points=3)
    phi1 = sorted(spec_cost(compound_scale(base_spec, 1, *t))[0] for t in grid_points(options))
    ceiling = max(phi1) * 2  # every phi = 1 point fits; phi = 2 or 3 is the last that does
    strategy = CompoundScaling(make_context(objectives=Objectives(max_macs=ceiling)), options)
    records = drive(strategy, objective, 100)
    assert all(spec_cost(r.request.spec)[0] <= ceiling for r in records)
    scaled = [r for r in records if r.request.params["phase"] == "scale"]
    best = strategy.best_triple()
    assert best is not None
    phis = [r.request.params["phi"] for r in scaled]
    assert phis == list(range(2, 2 + len(phis)))
    assert len(phis) < 3  # stopped before phi_max
    assert spec_cost(compound_scale(base_spec, 2 + len(phis), *best))[0] > ceiling
    assert strategy.is_finished()


def test_phase_one_points_over_the_ceiling_are_skipped(
    make_context: Make, base_spec: ArchSpec
) -> None:
    options = CompoundOptions(max_grid_points=4)
    points = grid_points(options)
    macs = {t: spec_cost(compound_scale(base_spec, 1, *t))[0] for t in points}
    ceiling = sorted(macs.values())[len(points) // 2]
    strategy = CompoundScaling(make_context(objectives=Objectives(max_macs=ceiling)), options)
    asked = []
    while (request := strategy.ask()) is not None:
        asked.append((request.params["alpha"], request.params["beta"], request.params["gamma"]))
    assert asked == [t for t in points if macs[t] <= ceiling]
    assert 0 < len(asked) < len(points)


def test_param_ceiling(make_context: Make, objective: SyntheticObjective, drive: Any) -> None:
    ceiling = 2_000_000
    objectives = Objectives(max_params=ceiling)
    strategy = CompoundScaling(make_context(objectives=objectives), {"max_grid_points": 3})
    records = drive(strategy, objective, 100)
    assert records
    assert all(spec_cost(r.request.spec)[1] <= ceiling for r in records)


def test_replay_gives_the_same_next_ask(
    make_context: Make, objective: SyntheticObjective, drive: Any
) -> None:
    options = {"phi_max": 4, "max_grid_points": 3}
    strategy = CompoundScaling(make_context(), options)

    def check() -> None:
        fresh = CompoundScaling(make_context(), options)
        fresh.replay([(r.request, r.result, r.state != "pending") for r in strategy.records])
        assert fresh.records == strategy.records
        assert fresh.ask() == strategy.ask()  # may leave one more trial pending
        assert fresh.is_finished() == strategy.is_finished()

    rounds = 0
    while not strategy.is_finished() and rounds < 20:
        check()
        check()  # now often with two pending trials
        for record in strategy.pending[:1]:
            strategy.tell(record.number, objective.evaluate(record.request))
        check()
        drive(strategy, objective, 1)
        rounds += 1
    assert strategy.is_finished()
    assert [r.request.params["phi"] for r in strategy.records] == [1, 1, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"phi_max": 0}, "phi_max"),
        ({"alphas": [0.9, 1.2]}, "alphas"),
        ({"gammas": []}, "gammas"),
        ({"tolerance": -0.1}, "tolerance"),
        ({"target": 4.0, "tolerance": 0.01}, "tolerance"),  # empty grid
        ({"max_grid_points": 0}, "max_grid_points"),
        ({"delta": 1.0}, "delta"),
    ],
)
def test_invalid_options(make_context: Make, options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        CompoundScaling(make_context(), options)
    assert info.value.errors()[0]["loc"][0] == field
