"""bench/scaling.py's pieces: each method lands at the size it is asked for, and the tests are
scipy's paired t with Holm's correction (no training here)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from bench.scaling import (
    BASE,
    METHODS,
    ScalingRun,
    compare,
    gain_interval,
    macs_of,
    scaled,
)
from nas.spec import ArchSpec
from nas.verdict import holm

TRIPLE = (1.2, 1.1, 1.15)  # the paper's; the bench takes its grid's pick


@pytest.mark.parametrize("size", [2.0, 4.0])
def test_every_method_lands_near_the_size_and_scales_only_its_dimension(size: float) -> None:
    base = ArchSpec.from_string(BASE)
    for method in METHODS:
        spec = scaled(base, method, size, TRIPLE)
        ratio = macs_of(spec) / macs_of(base)
        assert abs(math.log(ratio / size)) < math.log(1.1), (method, ratio)
        depth = [s.repeats for s in spec.stages] != [s.repeats for s in base.stages]
        width = [s.out_channels for s in spec.stages] != [s.out_channels for s in base.stages]
        resolution = spec.resolution != base.resolution
        changed = {"depth": depth, "width": width, "resolution": resolution}
        if method != "compound":
            assert changed == {k: k == method for k in changed}, method
        else:
            assert sum(changed.values()) >= 2  # compound moves several at once


def run(arm: str, seed: int, test: float) -> ScalingRun:
    return ScalingRun(
        arm=arm,
        seed=seed,
        spec=BASE,
        macs=1,
        params=1,
        val_accuracy=test,
        test_accuracy=test,
        wall_seconds=0.0,
    )


def test_comparisons_are_paired_t_tests_corrected_by_holm() -> None:
    tests = {
        "compound": [0.90, 0.91, 0.93],
        "depth": [0.85, 0.86, 0.87],
        "width": [0.90, 0.90, 0.94],
        "resolution": [0.89, 0.92, 0.92],
    }
    cells = {(m, 2.0): [run(m, s, v) for s, v in enumerate(tests[m])] for m in METHODS}
    found = compare(cells, [2.0])
    ps = [float(stats.ttest_rel(tests["compound"], tests[m]).pvalue) for m in METHODS[:-1]]
    assert [c.method for c in found] == list(METHODS[:-1])
    assert [c.p for c in found] == pytest.approx(ps)
    assert [c.p_holm for c in found] == pytest.approx(holm(ps))
    assert found[0].compound_minus == pytest.approx((0.90 + 0.91 + 0.93) / 3 - 0.86)
    # depth is 5-6 points behind in every seed: t = 16 on 2 df, p = 0.0039, Holm 0.012
    assert found[0].says == "compound ahead"
    assert [c.says for c in found[1:]] == ["not distinguishable"] * 2


def test_the_gain_interval_is_a_t_interval_over_paired_seeds() -> None:
    low = [run("depth@2x", s, v) for s, v in enumerate([0.80, 0.82, 0.81])]
    high = [run("depth@4x", s, v) for s, v in enumerate([0.83, 0.84, 0.85])]
    mean, lo, hi = gain_interval(low, high)
    gains = [0.03, 0.02, 0.04]
    interval = stats.t.interval(0.95, 2, loc=0.03, scale=stats.sem(gains))
    assert mean == pytest.approx(0.03)
    assert (lo, hi) == pytest.approx(interval)
