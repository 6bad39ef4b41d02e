"""The Pareto front of (accuracy up, cost down) points in O(n log n)."""

from __future__ import annotations

from collections.abc import Iterable


def pareto_front(
    points: Iterable[tuple[int, float, float]], *, presorted: bool = False
) -> list[int]:
    """Ids of the points ``(id, accuracy, cost)`` that no other point dominates (at least as
    accurate and at most as costly, better in one), ordered by cost. Identical points are all
    kept: neither dominates the other. ``presorted``: the points already come by cost, then
    accuracy descending (e.g. from SQL), so no sort is needed."""
    ordered = points if presorted else sorted(points, key=lambda p: (p[2], -p[1], p[0]))
    front: list[int] = []
    best_accuracy = float("-inf")
    last: tuple[float, float] | None = None
    for point_id, accuracy, cost in ordered:
        if accuracy > best_accuracy or (accuracy, cost) == last:
            front.append(point_id)
            best_accuracy = max(best_accuracy, accuracy)
            last = (accuracy, cost)
    return front
