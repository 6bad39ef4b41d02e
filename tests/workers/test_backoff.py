"""``ExponentialBackoff``: the scheduler's and the Ray supervisor's delays."""

from __future__ import annotations

import pytest

from workers.executors.backoff import ExponentialBackoff


def test_delays_double_up_to_the_ceiling_and_start_over_after_a_reset() -> None:
    backoff = ExponentialBackoff(1.0, 30.0)  # the Ray supervisor's: 1 s doubling to 30 s
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    backoff.reset()
    assert [backoff.next_delay() for _ in range(2)] == [1, 2]


def test_the_scheduler_policy() -> None:
    backoff = ExponentialBackoff(0.5, 5.0)  # poll_seconds doubling to MAX_BACKOFF_SECONDS
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 5, 5]


def test_a_first_delay_above_the_ceiling_is_kept_once() -> None:
    backoff = ExponentialBackoff(8.0, 5.0)
    assert [backoff.next_delay() for _ in range(3)] == [8, 5, 5]


@pytest.mark.parametrize(("initial", "maximum", "factor"), [(-1, 1, 2), (1, -1, 2), (1, 1, 0.5)])
def test_nonsense_is_refused(initial: float, maximum: float, factor: float) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        ExponentialBackoff(initial, maximum, factor)
