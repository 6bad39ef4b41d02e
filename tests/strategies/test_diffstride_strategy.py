"""DiffStride strategy: searches per init, rounded retrains, dedup, failures, replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from nas.errors import OptionsError
from nas.strategies.base import StrategyContext
from nas.strategies.diffstride import DiffStrideSearch, round_stride
from nas.strategies.synthetic import SyntheticObjective
from nas.trial import TrialRequest, TrialResult

Make = Callable[..., StrategyContext]


def learned(
    objective: SyntheticObjective, request: TrialRequest, strides: list[float | None]
) -> TrialResult:
    """The objective's result for ``request`` with fabricated learned (square) strides."""
    return objective.evaluate(request).model_copy(
        update={"learned_strides": [None if s is None else (s, s) for s in strides]}
    )


def ask(strategy: DiffStrideSearch) -> TrialRequest:
    request = strategy.ask()
    assert request is not None
    return request


def test_one_search_per_init_with_diffstride_and_regularizer(make_context: Make) -> None:
    inits = [[1, 2, 2, 2], [1, 1.5, 3, 2], [1, 2, 2, 2]]  # the duplicate is asked once
    strategy = DiffStrideSearch(make_context(), {"inits": inits, "regularizer": 0.3})
    searches = [ask(strategy), ask(strategy)]
    assert strategy.ask() is None  # waiting for search results
    assert not strategy.is_finished()
    for request, init in zip(searches, inits, strict=False):
        assert request.params == {"phase": "search", "init": init}
        assert request.options.stride_regularizer == 0.3
        assert [s.downsample for s in request.spec.stages] == [
            "strided",
            "diffstride",
            "diffstride",
            "diffstride",
        ]
        assert [s.stride for s in request.spec.stages] == [(float(v), float(v)) for v in init]


def test_default_init_is_the_base(make_context: Make, base_spec: Any) -> None:
    strategy = DiffStrideSearch(make_context(), {"retrain": False})
    request = ask(strategy)
    assert request.params["init"] == [1.0, 2.0, 2.0, 2.0]
    assert request.spec.strides == base_spec.strides
    assert request.options.stride_regularizer == 0.0
    assert strategy.ask() is None
    assert strategy.is_finished()


def test_which_stages_and_partial_init(make_context: Make) -> None:
    strategy = DiffStrideSearch(make_context(), {"which_stages": [2, 0], "inits": [[1.5, 3.0]]})
    request = ask(strategy)
    assert [s.downsample for s in request.spec.stages] == [
        "diffstride",
        "strided",
        "diffstride",
        "strided",
    ]
    assert [s.stride[0] for s in request.spec.stages] == [1.5, 2.0, 3.0, 2.0]
    assert request.params["init"] == [1.5, 2.0, 3.0, 2.0]


@pytest.mark.parametrize(
    ("value", "expected"), [(1.6, 2), (2.4, 2), (2.5, 3), (0.9, 1), (1.2, 1), (0.2, 1)]
)
def test_round_stride(value: float, expected: int) -> None:
    assert round_stride(value) == expected


def test_retrains_rounded_architecture(make_context: Make, objective: SyntheticObjective) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2]]})
    search = ask(strategy)
    strategy.tell(search.number, learned(objective, search, [None, 1.6, 2.4, 1.2]))
    retrain = ask(strategy)
    assert retrain.params == {
        "phase": "retrain",
        "from_trial": 0,
        "learned": [1.0, 1.6, 2.4, 1.2],
        "strides": [1, 2, 2, 1],
    }
    assert [s.stride for s in retrain.spec.stages] == [(1, 1), (2, 2), (2, 2), (1, 1)]
    assert all(s.downsample == "strided" for s in retrain.spec.stages)
    assert retrain.options.stride_regularizer == 0.0
    assert strategy.is_finished()  # everything asked (the retrain may still be running)
    assert strategy.ask() is None


def test_non_square_learned_strides(make_context: Make, objective: SyntheticObjective) -> None:
    strategy = DiffStrideSearch(make_context())
    search = ask(strategy)
    result = objective.evaluate(search).model_copy(
        update={"learned_strides": [None, (2.2, 0.9), (1.7, 2.1), (2.0, 2.0)]}
    )
    strategy.tell(search.number, result)
    retrain = ask(strategy)
    assert retrain.spec.strides == ((1, 1), (2, 1), (2, 2), (2, 2))
    assert retrain.params["strides"] == [1, [2, 1], 2, 2]


def test_no_learned_strides_falls_back_to_spec(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 1.4, 2.6, 2]]})
    records = []
    while (request := strategy.ask()) is not None:
        strategy.tell(request.number, objective.evaluate(request))  # synthetic: no readout
        records.append(request)
    assert [r.params["phase"] for r in records] == ["search", "retrain"]
    assert records[1].spec.strides == ((1, 1), (1, 1), (3, 3), (2, 2))
    assert strategy.is_finished()


