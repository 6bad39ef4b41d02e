"""Block types (and downsampling kinds) as a search dimension of grid, random and Optuna.

``SearchSpace.blocks`` lists the block types per stage (or one list for every stage),
``SearchSpace.downsamples`` the downsampling kinds for all stages; both become part of a point's
key and its request ``params``, so replay after a restart stays exact.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

import pytest
from harness import drive

from nas.errors import SpecError
from nas.job import JobError, JobSpec
from nas.models import preset
from nas.search_space import SearchSpace
from nas.spec import ArchSpec
from nas.strategies.grid import GridSearch
from nas.strategies.optuna_search import OptunaSearch
from nas.strategies.random_search import RandomSearch
from nas.strategies.space import Space, apply_choice, is_valid_choice, key_of_params
from nas.trial import TrialRequest, TrialResult
from tests.fakes import SyntheticObjective

# base: resnet_narrow_fmnist, stages basic c16 / c32 s2 / c64 s2 / c128 s2 after a 16-channel stem
BLOCKS = [["basic", "inceptionb"], ["basic", "fire", "dense"], ["basic", "dynamic"], ["basic"]]
SPACE = SearchSpace(blocks=BLOCKS, downsamples=["strided", "gridreduce"], widths=[0.5, 1.0])
TARGET = ("basic", "dense", "dynamic", "basic")


@dataclass(frozen=True)
class BlockObjective:
    """The synthetic objective plus a bonus for each stage on its target block type."""

    inner: SyntheticObjective

    def evaluate(self, request: TrialRequest) -> TrialResult:
        result = self.inner.evaluate(request)
        hits = sum(s.block == t for s, t in zip(request.spec.stages, TARGET, strict=True))
        bonus = 0.03 * hits
        history = [
            h.model_copy(update={"val_accuracy": h.val_accuracy + bonus}) for h in result.history
        ]
        return result.model_copy(
            update={
                "accuracy": history[-1].val_accuracy,
                "best_accuracy": max(h.val_accuracy for h in history),
                "history": history,
            }
        )


def keys(records) -> list:  # type: ignore[no-untyped-def]
    return [key_of_params(r.request.params) for r in records]


def test_apply_choice_swaps_blocks_and_drops_foreign_extras() -> None:
    base = ArchSpec.from_string(
        "t:r28:c1:n10:relu:stem_c16:dense_r2_c32_growth=8:basic_r1_s2_c64_smoothness=2:head_d0"
    )
    spec = apply_choice(base, blocks=["fire", "dense"])
    assert [s.block for s in spec.stages] == ["fire", "dense"]
    assert spec.stages[0].extras == {}  # growth is not a Fire extra
    assert spec.stages[1].extras == {"smoothness": 2}  # every block reads DiffStride's R
    assert apply_choice(base, blocks=["dense", "basic"]).stages[0].extras == {"growth": 8}
    with pytest.raises(SpecError):
        apply_choice(base, blocks=["fire"])  # one block type per stage
    # a grid-reduction module per stage, and 32 channels out of 16 in: r2 is impossible
    assert not is_valid_choice(base, blocks=["inceptionb", "basic"])


def test_grid_enumerates_blocks_and_downsampling_kinds(make_context, objective, base_spec) -> None:
    grid = GridSearch(make_context(space=SPACE), {"order": "product"})
    records = drive(grid, objective, 1000)
    expected = []
    for blocks in itertools.product(*BLOCKS):
        for kind, width in itertools.product(SPACE.downsamples, SPACE.widths):
            if is_valid_choice(base_spec, blocks=blocks, downsample=kind, width=width):
                expected.append(((1.0, 2.0, 2.0, 2.0), width, 1.0, 28, blocks, kind))
    assert 0 < len(expected) < 2 * 3 * 2 * 2 * 2  # inceptionb cannot follow a 16-channel stem
    assert keys(records) == expected
    assert grid.is_finished()
    for record in records:  # the spec is what the params say
        spec = record.request.spec
        assert [s.block for s in spec.stages] == record.request.params["blocks"]
        assert {s.downsample for s in spec.stages} == {record.request.params["downsample"]}


def test_a_single_block_list_applies_to_every_stage(make_context, objective) -> None:
    space = SearchSpace(blocks=[["basic", "fire"]])
    records = drive(GridSearch(make_context(space=space)), objective, 100)
    assert len(records) == 2**4
    assert {tuple(r.request.params["blocks"]) for r in records} == set(
        itertools.product(["basic", "fire"], repeat=4)
    )


def test_spaces_without_block_choices_keep_their_params(make_context, objective) -> None:
    records = drive(GridSearch(make_context()), objective, 3)
    assert all(
        set(r.request.params) == {"strides", "width", "depth", "resolution", "order"}
        for r in records
    )
    assert Space(preset("resnet_narrow_fmnist"), SearchSpace()).size == 1


def test_random_and_optuna_choose_blocks_without_repeats(make_context, objective) -> None:
    for strategy in (
        RandomSearch(make_context(space=SPACE)),
        OptunaSearch(make_context(space=SPACE), {"n_startup_trials": 3}),
    ):
        records = drive(strategy, objective, 12)
        assert len(set(keys(records))) == len(records) == 12
        assert len({tuple(r.request.params["blocks"]) for r in records}) > 1
        if isinstance(strategy, OptunaSearch):
            assert {"block0", "block1", "block2", "downsample", "width"} == set(
                strategy.distributions
            )


def test_tpe_learns_the_block_types(make_context, base_spec) -> None:
    # 4^4 = 256 points; the best has dense in stage 1, dynamic in stage 2, basic in 0 and 3.
    space = SearchSpace(blocks=[["basic", "fire", "dense", "dynamic"]] * 4)
    objective = BlockObjective(
        SyntheticObjective(
            base=base_spec, target_strides=(1.0, 2.0, 2.0, 2.0), peak=0.85, noise=0.005
        )
    )

    def best(strategy) -> float:  # type: ignore[no-untyped-def]
        records = drive(strategy, objective, 30, report_epochs=False)  # type: ignore[arg-type]
        return max(r.accuracy or 0.0 for r in records)

    seeds = range(4)
    tpe = [best(OptunaSearch(make_context(space=space, seed=s), {"pruner": "none"})) for s in seeds]
    rnd = [best(RandomSearch(make_context(space=space, seed=s))) for s in seeds]
    assert statistics.mean(tpe) > statistics.mean(rnd), (tpe, rnd)


def test_job_validates_block_choices() -> None:
    job = {
        "name": "j",
        "dataset": "synthetic",
        "strategies": ["grid"],
        "budget": {"total": 2, "unit": "trials"},
        "confirm_seeds": 0,
    }
    ok = JobSpec.parse({**job, "space": {"blocks": [["basic", "fire"]]}})
    assert ok.space.stage_blocks(4) == [["basic", "fire"]] * 4
    for space, field in [
        ({"blocks": [["basic"], ["fire"]]}, "space.blocks"),  # 2 lists for 4 stages
        ({"blocks": [["nosuch"]]}, "space.blocks"),
        ({"blocks": [[]]}, "space.blocks"),
        ({"downsamples": ["bogus"]}, "space.downsamples"),
    ]:
        with pytest.raises(JobError) as info:
            JobSpec.parse({**job, "space": space})
        assert info.value.field is not None and info.value.field.startswith(field), info.value
