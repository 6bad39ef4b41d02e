"""The one Pareto rule (``nas.pareto``): the sweep and the incremental front equal the
brute-force definition, in any order of arrival, and the SQL prefilter of the store changes
nothing."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from nas.pareto import ParetoFront, pareto_front

Point = tuple[int, float, float]


def brute_force(points: list[Point]) -> set[int]:
    return {
        i
        for i, a, c in points
        if not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for _, a2, c2 in points)
    }


values = st.integers(0, 6).map(float)  # few distinct values: many ties
point_lists = st.lists(st.tuples(values, values), max_size=40)


def numbered(pairs: list[tuple[float, float]]) -> list[Point]:
    return [(i, a, c) for i, (a, c) in enumerate(pairs)]


@given(point_lists)
def test_sweep_matches_the_definition(pairs: list[tuple[float, float]]) -> None:
    points = numbered(pairs)
    front = pareto_front(points)
    assert set(front) == brute_force(points)
    costs = [pairs[i][1] for i in front]
    assert costs == sorted(costs)


@given(point_lists, st.randoms())
def test_the_incremental_front_in_any_order_matches_the_definition(
    pairs: list[tuple[float, float]], rng: random.Random
) -> None:
    points = numbered(pairs)
    rng.shuffle(points)
    front = ParetoFront(keep_ties=True)
    for point in points:
        front.add(*point)
    assert set(front.ids) == brute_force(points)
    assert front.cost == sorted(front.cost)
    assert front.accuracy == sorted(front.accuracy)
    assert all(
        pairs[i] == (a, c) for i, a, c in zip(front.ids, front.accuracy, front.cost, strict=True)
    )


@given(point_lists, st.randoms())
def test_without_ties_the_first_of_equal_points_stays(
    pairs: list[tuple[float, float]], rng: random.Random
) -> None:
    points = numbered(pairs)
    rng.shuffle(points)
    front = ParetoFront(keep_ties=False)
    for point in points:
        front.add(*point)
    first: dict[tuple[float, float], int] = {}
    for i, a, c in points:
        first.setdefault((a, c), i)
    on_front = brute_force(points)
    assert set(front.ids) == {i for (a, c), i in first.items() if i in on_front}


@given(point_lists)
def test_the_sql_prefilter_changes_nothing(pairs: list[tuple[float, float]]) -> None:
    """``JobRepository.pareto``'s window keeps, in (cost, accuracy desc, id) order, the points
    at least as accurate as every point before them; the front of those is the front."""
    ordered = sorted(numbered(pairs), key=lambda p: (p[2], -p[1], p[0]))
    candidates = []
    best_before: float | None = None
    for point in ordered:
        if best_before is None or point[1] >= best_before:
            candidates.append(point)
        best_before = point[1] if best_before is None else max(best_before, point[1])
    assert pareto_front(candidates, presorted=True) == pareto_front(ordered)


def test_a_known_front() -> None:
    points = [(1, 0.9, 100.0), (2, 0.8, 50.0), (3, 0.85, 120.0), (4, 0.95, 300.0)]
    assert pareto_front(points) == [2, 1, 4]
    front = ParetoFront()
    for point in reversed(points):
        front.add(*point)
    assert front.ids == [2, 1, 4]
