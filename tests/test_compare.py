"""nas.compare on a hand-made run: compute-to-target, best at a budget, area under the curve."""

from __future__ import annotations

import pytest

from nas.compare import (
    Step,
    area_under_curve,
    best_at,
    compute_to_target,
    curve,
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
