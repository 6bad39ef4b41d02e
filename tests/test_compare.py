"""nas.compare on a hand-made run: compute-to-target, best at a budget, area under the curve,
best-so-far and quartiles over runs; and on random runs against the definition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nas.compare import (
    Point,
    Step,
    area_under_curve,
    best_at,
    best_so_far,
    compute_to_target,
    curve,
    quartiles,
    reaching_step,
)

# A hand-made run: costs 2, 1, 3, 2; the strategy saw 0.80, 0.85 (lucky: truly 0.78), 0.83
# (truly 0.86), a failure, in that order.
RUN = [
    Step(cost=2.0, seen=0.80, true=0.81),
    Step(cost=1.0, seen=0.85, true=0.78),
    Step(cost=3.0, seen=0.83, true=0.86),
    Step(cost=2.0, seen=None, true=None),
]


def test_compute_to_target_counts_until_the_recommendation_reaches_it() -> None:
    assert compute_to_target(RUN, 0.80) == 2.0
    assert reaching_step(RUN, 0.80) == (0, 0)
    # the third proposal is truly 0.86, but it looked worse (0.83) than the lucky 0.85 the
    # strategy recommends (truly 0.78): it is never handed to the user, so 0.85 is not reached
    assert compute_to_target(RUN, 0.85) is None
    assert compute_to_target(RUN, 0.78) == 2.0
    assert compute_to_target(RUN, 0.90) is None
    assert compute_to_target([], 0.5) is None


def test_a_truly_good_proposal_counts_once_it_is_recommended() -> None:
    run = [*RUN, Step(cost=1.0, seen=0.90, true=0.84)]
    assert reaching_step(run, 0.83) == (4, 4)
    assert compute_to_target(run, 0.83) == 9.0  # 2 + 1 + 3 + 2 + 1


def test_the_recommendation_follows_what_was_seen_and_is_scored_by_the_truth() -> None:
    points = curve(RUN)
    assert [p.spent for p in points] == [2.0, 3.0, 6.0, 8.0]
    # After step 2 the strategy recommends its lucky 0.85, truly 0.78; 0.83 < 0.85 keeps it.
    assert [p.recommended for p in points] == [0.81, 0.78, 0.78, 0.78]
    assert best_at(RUN, 1.9) is None
    assert best_at(RUN, 2.0) == 0.81
    assert best_at(RUN, 5.0) == 0.78
    assert best_at(RUN, 100.0) == 0.78


def test_area_under_the_curve_by_hand() -> None:
    # 0 over [0, 2), 0.81 over [2, 3), 0.78 over [3, 8]: (0.81 + 0.78 * 5) / 8.
    assert area_under_curve(RUN, 8.0) == pytest.approx((0.81 + 0.78 * 5) / 8)
    assert area_under_curve(RUN, 2.5) == pytest.approx(0.81 * 0.5 / 2.5)
    assert area_under_curve(RUN, 10.0) == pytest.approx((0.81 + 0.78 * 7) / 10)
    with pytest.raises(ValueError):
        area_under_curve(RUN, 0.0)


def test_best_so_far_is_what_was_seen_at_each_improvement() -> None:
    # seen 0.80 (after 2), 0.85 (after 3); 0.83 and the failure change nothing
    assert best_so_far(RUN) == [(2.0, 0.80), (3.0, 0.85)]
    tie = [Step(1.0, 0.8, 0.7), Step(1.0, 0.8, 0.9)]
    assert best_so_far(tie) == [(1.0, 0.8)]  # a tie keeps the first
    assert [p.recommended for p in curve(tie)] == [0.7, 0.7]


def test_quartiles_count_a_run_that_never_reached_as_never() -> None:
    assert quartiles([1.0, 2.0, 3.0]) == (1.5, 2.0, 2.5)
    assert quartiles([1.0, None, 3.0]) == (2.0, 3.0, None)
    assert quartiles([None, None, 3.0]) == (None, None, None)
    with pytest.raises(ValueError):
        quartiles([])


seen_values = st.one_of(st.none(), st.sampled_from([0.5, 0.7, 0.9]))
steps_lists = st.lists(
    st.builds(
        Step,
        cost=st.sampled_from([0.0, 1.0, 2.5]),
        seen=seen_values,
        true=st.one_of(st.none(), st.sampled_from([0.6, 0.8])),
    ),
    max_size=20,
)


def recommended_by_definition(steps: list[Step], k: int) -> int | None:
    """After step k: the first step with the highest seen accuracy so far."""
    seen = [(s.seen, i) for i, s in enumerate(steps[: k + 1]) if s.seen is not None]
    if not seen:
        return None
    top = max(a for a, _ in seen)
    return min(i for a, i in seen if a == top)


@given(steps_lists, st.sampled_from([0.6, 0.7, 0.8]))
def test_curves_and_compute_to_target_follow_the_definition(
    steps: list[Step], target: float
) -> None:
    points = curve(steps)
    spent = 0.0
    first_reach = None
    for k, step in enumerate(steps):
        spent += step.cost
        r = recommended_by_definition(steps, k)
        true = steps[r].true if r is not None else None
        assert points[k] == Point(spent, true)
        if first_reach is None and true is not None and true >= target:
            first_reach = (k, r)
    assert reaching_step(steps, target) == first_reach
    expected = None if first_reach is None else points[first_reach[0]].spent
    assert compute_to_target(steps, target) == expected
    improvements = [
        (points[k].spent, steps[r].seen)
        for k in range(len(steps))
        if (r := recommended_by_definition(steps, k)) is not None
        and r != (recommended_by_definition(steps, k - 1) if k else None)
    ]
    assert best_so_far(steps) == improvements
