"""``nas.strategies.chained``: a strategy started from another's recommendation.

The recommendation is the source's most accurate completed fixed-stride trial (the product's
rule, ``nas.recommend``: ties to the earliest; DiffStride's search networks, pruned, failed and
non-finite trials are no candidates); a source with none leaves the chained strategy finished
with the reason, and options that do not fit the recommended architecture say so too. Replay
takes the base from the stored trials (the source's later trials change nothing) and refuses
trials that name no base. (Replay's determinism for every strategy: ``test_contract``.)
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import pytest

from nas import strategies
from nas.spec import ArchSpec
from nas.strategies.base import RecordState, StrategyContext, TrialRecord
from nas.strategies.chained import Chained, recommendation
from nas.trial import TrialRequest
from tests.fakes import SyntheticObjective


def record(
    spec: ArchSpec,
    number: int,
    objective: SyntheticObjective,
    accuracy: float | None,
    state: RecordState = RecordState.COMPLETED,
) -> TrialRecord:
    request = TrialRequest(spec=spec, epochs=1, number=number)
    result = None
    if accuracy is not None:
        result = objective.evaluate(request).model_copy(update={"accuracy": accuracy})
    return TrialRecord(request, state, result)


def learned(spec: ArchSpec) -> ArchSpec:
    """``spec`` with DiffStride on its second stage (a search network)."""
    stages = [s.model_dump() for s in spec.stages]
    stages[1]["downsample"] = "diffstride"
    return spec.replace(stages=stages)


def chained(context: StrategyContext, name: str = "compound", **options: Any) -> Chained:
    return Chained(context, "src", partial(strategies.get(name), options=options))


def test_the_recommendation_is_the_best_completed_fixed_stride_trial(
    base_spec: ArchSpec, objective: SyntheticObjective
) -> None:
    a, b = base_spec.with_strides([1, 1, 2, 2]), base_spec.with_strides([1, 2, 1, 2])
    records = [
        record(learned(base_spec), 0, objective, 0.99),  # a search network: never
        record(a, 1, objective, 0.80),
        record(b, 2, objective, 0.90),
        record(a, 3, objective, 0.95, RecordState.PRUNED),  # pruned: never
        record(a, 4, objective, None, RecordState.FAILED),
        record(a, 5, objective, math.nan),  # not finite: never
        record(a, 6, objective, 0.90),  # as good as #2, later: #2 stays
    ]
    found = recommendation(records)
    assert found is not None and found.number == 2
    assert recommendation(records[:2]) is records[1]
    assert recommendation([records[0], records[3], records[4]]) is None


def test_it_waits_then_starts_from_the_recommendation(
    make_context: Any, base_spec: ArchSpec, objective: SyntheticObjective
) -> None:
    strategy = chained(make_context(key="after"), max_grid_points=2, phi_max=2)
    assert strategy.ask() is None and not strategy.is_finished() and not strategy.started
    best = base_spec.with_strides([1, 2, 2, 1])
    assert strategy.begin([record(base_spec, 0, objective, 0.7), record(best, 1, objective, 0.9)])
    request = strategy.ask()
    assert request is not None and request.strategy == "after" and request.number == 0
    assert strategy.inner is not None and strategy.inner.context.base == best
    origin = {"base_from": "src", "base_trial": 1, "base_spec": best.to_string()}
    assert request.params.items() >= origin.items() and request.params["phase"] == "grid"
    assert strategy.records is strategy.inner.records and len(strategy.records) == 1


def test_a_source_with_nothing_usable_leaves_it_finished_with_the_reason(
    make_context: Any, base_spec: ArchSpec, objective: SyntheticObjective
) -> None:
    strategy = chained(make_context())
    assert not strategy.begin([record(learned(base_spec), 0, objective, 0.9)])
    assert strategy.is_finished() and strategy.ask() is None and not strategy.started
    assert strategy.finished_reason() == (
        "nothing to start from: src has no completed fixed-stride trial"
    )
    assert strategy.begin([record(base_spec, 0, objective, 0.5)])  # looked at again: starts
    assert not strategy.is_finished() and strategy.ask() is not None


def test_options_that_do_not_fit_the_recommendation_say_so(
    make_context: Any, base_spec: ArchSpec, objective: SyntheticObjective
) -> None:
    strategy = chained(make_context(), "diffstride")  # DiffStride on a network with no stride
    flat = base_spec.with_strides([1, 1, 1, 1])
    assert not strategy.begin([record(flat, 0, objective, 0.9)])
    assert strategy.is_finished()
    assert strategy.finished_reason().startswith(
        "cannot start from src #0: which_stages: no stage downsamples"
    )


def test_replay_takes_the_base_its_trials_name_not_the_sources_latest(
    make_context: Any, base_spec: ArchSpec, objective: SyntheticObjective
) -> None:
    first, later = base_spec.with_strides([1, 2, 2, 1]), base_spec.with_strides([1, 1, 2, 2])
    strategy = chained(make_context(), max_grid_points=2, phi_max=2)
    strategy.begin([record(first, 0, objective, 0.8)])
    request = strategy.ask()
    assert request is not None
    fresh = chained(make_context(), max_grid_points=2, phi_max=2)
    fresh.replay([(request, None, False)])
    assert fresh.inner is not None and fresh.inner.context.base == first
    assert fresh.origin["base_trial"] == 0 and fresh.ask() == strategy.ask()
    # the source trained better since (an extension): the replayed base is still the first
    now = recommendation([record(first, 0, objective, 0.8), record(later, 1, objective, 0.9)])
    assert now is not None and now.request.spec == later
    bare = request.model_copy(update={"params": {"phase": "grid"}})
    with pytest.raises(ValueError, match="names no base"):
        chained(make_context()).replay([(bare, None, False)])
