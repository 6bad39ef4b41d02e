"""Comparing strategies by compute: best-so-far, compute-to-target, best at a budget, area under
the curve, and their quantiles over repeated runs.

A strategy's run is the sequence of its finished proposals in the order they finished, each
with the compute it was charged, the accuracy the strategy saw (one seed's, noisy) and, where
known, the architecture's true accuracy (an oracle table's mean over seeds). The strategy
recommends the proposal with the best accuracy *it saw*; the comparison scores that
recommendation by its true accuracy, so luck with one seed is not rewarded.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from nas.recommend import improves


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


def recommendations(steps: Sequence[Step]) -> Iterator[tuple[float, int | None]]:
    """After each step: the compute spent so far and the index of the recommendation, the best
    *seen* step so far by the best-trial rule (``nas.recommend.improves``; None: none yet)."""
    spent, best_seen, recommended = 0.0, None, None
    for k, step in enumerate(steps):
        spent += step.cost
        if improves(step.seen, best_seen):
            best_seen, recommended = step.seen, k
        yield spent, recommended


def curve(steps: Sequence[Step]) -> list[Point]:
    """Best-so-far against compute, one point per step."""
    return [
        Point(spent, None if r is None else steps[r].true) for spent, r in recommendations(steps)
    ]


def best_so_far(steps: Sequence[Step]) -> list[tuple[float, float]]:
    """(compute so far, best *seen* accuracy) at each step that improved the best: the curve a
    live job shows, where what was seen is all there is."""
    out: list[tuple[float, float]] = []
    last = None
    for spent, r in recommendations(steps):
        if r is not None and r != last and (seen := steps[r].seen) is not None:
            out.append((spent, seen))
            last = r
    return out


def compute_to_target(steps: Sequence[Step], target: float) -> float | None:
    """Compute charged until the strategy's recommendation (its best *seen* proposal, what it
    would hand the user) is truly worth ``target`` (None: never). A proposal that is truly
    good but looked worse than the one recommended does not count: it was not handed over."""
    found = reaching(steps, target)
    return None if found is None else found[0]


def reaching_step(steps: Sequence[Step], target: float) -> tuple[int, int] | None:
    """``(k, r)``: after step k the recommendation, step r, first reaches ``target``
    (None: never)."""
    found = reaching(steps, target)
    return None if found is None else found[1:]


def reaching(steps: Sequence[Step], target: float) -> tuple[float, int, int] | None:
    """``(spent, k, r)`` of the first step k after which the recommendation r is truly worth
    ``target`` (None: never): ``compute_to_target`` and ``reaching_step`` in one walk."""
    for k, (spent, r) in enumerate(recommendations(steps)):
        true = None if r is None else steps[r].true
        if r is not None and true is not None and true >= target:
            return spent, k, r
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
    for spent, r in recommendations(steps):  # ``curve``'s points, without making them
        if previous_spent >= budget:
            break
        end = min(spent, budget)
        area += current * (end - previous_spent)
        previous_spent = end
        recommended = None if r is None else steps[r].true
        current = recommended if recommended is not None else current
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


def quartiles(reached: Sequence[float | None]) -> tuple[float | None, float | None, float | None]:
    """``(q1, median, q3)`` of runs' compute to target (``quantile``), a run that did not reach
    it (None) counting as never (+inf, last); None where a quartile falls on such a run."""
    values = [math.inf if v is None else v for v in reached]
    found = (quantile(values, q) for q in (0.25, 0.5, 0.75))
    q1, median, q3 = (v if math.isfinite(v) else None for v in found)
    return q1, median, q3
