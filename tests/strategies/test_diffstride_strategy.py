"""DiffStride strategy: searches per init, rounded retrains, dedup, failures, replay."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from nas.errors import OptionsError
from nas.readout import StrideReadout
from nas.search_space import SearchSpace
from nas.strategies.base import StrategyContext
from nas.strategies.diffstride import DiffStrideSearch, nearest_choice, round_stride
from nas.trial import TrialRequest, TrialResult
from tests.fakes import SyntheticObjective

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
        "round_by": "stride",
        "round_to": "integers",
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
    assert strategy.finished_reason() == "done: 1 search, 1 retrain"


def test_finished_reason_counts_what_completed(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2], [1, 1, 3, 2]]})
    first, second = ask(strategy), ask(strategy)
    strategy.tell(first.number, objective.evaluate(first))
    strategy.tell(second.number, None)  # failed: no retrain follows it
    while (request := strategy.ask()) is not None:
        strategy.tell(request.number, objective.evaluate(request))
    assert strategy.is_finished()
    assert strategy.finished_reason() == "done: 1 search, 1 retrain"


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


def test_strides_that_leave_no_pixel_are_lowered_stage_by_stage(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context())
    search = ask(strategy)
    # Rounded [1, 8, 8, 8] takes 28 px below a pixel (28 / 8 / 8 / 8). The first stages keep
    # theirs while they fit: 28 / 1 = 28, / 8 = 3.5, so the third takes at most 3 (1.17 px
    # left) and the fourth at most 1.
    strategy.tell(search.number, learned(objective, search, [None, 7.6, 8.0, 8.4]))
    retrain = ask(strategy)
    assert retrain.params["strides"] == [1, 8, 3, 1]
    assert retrain.params["fitted_from"] == [1, 8, 8, 8]
    assert [s.stride for s in retrain.spec.stages] == [(1, 1), (8, 8), (3, 3), (1, 1)]
    assert strategy.ask() is None
    assert strategy.is_finished()


def test_a_rounding_that_fits_records_no_fitting(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context())
    search = ask(strategy)
    strategy.tell(search.number, learned(objective, search, [None, 2.2, 1.6, 3.4]))
    retrain = ask(strategy)
    assert retrain.params["strides"] == [1, 2, 2, 3]  # 28 / 12 = 2.33 px: fits
    assert "fitted_from" not in retrain.params


def test_anisotropic_strides_are_lowered_per_axis(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context())
    search = ask(strategy)
    result = objective.evaluate(search).model_copy(
        update={"learned_strides": [None, (1.0, 7.0), (1.0, 4.0), (2.0, 2.0)]}
    )
    strategy.tell(search.number, result)
    retrain = ask(strategy)
    # height 28 / 1 / 1 / 2 fits; width 28 / 7 = 4, / 4 = 1, so the last stage keeps 1 across.
    assert [s.stride for s in retrain.spec.stages] == [(1, 1), (1, 7), (1, 4), (2, 1)]
    assert retrain.params["fitted_from"] == [1, [1, 7], [1, 4], 2]


def test_round_to_space_takes_the_nearest_choice_that_fits(
    make_context: Make, objective: SyntheticObjective
) -> None:
    space = SearchSpace(strides=[[1], [4, 8], [1, 4, 8], [1, 2, 4]])
    strategy = DiffStrideSearch(make_context(space=space), {"round_to": "space"})
    search = ask(strategy)
    strategy.tell(search.number, learned(objective, search, [None, 7.6, 8.0, 4.0]))
    retrain = ask(strategy)
    # 28 / 8 = 3.5 px: of [1, 4, 8] only 1 fits the third stage; 3.5 px then takes 2 of [1, 2, 4].
    assert retrain.params["strides"] == [1, 8, 1, 2]
    assert retrain.params["fitted_from"] == [1, 8, 8, 4]


def test_round_to_space_with_no_choice_that_fits_is_skipped(
    make_context: Make, objective: SyntheticObjective
) -> None:
    space = SearchSpace(strides=[[1], [8], [8], [8]])
    strategy = DiffStrideSearch(make_context(space=space), {"round_to": "space"})
    search = ask(strategy)
    strategy.tell(search.number, learned(objective, search, [None, 7.6, 8.0, 8.4]))
    assert strategy.ask() is None  # every point of this space is impossible on 28 px
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
        ({"lambdas": [0.1, 0.1]}, "lambdas"),
        ({"lambdas": [-1.0]}, "lambdas"),
        ({"lambdas": [0.1], "regularizer": 0.5}, "lambdas"),
        ({"smoothness": "sometimes"}, "smoothness"),
        ({"smoothness": 0}, "smoothness"),
        ({"ramp": "middle"}, "ramp"),
        ({"round_by": "nearest"}, "round_by"),
        ({"round_to": "nearest"}, "round_to"),
        ({"stride_optimizer": "rmsprop"}, "stride_optimizer"),
        ({"stride_lr": 0}, "stride_lr"),
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


def test_layer_defaults_are_written_and_the_paper_arm_is_not(make_context: Make) -> None:
    default = ask(DiffStrideSearch(make_context(), {"retrain": False}))
    learned_stages = [s for s in default.spec.stages if s.downsample == "diffstride"]
    assert learned_stages
    assert all(s.extras == {"smoothness": "auto", "ramp": "inside"} for s in learned_stages)
    assert "ramp=inside_smoothness=auto" in default.spec.to_string()
    paper = ask(DiffStrideSearch(make_context(), {"smoothness": 4, "ramp": "outside"}))
    assert all(
        s.extras == {} for s in paper.spec.stages if s.downsample == "diffstride"
    )  # the layer's own defaults: R = 4, ramp outside


def test_one_search_per_init_and_lambda(
    make_context: Make, objective: SyntheticObjective, drive: Any
) -> None:
    inits = [[1, 2, 2, 2], [1, 3, 1, 3]]
    strategy = DiffStrideSearch(make_context(), {"inits": inits, "lambdas": [0.0, 0.5, 2.0]})
    searches = [ask(strategy) for _ in range(6)]
    assert strategy.ask() is None  # waiting for the searches
    assert [(r.params["init"], r.params["lambda"]) for r in searches] == [
        (init, weight) for weight in (0.0, 0.5, 2.0) for init in [[1, 2, 2, 2], [1, 3, 1, 3]]
    ]
    assert [r.options.stride_regularizer for r in searches] == [0.0, 0.0, 0.5, 0.5, 2.0, 2.0]
    # Identical rounded architectures are retrained once, whatever lambda found them.
    for request in searches:
        strategy.tell(request.number, learned(objective, request, [None, 2.2, 1.8, 2.0]))
    retrains = []
    while (request := strategy.ask()) is not None:
        retrains.append(request)
        strategy.tell(request.number, objective.evaluate(request))
    assert [r.params["strides"] for r in retrains] == [[1.0, 2, 2, 2]]
    assert strategy.is_finished()


def test_stride_options_override_the_jobs_for_the_searches_only(
    make_context: Make, objective: SyntheticObjective
) -> None:
    options = {"stride_optimizer": "sgd", "stride_lr_scale": 40.0, "stride_schedule": "constant"}
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2]], **options})
    search = ask(strategy)
    assert search.options.stride_optimizer == "sgd"
    assert search.options.stride_lr_scale == 40.0
    assert search.options.stride_schedule == "constant"
    assert search.options.stride_lr == make_context().train.stride_lr  # not given: the job's
    strategy.tell(search.number, learned(objective, search, [None, 2.2, 1.8, 2.0]))
    retrain = ask(strategy)
    assert retrain.options == make_context().train  # a fixed-stride retrain: the job's options


def readout(learned: float, applied: float, size: int = 28) -> StrideReadout:
    """A square stage readout whose output size makes ``size / output == applied``."""
    out = round(size / applied)
    return StrideReadout(
        init=(2.0, 2.0),
        learned=(learned, learned),
        low=(1.0, 1.0),
        high=(size / 2, size / 2),
        input_size=(size, size),
        output_size=(out, out),
    )


@pytest.mark.parametrize(
    ("round_by", "expected"), [("stride", [1.0, 3, 2, 2]), ("applied", [1.0, 2, 2, 2])]
)
def test_round_by_picks_the_stride_or_the_applied_downsampling(
    make_context: Make, objective: SyntheticObjective, round_by: str, expected: list[float]
) -> None:
    strategy = DiffStrideSearch(make_context(), {"inits": [[1, 2, 2, 2]], "round_by": round_by})
    search = ask(strategy)
    # Stage 1 learned S = 2.6 but its map went 28 -> 14 (applied 2.0); stages 2, 3 stayed.
    result = learned(objective, search, [None, 2.6, 2.0, 2.0]).model_copy(
        update={
            "stride_readout": [None, readout(2.6, 2.0), readout(2.0, 2.0, 14), readout(2.0, 2.0, 8)]
        }
    )
    strategy.tell(search.number, result)
    retrain = ask(strategy)
    assert retrain.params["strides"] == expected
    assert retrain.params["round_by"] == round_by


@pytest.mark.parametrize(
    ("stride", "expected"),
    [((2.4, 1.0), 2), ((3.0, 5.24), 3), ((1.2, 1.3), 1), ((1.0, 2.0), 2), ((0.8, 0.9), 1)],
)
def test_nearest_choice_on_a_log_scale(stride: tuple[float, float], expected: int) -> None:
    # (1.0, 2.0): geometric mean 1.41, exactly between 1 and 2 on a log scale: the larger wins.
    assert nearest_choice(stride, [1, 2, 3]) == expected


def test_round_to_space_retrains_a_point_of_the_space(
    make_context: Make, objective: SyntheticObjective
) -> None:
    space = SearchSpace(strides=[[1], [1, 2], [1, 2, 3], [2, 4]])
    strategy = DiffStrideSearch(make_context(space=space), {"round_to": "space"})
    search = ask(strategy)
    result = objective.evaluate(search).model_copy(
        update={"learned_strides": [None, (2.4, 1.0), (3.0, 5.24), (2.7, 2.7)]}
    )
    strategy.tell(search.number, result)
    retrain = ask(strategy)
    # Per axis: [1, [2, 1], [3, 5], 3]. 2.7 is nearer 2 than 4 on a log scale (midpoint 2.83).
    assert retrain.params["strides"] == [1, 2, 3, 2]
    assert retrain.params["round_to"] == "space"
    assert [s.stride for s in retrain.spec.stages] == [(1, 1), (2, 2), (3, 3), (2, 2)]


def test_round_to_space_without_stride_choices_keeps_the_base_strides(
    make_context: Make, objective: SyntheticObjective
) -> None:
    strategy = DiffStrideSearch(make_context(space=SearchSpace()), {"round_to": "space"})
    search = ask(strategy)
    result = objective.evaluate(search).model_copy(
        update={"learned_strides": [None, (3.4, 3.4), (1.0, 1.2), (2.2, 2.0)]}
    )
    strategy.tell(search.number, result)
    retrain = ask(strategy)
    assert retrain.params["strides"] == [1, 2, 2, 2]  # the base's: the only point of the space
