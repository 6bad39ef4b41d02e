"""The sweep Pareto front equals the brute-force definition."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from api.pareto import pareto_front


def brute_force(points: list[tuple[int, float, float]]) -> set[int]:
    return {
        i
        for i, a, c in points
        if not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for _, a2, c2 in points)
    }


values = st.integers(0, 6).map(float)  # few distinct values: many ties


@given(st.lists(st.tuples(values, values), max_size=40))
def test_sweep_matches_the_definition(pairs: list[tuple[float, float]]) -> None:
    points = [(i, a, c) for i, (a, c) in enumerate(pairs)]
    front = pareto_front(points)
    assert set(front) == brute_force(points)
    costs = [pairs[i][1] for i in front]
    assert costs == sorted(costs)


def test_a_known_front() -> None:
    points = [(1, 0.9, 100.0), (2, 0.8, 50.0), (3, 0.85, 120.0), (4, 0.95, 300.0)]
    assert pareto_front(points) == [2, 1, 4]