def test_dedup_identical_rounded_specs(make_context: Make, objective: SyntheticObjective) -> None:
    inits = [[1, 2, 2, 2], [1, 1.5, 1.5, 1.5], [1, 3, 3, 1]]
    strategy = DiffStrideSearch(make_context(), {"inits": inits})
    searches = [ask(strategy) for _ in inits]
    strategy.tell(1, learned(objective, searches[1], [None, 1.9, 2.1, 1.1]))
    first = ask(strategy)
    assert first.params["from_trial"] == 1
    assert strategy.ask() is None
    strategy.tell(0, learned(objective, searches[0], [None, 2.3, 1.8, 0.8]))  # same rounding
    strategy.tell(2, learned(objective, searches[2], [None, 1.0, 2.0, 2.0]))
    second = ask(strategy)
    assert second.params["from_trial"] == 2
    assert second.spec.strides == ((1, 1), (1, 1), (2, 2), (2, 2))
    assert strategy.ask() is None
    assert strategy.is_finished()
    specs = [r.request.spec.to_string() for r in strategy.records[3:]]
    assert len(specs) == len(set(specs)) == 2


def test_failed_search_gets_no_retrain(make_context: Make, objective: SyntheticObjective) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2], [1, 1, 2, 2]]})
    a, b = ask(strategy), ask(strategy)
    strategy.tell(a.number, None)
    assert strategy.ask() is None
    assert not strategy.is_finished()
    strategy.tell(b.number, learned(objective, b, [None, 1.0, 2.0, 2.0]))
    retrain = ask(strategy)
    assert retrain.params["from_trial"] == b.number
    assert strategy.ask() is None
    assert strategy.is_finished()


def test_invalid_rounded_spec_is_skipped(make_context: Make, objective: SyntheticObjective) -> None:
    strategy = DiffStrideSearch(make_context())
    search = ask(strategy)
    # 28 / 8 / 8 / 8 < 1 pixel: impossible with fixed strides.
    strategy.tell(search.number, learned(objective, search, [None, 7.6, 8.0, 8.4]))
    assert strategy.ask() is None
    assert strategy.is_finished()


def test_no_retrain_option(make_context: Make, objective: SyntheticObjective, drive: Any) -> None:
    strategy = DiffStrideSearch(
        make_context(), {"inits": [[1, 2, 2, 2], [2, 2, 2, 2]], "retrain": False}
    )
    records = drive(strategy, objective, 10)
    assert [r.request.params["phase"] for r in records] == ["search", "search"]
    assert strategy.is_finished()


def test_drive_to_completion(make_context: Make, objective: SyntheticObjective, drive: Any) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2], [1, 1.5, 2.5, 1.5]]})
    records = drive(strategy, objective, 10)
    assert [r.request.params["phase"] for r in records] == [
        "search",
        "search",
        "retrain",
        "retrain",
    ]
    assert all(r.state == "completed" for r in records)
    assert strategy.is_finished()


def _replay_matches(
    strategy: DiffStrideSearch, fresh: DiffStrideSearch, records: list[Any]
) -> None:
    fresh.replay([(r.request, r.result, r.state != "pending") for r in records])
    assert fresh.ask() == strategy.ask()
    assert fresh.is_finished() == strategy.is_finished()


def test_replay_gives_the_same_next_ask(make_context: Make, objective: SyntheticObjective) -> None:
    options = {"inits": [[1, 2, 2, 2], [1, 1.5, 2.5, 1.5], [1, 3, 1, 2]], "regularizer": 0.1}
    strategy = DiffStrideSearch(make_context(), options)
    requests = [ask(strategy) for _ in range(3)]
    strategy.tell(2, learned(objective, requests[2], [None, 2.6, 1.2, 2.0]))
    strategy.tell(0, learned(objective, requests[0], [None, 1.6, 2.4, 1.2]))
    # trial 1 still pending: the next ask is a retrain of trial 0.
    _replay_matches(strategy, DiffStrideSearch(make_context(), options), list(strategy.records))
    strategy.tell(3, objective.evaluate(strategy.records[3].request))
    strategy.tell(1, learned(objective, requests[1], [None, 1.6, 2.4, 1.2]))  # duplicate
    _replay_matches(strategy, DiffStrideSearch(make_context(), options), list(strategy.records))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"regularizer": -1.0}, "regularizer"),
        ({"inits": [[1, 0.5, 2, 2]]}, "inits"),
        ({"inits": []}, "inits"),
        ({"which_stages": [-1]}, "which_stages"),
        ({"retrain": "maybe"}, "retrain"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_options(make_context: Make, options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        DiffStrideSearch(make_context(), options)
    assert info.value.errors()[0]["loc"][0] == field


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"which_stages": [4]}, "which_stages"),
        ({"inits": [[1, 2]]}, "inits[0]"),
        ({"inits": [[1, 2, 2, 2], [1.5, 2, 2, 2]], "which_stages": [1, 2, 3]}, "inits[1]"),
        ({"inits": [[1, 8, 8, 8]]}, "inits[0]"),
    ],
)
def test_options_inconsistent_with_base(
    make_context: Make, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(OptionsError) as info:
        DiffStrideSearch(make_context(), options)
    assert info.value.field == field


def test_smoothness_option_reaches_the_search_spec_only(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2]], "smoothness": 1.5})
    search = ask(strategy)
    diffstride_stages = [s for s in search.spec.stages if s.downsample == "diffstride"]
    assert diffstride_stages
    assert all(s.extras["smoothness"] == 1.5 for s in diffstride_stages)
    assert "smoothness=1.5" in search.spec.to_string()
    strategy.tell(search.number, learned(objective, search, [None, 2.2, 1.8, 2.0]))
    retrain = ask(strategy)
    assert all("smoothness" not in s.extras for s in retrain.spec.stages)
