"""The target rule (``nas.targets``): the best less max(half a point, 2 standard errors), for an
oracle table (errors of a mean over seeds) and a live job (binomial errors on ``n_val``), and no
live target where the validation set cannot tell trials apart."""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nas.targets import (
    MAX_MARGIN,
    MIN_MARGIN,
    live_margin,
    live_target,
    margin_of,
    mean_standard_error,
    table_target,
)


def test_the_margin_is_two_standard_errors_never_under_half_a_point() -> None:
    assert margin_of(0.01) == 0.02 and margin_of(0.001) == MIN_MARGIN == 0.005
    assert mean_standard_error([0.8]) == 0.0
    assert mean_standard_error([0.8, 0.9, 0.85]) == pytest.approx(0.05 / math.sqrt(3))


def test_a_table_target_is_the_mean_less_the_margin() -> None:
    assert table_target([0.8, 0.9, 0.85]) == pytest.approx(0.85 - 2 * 0.05 / math.sqrt(3))
    assert table_target([0.85, 0.85]) == pytest.approx(0.845)


def test_a_live_target_is_the_best_less_two_binomial_errors() -> None:
    found = live_target(0.9, 200)
    margin = 2 * math.sqrt(0.9 * 0.1 / 200)
    assert found.value == pytest.approx(0.9 - margin) and found.margin == pytest.approx(margin)
    assert found.best == 0.9 and found.reason is None
    assert live_margin(0.9, None) == MIN_MARGIN  # no n_val: the half point alone


def test_no_live_target_without_a_trial_or_with_too_few_images() -> None:
    none = live_target(None, 200)
    assert (none.value, none.best, none.margin, none.reason) == (
        None,
        None,
        None,
        "no completed trial yet",
    )
    assert live_target(math.nan, 200).best is None
    small = live_target(0.1, 30)  # 2 standard errors are 11 points
    assert small.value is None and small.best == 0.1
    assert small.reason is not None and "30 validation images" in small.reason


@given(
    st.floats(0.0, 1.0),
    st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_a_live_target_is_positive_and_meaningful_or_absent_with_a_reason(
    best: float, n_val: int | None
) -> None:
    found = live_target(best, n_val)
    assert found.margin == live_margin(best, n_val) >= MIN_MARGIN
    if found.value is None:
        assert found.reason
    else:
        assert found.reason is None and found.margin is not None
        assert 0 < found.value == best - found.margin
        assert found.margin <= MAX_MARGIN and 2 * found.margin <= best


def test_one_rule_for_tables_and_live_jobs() -> None:
    """Both are the best less ``margin_of`` a standard error."""
    scores = [0.80, 0.82, 0.84]
    se = statistics.stdev(scores) / math.sqrt(3)
    assert table_target(scores) == pytest.approx(statistics.fmean(scores) - margin_of(se))
    assert live_margin(0.82, 1_000) == pytest.approx(margin_of(math.sqrt(0.82 * 0.18 / 1_000)))
