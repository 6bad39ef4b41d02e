"""Fixtures shared by the strategy tests: a small base, a synthetic objective, a context factory.

- ``base_spec``: ``resnet_narrow_fmnist`` (4 stages, strides 1, 2, 2, 2, 28x28 input).
- ``objective``: ``SyntheticObjective`` peaking at strides (1, 2, 2, 1), width 1, noise 0.01.
- ``make_context(space=..., objectives=..., budget_flops=..., seed=..., epochs=..., key=...,
  train=...)``: a ``StrategyContext`` on ``base_spec`` whose ``epoch_cost`` is the objective's.
  The default space is strides ``[[1, 2]] * 4`` (16 points).
- ``drive``: ``harness.drive(strategy, objective, max_trials, *, report_epochs=True)``, the
  ask/report/tell loop; returns the strategy's records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from harness import drive as _drive

from nas.models import preset
from nas.search_space import Objectives, SearchSpace
from nas.spec import ArchSpec
from nas.strategies.base import StrategyContext
from nas.trial import TrainOptions
from tests.fakes import SyntheticObjective

TARGET_STRIDES = (1.0, 2.0, 2.0, 1.0)
DEFAULT_SPACE = SearchSpace(strides=[[1, 2]] * 4)


@pytest.fixture
def base_spec() -> ArchSpec:
    return preset("resnet_narrow_fmnist")


@pytest.fixture
def objective(base_spec: ArchSpec) -> SyntheticObjective:
    return SyntheticObjective(base=base_spec, target_strides=TARGET_STRIDES, noise=0.01)


@pytest.fixture
def make_context(
    base_spec: ArchSpec, objective: SyntheticObjective
) -> Callable[..., StrategyContext]:
    def make(
        *,
        space: SearchSpace | None = None,
        objectives: Objectives | None = None,
        budget_flops: float = 1e15,
        seed: int = 0,
        epochs: int = 3,
        key: str = "test",
        train: TrainOptions | None = None,
        base: ArchSpec | None = None,
    ) -> StrategyContext:
        return StrategyContext(
            key=key,
            base=base or base_spec,
            space=space or DEFAULT_SPACE,
            epochs=epochs,
            train=train or TrainOptions(),
            objectives=objectives or Objectives(),
            seed=seed,
            budget_flops=budget_flops,
            epoch_cost=objective.epoch_cost,
        )

    return make


@pytest.fixture
def drive() -> Callable[..., Any]:
    return _drive
