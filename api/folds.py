"""The leaderboard's aggregates: folds over a job's finished trials in finish order.

- best-so-far accuracy per strategy against the compute it spent: cumulative ``cost_flops`` of
  its finished trials; only completed trials are candidates for the best (pruned and failed
  ones add their cost), which changes by the best-trial rule (``nas.recommend.improves``: the
  batch form is ``nas.compare.best_so_far``, and a test holds the two to the same curves); with
  the min, max and latest accuracy of its completed trials, and every finished trial as a
  ``Step`` (for compute to target);
- the Pareto front of completed trials (``nas.pareto``): no other is at least as accurate for
  at most as many MACs (of equal points, the first to finish).

``api.live_board.Leaderboard`` decides what to fold (the newly finished trials, or all of them
again when one finished before the last folded) and owns the columns folded over.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from api.schemas.leaderboard import Curve, Front
from nas.compare import Step
from nas.pareto import ParetoFront
from nas.recommend import improves
from workers.jobs.store import TrialState


@dataclass(slots=True)
class StrategyFold:
    """The best-so-far fold of one strategy (a plain object: cheap to update)."""

    strategy: str
    cost: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    trial: list[int] = field(default_factory=list)
    spent: float = 0.0
    finished: int = 0
    completed: int = 0
    low: float | None = None
    high: float | None = None
    latest: float | None = None
    latest_trial: int | None = None
    steps: list[Step] = field(default_factory=list)
    """Every finished trial in finish order: its cost and, if completed, its accuracy."""
    step_trials: list[int] = field(default_factory=list)

    def curve(self) -> Curve:
        return Curve(
            strategy=self.strategy,
            cost=self.cost,
            accuracy=self.accuracy,
            trial=self.trial,
            spent=self.spent,
            finished=self.finished,
            completed=self.completed,
            min_accuracy=self.low,
            max_accuracy=self.high,
            latest_accuracy=self.latest,
            latest_trial=self.latest_trial,
        )


class Folds:
    """Best-so-far per strategy and the Pareto front, folded so far up to ``last_key`` (the
    finish-order key of the last trial folded)."""

    def __init__(self, strategies: Iterable[str]) -> None:
        self.last_key: tuple[Any, int] | None = None
        self.curves = {s: StrategyFold(s) for s in strategies}
        self.front = ParetoFront[int](keep_ties=False)  # of equal trials, the first to finish

    def add_strategies(self, strategies: Iterable[str]) -> None:
        for strategy in strategies:
            if strategy not in self.curves:
                self.curves[strategy] = StrategyFold(strategy)

    def front_out(self) -> Front:
        front = self.front
        return Front.model_construct(trial=front.ids, macs=front.cost, accuracy=front.accuracy)

    def extend(
        self,
        order: Sequence[int],
        strategies: Sequence[str],
        states: Sequence[str],
        costs: Sequence[float | None],
        accuracies: Sequence[float | None],
        all_macs: Sequence[int | None],
        ids: Sequence[int],
    ) -> None:
        """Fold the trials at positions ``order`` (in finish order) of these columns."""
        curves = self.curves
        isfinite, add_to_front = math.isfinite, self.front.add
        completed = TrialState.COMPLETED
        for i in order:
            curve = curves[strategies[i]]
            cost = costs[i]
            charged = cost if cost is not None and isfinite(cost) else 0.0
            curve.spent += charged
            curve.finished += 1
            accuracy = accuracies[i]
            if states[i] != completed or accuracy is None or not isfinite(accuracy):
                curve.steps.append(Step(charged, None, None))
                curve.step_trials.append(ids[i])
                continue
            curve.steps.append(Step(charged, accuracy, accuracy))
            curve.step_trials.append(ids[i])
            curve.completed += 1
            curve.latest, curve.latest_trial = accuracy, ids[i]
            if curve.low is None or accuracy < curve.low:
                curve.low = accuracy
            if curve.high is None or accuracy > curve.high:
                curve.high = accuracy
            if improves(accuracy, curve.accuracy[-1] if curve.accuracy else None):
                curve.cost.append(curve.spent)
                curve.accuracy.append(accuracy)
                curve.trial.append(ids[i])
            macs = all_macs[i]
            if macs is not None:
                add_to_front(ids[i], accuracy, macs)
