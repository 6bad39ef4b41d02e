"""The Pareto front of (accuracy up, cost down) points: the one rule, in one place.

A point is on the front when no other point is at least as accurate and at most as costly,
better in one. ``ParetoFront`` keeps the front of the points added so far, by increasing cost
(so by increasing accuracy), and takes points in any order: the leaderboard adds trials as they
finish. ``pareto_front`` is the front of a whole set, the same class fed in cost order.

Identical points (same accuracy, same cost) do not dominate each other: ``keep_ties`` keeps them
all (``/best``); without it the first added stays and later ones are dropped (the leaderboard:
of equal trials, the first to finish).

Users: the leaderboard's incremental front (``api.folds``), ``/best``'s Pareto set
(``api.store.queries``) and Optuna's multi-objective front (``nas.strategies.optuna_search``).
The store's SQL (for ``/best``) narrows the candidates first: a running maximum of accuracy in
cost order drops the points less accurate than a cheaper (or equally costly, more accurate)
one. Every dropped point is dominated, and a dropped point never changes the sweep's result for
the others, so this front over the candidates equals the front over all points
(``tests/test_pareto.py`` checks it).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import Generic, TypeVar

C = TypeVar("C", int, float)


class ParetoFront(Generic[C]):
    """The front of the points added so far: parallel lists ``ids``, ``accuracy``, ``cost``
    ordered by cost (identical points kept with ``keep_ties``: in the order added)."""

    __slots__ = ("accuracy", "cost", "ids", "keep_ties")

    def __init__(self, *, keep_ties: bool = True) -> None:
        self.keep_ties = keep_ties
        self.ids: list[int] = []
        self.accuracy: list[float] = []
        self.cost: list[C] = []

    def add(self, point_id: int, accuracy: float, cost: C) -> bool:
        """Add a point; False when a point on the front dominates it (or, without
        ``keep_ties``, equals it). The points it dominates leave the front."""
        costs, accuracies = self.cost, self.accuracy
        below = bisect_right(costs, cost)  # the front points at most as costly
        if below:
            best = accuracies[below - 1]  # the most accurate of them (accuracy grows with cost)
            if best > accuracy:
                return False
            if best == accuracy:
                if costs[below - 1] < cost or not self.keep_ties:
                    return False
                # identical to the front points at this cost: goes after them, removes nothing
                costs.insert(below, cost)
                accuracies.insert(below, accuracy)
                self.ids.insert(below, point_id)
                return True
        start = bisect_left(costs, cost)
        end = start
        while end < len(costs) and accuracies[end] <= accuracy:
            end += 1  # at least as costly and at most as accurate (not identical): dominated
        costs[start:end] = [cost]
        accuracies[start:end] = [accuracy]
        self.ids[start:end] = [point_id]
        return True


def pareto_front(
    points: Iterable[tuple[int, float, float]], *, presorted: bool = False
) -> list[int]:
    """Ids of the points ``(id, accuracy, cost)`` that no other point dominates (at least as
    accurate and at most as costly, better in one), ordered by cost. Identical points are all
    kept: neither dominates the other. ``presorted``: the points already come by cost, then
    accuracy descending (e.g. from SQL), so no sort is needed."""
    ordered = points if presorted else sorted(points, key=lambda p: (p[2], -p[1], p[0]))
    front = ParetoFront[float](keep_ties=True)
    for point_id, accuracy, cost in ordered:
        front.add(point_id, accuracy, cost)
    return front.ids
