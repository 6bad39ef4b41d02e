"""nas.verdict: the rank test against published and scipy-computed values, Holm against a
textbook example, values of runs at costs, no claim from one run, and the verdict's behaviour on
simulated jobs against the committed oracle table (same distribution: not distinguishable in at
least 95 of 100 jobs; a clearly better strategy: found)."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from nas.compare import Step, best_at
from nas.oracle import OraclePoint, OracleTable
from nas.verdict import (
    MAX_EXACT_RUNS,
    NO_CLAIM,
    NOT_DISTINGUISHABLE,
    TradeOff,
    costs_and_values,
    decide,
    exact_p,
    holm,
    verdict,
)

ROOT = Path(__file__).resolve().parent.parent
# A frozen copy of an oracle table (data/oracles/resnet3_27.json as built on 2026-12-05): the
# verdict's statistical behaviour is tested on fixed data, not on a table that reruns replace.
TABLE = OracleTable.load(ROOT / "tests" / "fixtures" / "oracle_resnet3_27_2026-12-05.json")
EPOCHS = 3


def one_step(value: float, cost: float = 1.0) -> list[Step]:
    return [Step(cost, value, value)]


# ---- the rank test ----------------------------------------------------------------------------


def test_equal_costs_give_the_exact_mann_whitney_test_of_a_published_example() -> None:
    # Ludbrook & Dudley (1998), "Why permutation tests are superior to t and F tests in
    # biomedical research", The American Statistician 52(2), 127-132: ages at diagnosis of
    # type II diabetes, males [19, 22, 16, 29, 24], females [20, 11, 17, 12]: U_M = 17,
    # U_F = 3, exact two-sided p = 0.11 (14 of the 126 relabelings); the example of
    # scipy.stats.mannwhitneyu's documentation, which gives p = 0.1111111111111111.
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    found = verdict(
        {
            "males": [one_step(age / 100) for age in males],
            "females": [one_step(age / 100) for age in females],
        }
    )
    pair = found.pairs[0]
    assert pair.statistic == 2 * (17 - 3)  # both comparisons at one cost: 2 (U_M - U_F)
    assert pair.bound == 2 * 5 * 4
    assert pair.p == pytest.approx(14 / 126)
    assert pair.p == pytest.approx(stats.mannwhitneyu(males, females, method="exact").pvalue)
    assert pair.exact and pair.p_holm == pair.p  # one pair: nothing to correct
    assert pair.ahead is None and pair.says == NOT_DISTINGUISHABLE
    assert found.says.startswith(NOT_DISTINGUISHABLE)
    assert pair.smallest_p == pytest.approx(2 / math.comb(9, 4))


def random_runs(rng: random.Random, n: int, shift: float = 0.0) -> list[list[Step]]:
    """Runs of a few steps of different costs, accuracies on a coarse grid (many ties)."""
    return [
        [
            Step(rng.choice([0.5, 1.0, 2.0]), v, v)
            for v in (round(rng.uniform(0.5, 0.9) + shift, 1) for _ in range(rng.randint(1, 4)))
        ]
        for _ in range(n)
    ]


def u_by_definition(a: Sequence[list[Step]], b: Sequence[list[Step]]) -> int:
    """U written out from its definition with nas.compare.best_at (none yet: 0)."""

    def value(run: list[Step], cost: float) -> float:
        found = best_at(run, cost)
        return 0.0 if found is None else found

    def cost(run: list[Step]) -> float:
        return sum(s.cost for s in run)

    total = 0
    for x, y in itertools.product(a, b):
        for c in (cost(x), cost(y)):
            total += int(np.sign(value(x, c) - value(y, c)))
    return total


@pytest.mark.parametrize("seed", range(4))
def test_the_exact_p_is_scipys_permutation_test_enumerating_every_relabeling(seed: int) -> None:
    # The subset-sum recursion against scipy.stats.permutation_test enumerating all 462
    # relabelings of U (computed from its definition) on runs with ties and unequal costs.
    rng = random.Random(seed)
    a, b = random_runs(rng, 6, 0.05 * seed), random_runs(rng, 5)
    runs = [*a, *b]

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> float:
        return u_by_definition([runs[i] for i in x], [runs[i] for i in y])

    expected = stats.permutation_test(
        (np.arange(6), np.arange(6, 11)),
        statistic,
        permutation_type="independent",
        vectorized=False,
        n_resamples=10_000,  # more than the 462 relabelings: scipy enumerates them all
        alternative="two-sided",
    )
    pair = verdict({"a": a, "b": b}).pairs[0]
    assert pair.exact
    assert pair.statistic == u_by_definition(a, b) == expected.statistic
    assert pair.p == pytest.approx(min(1.0, expected.pvalue), rel=1e-12)


def test_many_runs_use_random_relabelings_close_to_the_normal_approximation() -> None:
    # Beyond MAX_EXACT_RUNS, p comes from random relabelings. With equal costs and no ties the
    # test is Mann-Whitney's, whose normal approximation (scipy, no continuity correction) is
    # good at 40 runs each; the Monte Carlo p of 9,999 relabelings is within 0.02 of it.
    rng = np.random.default_rng(3)
    x, y = rng.normal(0.80, 0.02, 40), rng.normal(0.79, 0.02, 40)
    assert len(x) + len(y) > MAX_EXACT_RUNS
    pair = verdict({"x": [one_step(v) for v in x], "y": [one_step(v) for v in y]}).pairs[0]
    normal = stats.mannwhitneyu(x, y, method="asymptotic", use_continuity=False).pvalue
    assert not pair.exact
    assert pair.p == pytest.approx(normal, abs=0.02)
    assert pair.smallest_p == pytest.approx(2 / 10_000)


def test_exact_p_of_every_relabeling_counted_by_hand() -> None:
    # scores 3, 1, -1, -3 (a run against all others), two runs per side: the six relabelings
    # give U = 4, 2, 0, 0, -2, -4; U = 4 is the most extreme on its side: p = 2 x 1/6
    scores = np.array([3, 1, -1, -3])
    assert exact_p(scores, 2, 4) == pytest.approx(2 / 6)
    assert exact_p(scores, 2, 0) == 1.0
    assert exact_p(scores, 2, -2) == pytest.approx(2 * 2 / 6)


# ---- Holm -----------------------------------------------------------------------------------


def test_holm_matches_a_textbook_example() -> None:
    # Wikipedia, "Holm-Bonferroni method", Example: p1..p4 = 0.01, 0.04, 0.03, 0.005 at
    # alpha 0.05 rejects H4 and H1 only. Adjusted p-values (as R's p.adjust(method = "holm")
    # gives them): 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, max(0.04 x 1, 0.06).
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]


def test_holm_by_its_definition_on_random_p_values() -> None:
    # Holm (1979): reject H_(i) when p_(j) <= alpha / (k - j + 1) for every j <= i; the
    # adjusted p is the smallest alpha that rejects it. Checked on a grid of alphas.
    rng = random.Random(0)
    for _ in range(50):
        p = [rng.random() ** 2 for _ in range(rng.randint(1, 6))]
        adjusted = holm(p)
        order = sorted(range(len(p)), key=lambda i: p[i])
        for alpha in (0.01, 0.05, 0.1, 0.3):
            rejected, stop = set(), False
            for rank, i in enumerate(order):
                stop = stop or p[i] > alpha / (len(p) - rank)
                if not stop:
                    rejected.add(i)
            assert {i for i, q in enumerate(adjusted) if q <= alpha} == rejected
    assert holm([0.5, 0.9]) == [1.0, 1.0] and holm([]) == []


# ---- values, costs, claims --------------------------------------------------------------------


def test_a_run_is_worth_its_best_seen_so_far_and_nothing_before() -> None:
    late = [Step(2.0, None, None), Step(1.0, 0.7, 0.72)]  # failed first, then one seen
    early = [Step(1.0, 0.8, 0.75), Step(1.0, 0.6, 0.9), Step(1.0, 0.85, 0.8)]
    costs, values = costs_and_values([late, early])
    assert costs == [3.0, 3.0]
    # early at cost 3: its best seen (0.85) is worth 0.8, not the 0.9 it never recognised
    assert values[1, 1] == pytest.approx(0.8)
    # late at 3 has its 0.72; a run with nothing yet is worth 0
    assert values[0, 0] == pytest.approx(0.72)
    assert costs_and_values([late, [Step(5.0, 0.9, 0.9)]])[1][1, 0] == 0.0


def test_one_run_per_strategy_makes_no_claim() -> None:
    found = verdict({"grid": [one_step(0.9)], "random": [one_step(0.5)]})
    assert not found.claim and found.says == NO_CLAIM and found.pairs == []
    assert [s.runs for s in found.strategies] == [1, 1]
    alone = verdict({"grid": [one_step(0.9), one_step(0.8)]})
    assert not alone.claim and alone.says.startswith("no claim: one strategy")
    partly = verdict({"grid": [one_step(0.9), one_step(0.8)], "random": [one_step(0.5)]})
    assert not partly.claim and "random 1" in partly.says
    # a job with repeats whose runs have barely started: not "one run per strategy" but "yet"
    started = verdict({"grid": [one_step(0.9)], "random": []})
    assert (
        started.says == "no claim yet: two strategies need two runs or more each (grid 1, random 0)"
    )


def test_a_claim_needs_the_test_and_the_interval_on_one_side() -> None:
    pair = verdict({"a": [one_step(0.9), one_step(0.91)], "b": [one_step(0.5), one_step(0.6)]})
    base = pair.pairs[0]
    assert base.statistic == base.bound == 8 and base.p == pytest.approx(2 / 6)  # 6 relabelings
    significant = base.model_copy(update={"effect_low": 0.01, "effect_high": 0.4})
    assert decide(significant, 0.01, 0.05).says == "a ahead of b"
    assert decide(significant, 0.05, 0.05).says == NOT_DISTINGUISHABLE  # p >= alpha
    straddles = base.model_copy(update={"effect_low": -0.01, "effect_high": 0.4})
    assert decide(straddles, 0.001, 0.05).ahead is None
    backwards = base.model_copy(update={"statistic": -8, "effect_low": 0.1})
    assert decide(backwards, 0.001, 0.05).ahead is None


def test_bad_alpha_is_refused() -> None:
    with pytest.raises(ValueError, match="alpha"):
        verdict({"a": [], "b": []}, alpha=1.5)


# ---- simulated jobs against the oracle table ----------------------------------------------------


def shuffled_grid(rng: random.Random, points: Sequence[OraclePoint], budget: float) -> list[Step]:
    """A fixed-stride grid run in a shuffled order, as ``workers.jobs.simulation.simulate`` replays
    one (one seed's curve drawn per proposal, the table's compute charged, scored by the mean over
    seeds) but in plain Python: proposals until the next would overrun ``budget`` FLOPs."""
    order = list(points)
    rng.shuffle(order)
    steps, spent = [], 0.0
    for point in order:
        cost = point.epoch_flops * EPOCHS
        if spent + cost > budget:
            break
        seen = rng.choice(point.runs).val_accuracy[EPOCHS - 1]
        steps.append(Step(cost, seen, point.mean(EPOCHS)))
        spent += cost
    return steps


def test_the_same_strategy_twice_is_not_distinguishable_in_95_of_100_jobs() -> None:
    # 100 simulated jobs, each "grid" against "grid" with other seeds: 10 runs each of a
    # shuffled grid over the 27-point table, 10 base epochs per run (a seventh of the grid, so
    # runs differ in what they find and what they cost). Same distribution: the exact test
    # alone has p < 0.05 in at most 5% of such jobs on average (here 6 of these 100; 4.4% of
    # 1,000 others, random.Random(1)), so a claim also needs the effect's interval to exclude 0
    # on the test's side: 3 of these 100 jobs claim a difference (2.6% of the 1,000).
    rng = random.Random(2025)
    budget = 10 * TABLE.base_epoch_flops()
    claims = []
    for _ in range(100):
        runs = {
            key: [shuffled_grid(rng, TABLE.points, budget) for _ in range(10)]
            for key in ("grid", "grid-again")
        }
        found = verdict(runs, bootstrap=999)
        claims.append(found.pairs[0].ahead is not None)
        assert found.says.startswith(NOT_DISTINGUISHABLE) == (not claims[-1])
    assert sum(claims) <= 5
    assert sum(claims) == 3  # deterministic: every draw is seeded


def test_a_clearly_better_strategy_is_found_ahead() -> None:
    # "grid" searches the whole table; "narrow" only the 9 triples with stride 1 in the first
    # stage (true accuracy 76.0-79.8% against 82.8% for the best point), at the same budget.
    rng = random.Random(7)
    budget = 20 * TABLE.base_epoch_flops()
    narrow = [p for p in TABLE.points if p.strides[0] == 1]
    found = verdict(
        {
            "narrow": [shuffled_grid(rng, narrow, budget) for _ in range(10)],
            "grid": [shuffled_grid(rng, TABLE.points, budget) for _ in range(10)],
        }
    )
    pair = found.pairs[0]
    assert found.claim and pair.ahead == "grid" and pair.says == "grid ahead of narrow"
    assert pair.statistic < 0 and pair.p < 0.001
    assert pair.effect < 0 and pair.effect_low <= pair.effect <= pair.effect_high < 0
    assert found.says.startswith("grid ahead of narrow (p = ")


def test_holm_corrects_over_the_pairs_of_three_strategies() -> None:
    rng = random.Random(11)
    budget = 20 * TABLE.base_epoch_flops()
    narrow = [p for p in TABLE.points if p.strides[0] == 1]
    runs = {
        "grid": [shuffled_grid(rng, TABLE.points, budget) for _ in range(8)],
        "grid-again": [shuffled_grid(rng, TABLE.points, budget) for _ in range(8)],
        "narrow": [shuffled_grid(rng, narrow, budget) for _ in range(8)],
    }
    found = verdict(runs)
    by_pair = {(p.a, p.b): p for p in found.pairs}
    assert list(by_pair) == [("grid", "grid-again"), ("grid", "narrow"), ("grid-again", "narrow")]
    assert [p.p_holm for p in found.pairs] == pytest.approx(holm([p.p for p in found.pairs]))
    assert all(p.p_holm >= p.p for p in found.pairs)
    assert by_pair["grid", "grid-again"].says == NOT_DISTINGUISHABLE
    assert by_pair["grid", "narrow"].ahead == "grid"
    assert by_pair["grid-again", "narrow"].ahead == "grid-again"
    assert found.says.endswith("; the other pair not distinguishable")


def test_a_cheaper_worse_strategy_is_a_trade_off_not_a_tie() -> None:
    """``base`` answers after 1 unit of compute, ``search`` after 3 and better: U counts search
    behind at base's cost (nothing yet) and ahead at its own, so the test cannot tell them
    apart, while the effect (where both answer) is clear of 0: a trade-off, named as such."""
    base = [one_step(0.70 + k / 1000, cost=1.0) for k in range(5)]
    search = [[Step(3.0, 0.90 + k / 1000, 0.90 + k / 1000)] for k in range(5)]
    found = verdict({"base": base, "search": search}, bootstrap=199)
    (pair,) = found.pairs
    assert pair.ahead is None and pair.says == "not distinguishable"
    assert pair.effect_high is not None and pair.effect_high < 0  # base minus search, both answer
    assert pair.trade_off == TradeOff(sooner="base", better="search")
    # the same effect from the costlier side is no trade-off: it is simply not shown better
    costly = [one_step(0.70 + k / 1000, cost=9.0) for k in range(5)]
    (plain,) = verdict({"base": costly, "search": search}, bootstrap=199).pairs
    assert plain.trade_off is None
    # an interval that straddles 0 is no trade-off either
    level = [[Step(3.0, 0.70 + k / 1000, 0.70 + k / 1000)] for k in (2, 4, 0, 3, 1)]
    mixed = [one_step(0.7025 + (-1) ** k * k / 1000, cost=1.0) for k in range(5)]
    assert verdict({"a": mixed, "b": level}, bootstrap=199).pairs[0].trade_off is None
