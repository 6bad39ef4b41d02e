"""Comparing strategies by compute: compute-to-target, best at a budget, area under the curve.

A strategy's run is the sequence of its finished proposals in the order they finished, each
with the compute it was charged, the accuracy the strategy saw (one seed's, noisy) and, where
known, the architecture's true accuracy (an oracle table's mean over seeds). The strategy
recommends the proposal with the best accuracy *it saw*; the comparison scores that
recommendation by its true accuracy, so luck with one seed is not rewarded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One finished proposal."""

    cost: float
    seen: float | None
    """The accuracy the strategy saw (None: failed or pruned before it saw any)."""
    true: float | None
    """The architecture's true accuracy (None: not known, e.g. outside the table)."""


@dataclass(frozen=True)
class Point:
    """The state of a run after a step: compute so far and the recommendation's accuracy."""

    spent: float
    recommended: float | None
    """True accuracy of the proposal with the best seen accuracy so far."""


def curve(steps: Sequence[Step]) -> list[Point]:
    """Best-so-far against compute, one point per step."""
    spent = 0.0
    best_seen: float | None = None
    recommended: float | None = None
    out = []
    for step in steps:
        spent += step.cost
        if step.seen is not None and (best_seen is None or step.seen > best_seen):
            best_seen, recommended = step.seen, step.true
        out.append(Point(spent, recommended))
    return out


def compute_to_target(steps: Sequence[Step], target: float) -> float | None:
    """Compute charged until the strategy's recommendation (its best *seen* proposal, what it
    would hand the user) is truly worth ``target`` (None: never). A proposal that is truly
    good but looked worse than the one recommended does not count: it was not handed over."""
    found = reaching_step(steps, target)
    return None if found is None else curve(steps)[found[0]].spent


def reaching_step(steps: Sequence[Step], target: float) -> tuple[int, int] | None:
    """``(k, r)``: after step k the recommendation, step r, first reaches ``target``
    (None: never)."""
    best_seen: float | None = None
    recommended = -1
    for k, step in enumerate(steps):
        if step.seen is not None and (best_seen is None or step.seen > best_seen):
            best_seen, recommended = step.seen, k
        true = steps[recommended].true if recommended >= 0 else None
        if true is not None and true >= target:
            return k, recommended
    return None


def best_at(steps: Sequence[Step], budget: float) -> float | None:
    """True accuracy of the recommendation once ``budget`` is spent (steps that end beyond
    it do not count); None when nothing was seen by then."""
    last: float | None = None
    for point in curve(steps):
        if point.spent > budget:
            break
        last = point.recommended
    return last


def area_under_curve(steps: Sequence[Step], budget: float) -> float:
    """Mean true accuracy of the recommendation over ``[0, budget]`` of compute (0 while there
    is none): 1.0 would be a perfect recommendation from the first FLOP."""
    if budget <= 0:
        raise ValueError(f"budget must be > 0, got {budget}")
    area, previous_spent, current = 0.0, 0.0, 0.0
    for point in curve(steps):
        if previous_spent >= budget:
            break
        end = min(point.spent, budget)
        area += current * (end - previous_spent)
        previous_spent = end
        current = point.recommended if point.recommended is not None else current
    area += current * max(0.0, budget - previous_spent)
    return area / budget


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of ``values``. Infinities win any
    interpolation they take part in: +inf (a run that never got there) sorts last, -inf (a run
    with no result yet, where higher is better) first."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return ordered[low]
    if math.isinf(ordered[high]):
        return ordered[high]
    if math.isinf(ordered[low]):
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
