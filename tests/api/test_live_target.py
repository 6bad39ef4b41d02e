"""``api.live_targets.live_target``: no target below 0, nor one a validation set too small to tell
trials apart would make meaningless; the ``reason`` says which."""

from __future__ import annotations

import math

import pytest

from api.live_targets import MAX_MARGIN, live_target


def test_a_target_is_the_best_less_two_standard_errors() -> None:
    target = live_target(0.9, 200, best_trial=3, best_job=1)
    margin = 2 * math.sqrt(0.9 * 0.1 / 200)
    assert target.value == pytest.approx(0.9 - margin) and target.margin == pytest.approx(margin)
    assert target.reason is None and target.best_trial == 3


def test_thirty_validation_images_cannot_tell_trials_apart() -> None:
    """The reported case: a best of 10% on 30 images gave "target -0.95%"."""
    target = live_target(0.1, 30, best_trial=7)
    assert target.value is None
    assert target.best == 0.1 and target.best_trial == 7  # what was measured stays shown
    assert target.margin == pytest.approx(2 * math.sqrt(0.09 / 30))  # 10.95 points
    assert target.reason == (
        "30 validation images cannot tell trials apart: 2 standard errors at 10.00% are "
        "11.0 points (over 10)"
    )


@pytest.mark.parametrize(
    ("best", "n_val"),
    [(p, n) for p in (0.0, 0.004, 0.05, 0.1, 0.3, 0.5, 0.9, 0.99, 1.0) for n in (1, 30, 200, None)],
)
def test_never_a_target_below_0_nor_a_meaningless_one(best: float, n_val: int | None) -> None:
    target = live_target(best, n_val)
    if target.value is None:
        assert target.reason
        return
    assert target.reason is None
    assert 0 < target.value <= best and target.margin is not None
    assert target.margin <= MAX_MARGIN and 2 * target.margin <= best


def test_a_best_within_its_own_margin_has_no_target() -> None:
    target = live_target(0.008, None)  # the half-point floor is most of it
    assert target.value is None and target.reason is not None
    assert target.reason.startswith("the best accuracy, 0.80%, is within its margin")


def test_no_completed_trial_no_target() -> None:
    target = live_target(None, 200)
    assert target.value is None and target.best is None
    assert target.reason == "no completed trial yet"
