"""The verdict: which strategy finds a good architecture for the least compute, tested.

A job with ``repeats: N`` runs every strategy N times. A *run* is one repeat of one strategy:
its finished proposals in the order they finished (``nas.compare.Step``). Its *cost* is all the
compute it was charged; its *value* at compute ``c`` is the true accuracy of its recommendation
once ``c`` is spent (its best *seen* proposal so far: ``nas.compare.curve``). Before its first
seen accuracy a run recommends nothing, which is worth 0: it ranks below every run that
recommends something and ties with another that recommends nothing (``area_under_curve`` counts
it the same). A run with no finished proposal costs 0 and recommends nothing anywhere: in a
finished job it found nothing; a caller following a live job leaves out the repeats that have
not started (``api.routers.verdict`` does while the job runs).

For a pair of strategies A (runs ``a_1..a_n``) and B (``b_1..b_m``), each run is scored at its
own cost against the other strategy's runs at that same compute:

- statistic: ``U``, over every pair of runs (a, b), the sum of
  ``sign(v_a(C_a) - v_b(C_a)) + sign(v_a(C_b) - v_b(C_b))`` (``v_x(c)``: run x's value at
  c; ``C_x``: its cost), from ``-2nm`` (B ahead in every comparison) to ``+2nm``: a
  Mann-Whitney U over curves. When every run costs the same, U is ``2 (U_A - U_B)`` of the
  Mann-Whitney test and this test is its exact test.
- p: two-sided, from U's distribution over the relabelings of the ``n + m`` runs between A and
  B. Under the null hypothesis (A's and B's runs are draws of one distribution of curves)
  every relabeling is equally likely, whatever the curves look like. The signs are
  antisymmetric, so the pairs within one side cancel: U is the sum of A's runs' *scores*
  (a run's signs against all ``n + m`` runs), and relabeling permutes the scores. Up to
  ``MAX_EXACT_RUNS`` runs p is exact: every relabeling counted by a subset-sum recursion over
  the scores (``exact_p``; 10 runs each are 184,756 relabelings, which
  ``scipy.stats.permutation_test`` would enumerate one by one); beyond, ``RESAMPLES`` random
  relabelings (``scipy.stats.permutation_test``, ``permutation_type='independent'``).
- Holm's step-down correction over the ``k (k - 1) / 2`` pairs of ``k`` strategies (Holm 1979)
  keeps the chance of any false claim at most ``ALPHA``.
- effect (in accuracy, A minus B): the median of ``v_a(c) - v_b(c)`` over the comparisons
  U counts (every pair of runs, at each one's own cost) in which *both* runs recommend
  something: a run with nothing yet is ranked last by U, but a difference of accuracy against
  nothing is no accuracy (a strategy that stops early, such as ``base``, would otherwise lead
  by its whole accuracy wherever the other had nothing yet). With a 95% percentile bootstrap
  interval that resamples A's and B's runs independently (``scipy.stats.bootstrap``,
  ``BOOTSTRAP`` resamples). None when no comparison has a result on both sides.
- says: "A ahead of B" when Holm's p < ``ALPHA``, U favours A and the effect's interval lies
  on A's side of zero; else "not distinguishable" (whenever Holm's p >= ``ALPHA``, and when the
  test and the interval disagree). With one run per strategy it makes no claim at all.
- trade-off: a pair not distinguishable whose effect's interval still lies on one side of zero,
  where the strategy behind finishes its runs on less compute (median), is a trade-off rather
  than a tie (``TradeOff``): that one answers sooner (U counts the other's runs, with nothing
  yet at its cost, as behind), the other better wherever both have an answer.

The runs of one repeat share their seeds across strategies (``nas.job.JobSpec.runs``); the test
treats runs as independent draws, as the relabeling needs.
"""

from __future__ import annotations

import math
import warnings
from bisect import bisect_right
from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from nas.compare import Step, curve, quantile

ALPHA = 0.05
MAX_EXACT_RUNS = 60
"""Runs of a pair up to which p is exact (every relabeling counted); beyond, ``RESAMPLES``
random relabelings (a Monte Carlo p)."""
RESAMPLES = 9_999
"""Random relabelings (beyond ``MAX_EXACT_RUNS``)."""
BOOTSTRAP = 1_999
"""Bootstrap resamples of the effect (each takes the medians of every run against the other
side's: the verdict's main cost)."""
CELLS = 1_000_000
"""Run-against-run cells evaluated at once: bounds the memory of a batch of relabelings or
resamples."""
NO_CLAIM = "no claim: one run per strategy"
NOT_DISTINGUISHABLE = "not distinguishable"
TEST = (
    "each run scored at its own final cost against the other strategy's runs at that compute "
    "(the true accuracy of its best seen trial so far; none yet counts 0); U sums the signs "
    "over every pair of runs; two-sided permutation test relabeling runs (exact up to "
    f"{MAX_EXACT_RUNS} runs), Holm-corrected over pairs; effect: median difference in "
    "accuracy, 95% bootstrap interval over runs; a pair differs when the corrected p < "
    "alpha and the interval excludes 0 on the same side"
)


class StrategyRuns(BaseModel):
    """One strategy's runs in the verdict."""

    strategy: str
    runs: int
    cost: float | None = Field(description="median compute of its runs, FLOPs (null: no run)")
    value: float | None = Field(
        description="median true accuracy of its runs' final recommendations (null: no run)"
    )


class TradeOff(BaseModel):
    """One strategy answers sooner, the other better (``trade_off``)."""

    sooner: str = Field(
        description="finishes its runs on less compute (median), behind where both answer"
    )
    better: str = Field(description="ahead wherever both have an answer (the effect's side)")


class PairVerdict(BaseModel):
    """Strategy ``a`` against strategy ``b`` at equal compute."""

    a: str
    b: str
    runs_a: int
    runs_b: int
    statistic: int = Field(description="U: positive when a's runs are ahead")
    bound: int = Field(description="the largest |U| possible: 2 x runs_a x runs_b")
    p: float = Field(description="two-sided permutation p")
    p_holm: float = Field(description="p after Holm's correction over the pairs")
    exact: bool = Field(description="every relabeling counted (else a random sample of them)")
    smallest_p: float = Field(
        description="the smallest p these run counts allow (2 over the relabelings counted): "
        "above alpha no difference can be shown, whatever the runs"
    )
    effect: float | None = Field(
        description="median difference in accuracy, a minus b, where both runs recommend "
        "something (null: no such comparison)"
    )
    effect_low: float | None = Field(description="95% bootstrap interval of the effect")
    effect_high: float | None
    ahead: str | None = Field(description="the strategy ahead; null: not distinguishable")
    says: str
    trade_off: TradeOff | None = Field(
        default=None,
        description="not distinguishable, yet the effect's interval excludes 0 and the one "
        "behind finishes on less compute: it answers sooner, the other better; null otherwise",
    )


class Verdict(BaseModel):
    """Which strategies differ at equal compute, and by how much."""

    claim: bool = Field(description="false: too few runs to test anything (see says)")
    says: str = Field(description="the verdict in one line")
    test: str = TEST
    alpha: float = ALPHA
    strategies: list[StrategyRuns] = Field(default_factory=list)
    pairs: list[PairVerdict] = Field(default_factory=list)


# ---- values of runs at costs ---------------------------------------------------------------


def costs_and_values(runs: Sequence[Sequence[Step]]) -> tuple[list[float], np.ndarray]:
    """Each run's cost, and ``V[r, s]``: run r's value at run s's cost (0: no recommendation)."""
    costs, values, _ = _costs_values_found(runs)
    return costs, values


def _costs_values_found(
    runs: Sequence[Sequence[Step]],
) -> tuple[list[float], np.ndarray, np.ndarray]:
    """``costs_and_values`` and ``R[r, s]``: whether run r recommends anything at run s's cost
    (V's 0s that are nothing, not an accuracy of 0)."""
    curves = [curve(steps) for steps in runs]
    costs = [c[-1].spent if c else 0.0 for c in curves]
    values = np.zeros((len(runs), len(runs)))
    found = np.zeros((len(runs), len(runs)), dtype=bool)
    for r, points in enumerate(curves):
        spent = [p.spent for p in points]
        for s, cost in enumerate(costs):
            k = bisect_right(spent, cost)
            recommended = points[k - 1].recommended if k else None
            values[r, s] = 0.0 if recommended is None else recommended
            found[r, s] = recommended is not None
    return costs, values, found


def exact_p(scores: np.ndarray, n: int, statistic: int) -> float:
    """Two-sided p of ``statistic``, the sum of ``n`` of the integer ``scores``, over every way
    to choose ``n`` of them: ``min(1, 2 min(P(U <= u), P(U >= u)))``, as ``permutation_test``
    counts it. The counts come from a subset-sum recursion over the scores (size by sum),
    not from enumerating the relabelings (184,756 for 10 runs each)."""
    low = int(scores.min())
    shifted = [int(v) - low for v in scores]
    span = n * max(shifted) + 1
    counts = np.zeros((n + 1, span))  # counts[k, s]: ways to choose k scores summing to s
    counts[0, 0] = 1.0
    for v in shifted:
        counts[1:, v:] = counts[1:, v:] + counts[:-1, : span - v]
    null = counts[n]
    at = statistic - n * low
    total = null.sum()
    below, above = null[: at + 1].sum() / total, null[at:].sum() / total
    return float(min(1.0, 2 * min(below, above)))


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (Holm 1979): the i-th smallest
    times ``k - i + 1`` (from i = 1), kept non-decreasing and at most 1."""
    k = len(p)
    adjusted = [0.0] * k
    running = 0.0
    for rank, i in enumerate(sorted(range(k), key=lambda j: p[j])):
        running = max(running, min(1.0, (k - rank) * p[i]))
        adjusted[i] = running
    return adjusted


# ---- one pair -------------------------------------------------------------------------------


class _Pair:
    """The statistics of two strategies' runs, over one value matrix of all their runs."""

    def __init__(self, a: Sequence[Sequence[Step]], b: Sequence[Sequence[Step]]) -> None:
        self.n, self.m = len(a), len(b)
        self.batch = max(1, CELLS // (self.n * self.m))
        _, self.values, recommends = _costs_values_found([*a, *b])
        own = np.diag(self.values)
        # the effect's values: NaN where a run recommends nothing yet (U's values count it 0)
        self.found = np.where(recommends, self.values, np.nan)
        self.found_own = np.diag(self.found)
        # r against s, at r's cost and at s's cost; antisymmetric, so the pairs within one side
        # cancel and U is the sum of the scores of a's runs: relabeling runs permutes scores
        signs = np.sign(own[:, None] - self.values.T) + np.sign(self.values - own)
        self.scores = signs.sum(axis=1).astype(np.int64)

    def effect(self, x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        """Median difference, x minus y, over every pair of runs at each one's own cost where
        both recommend something (indices, batched on leading axes; NaN: no such pair)."""
        x, y = x.astype(np.intp), y.astype(np.intp)
        own, at = self.found_own, self.found
        at_x = own[x][..., :, None] - at[y[..., None, :], x[..., :, None]]  # (..., n, m)
        at_y = at[x[..., :, None], y[..., None, :]] - own[y][..., None, :]  # (..., n, m)
        shape = (*at_x.shape[:-2], -1)
        differences = np.concatenate([at_x.reshape(shape), at_y.reshape(shape)], axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: no comparison
            found: np.ndarray = np.nanmedian(differences, axis=-1)
        return found

    def test(self, resamples: int, seed: int) -> tuple[int, float, bool]:
        """(U, two-sided p, exact)."""
        a, b = self.scores[: self.n], self.scores[self.n :]
        statistic = int(a.sum())
        if self.n + self.m <= MAX_EXACT_RUNS:
            return statistic, exact_p(self.scores, self.n, statistic), True
        found = stats.permutation_test(
            (a, b),
            _sum_of_first,
            permutation_type="independent",
            vectorized=True,
            n_resamples=resamples,
            alternative="two-sided",
            batch=CELLS // (self.n + self.m),
            rng=np.random.default_rng(seed),
        )
        return statistic, min(1.0, float(found.pvalue)), False

    def interval(self, resamples: int, seed: int) -> tuple[float | None, ...]:
        """(effect, low, high): the effect with its 95% percentile bootstrap interval (None:
        no comparison with a result on both sides; an interval of resamples that had one)."""
        x, y = np.arange(self.n), np.arange(self.n, self.n + self.m)
        effect = float(self.effect(x, y))
        if math.isnan(effect):
            return None, None, None
        found = stats.bootstrap(
            (x, y),
            self.effect,
            vectorized=True,
            paired=False,
            n_resamples=resamples,
            batch=self.batch,
            confidence_level=0.95,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
        low, high = (float(v) for v in found.confidence_interval)
        if math.isnan(low) or math.isnan(high):  # some resamples had no comparison
            spread = found.bootstrap_distribution
            low, high = (float(v) for v in np.nanpercentile(spread, [2.5, 97.5]))
        return effect, low, high


def _sum_of_first(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """U from the scores of a's runs (``x``) and b's (``y``)."""
    found: np.ndarray = np.sum(x, axis=axis)
    return found


# ---- the verdict ---------------------------------------------------------------------------


def _summary(name: str, runs: Sequence[Sequence[Step]]) -> StrategyRuns:
    if not runs:
        return StrategyRuns(strategy=name, runs=0, cost=None, value=None)
    costs, values = costs_and_values(runs)
    return StrategyRuns(
        strategy=name,
        runs=len(runs),
        cost=quantile(costs, 0.5),
        value=quantile(list(np.diag(values)), 0.5),
    )


def _no_claim(
    strategies: list[StrategyRuns], usable: Mapping[str, Sequence[Sequence[Step]]]
) -> str | None:
    """Why no claim can be made (None: a test can be made)."""
    if len(strategies) < 2:
        return "no claim: one strategy, nothing to compare it with"
    if all(s.runs == 1 for s in strategies):
        return NO_CLAIM
    if sum(len(r) >= 2 for r in usable.values()) < 2:
        few = ", ".join(f"{s.strategy} {s.runs}" for s in strategies if s.runs < 2)
        return f"no claim yet: two strategies need two runs or more each ({few})"
    return None


def verdict(
    runs: Mapping[str, Sequence[Sequence[Step]]],
    *,
    alpha: float = ALPHA,
    resamples: int = RESAMPLES,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> Verdict:
    """The verdict over ``runs`` (strategy -> its runs, each its steps in finish order), in
    the order given. Strategies with fewer than two runs are listed but not compared."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    usable = {name: list(found) for name, found in runs.items()}
    strategies = [_summary(name, found) for name, found in usable.items()]
    why = _no_claim(strategies, usable)
    if why is not None:
        return Verdict(claim=False, says=why, alpha=alpha, strategies=strategies)
    names = [name for name, found in usable.items() if len(found) >= 2]
    pairs = [
        _compare(a, b, usable[a], usable[b], resamples, bootstrap, seed)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    costs = {s.strategy: s.cost for s in strategies}
    pairs = [
        decide(pair, corrected, alpha)
        for pair, corrected in zip(pairs, holm([p.p for p in pairs]), strict=True)
    ]
    pairs = [p.model_copy(update={"trade_off": trade_off(p, costs)}) for p in pairs]
    return Verdict(
        claim=True, says=_headline(pairs, alpha), alpha=alpha, strategies=strategies, pairs=pairs
    )


def _compare(
    a: str,
    b: str,
    runs_a: Sequence[Sequence[Step]],
    runs_b: Sequence[Sequence[Step]],
    resamples: int,
    bootstrap: int,
    seed: int,
) -> PairVerdict:
    """``a`` against ``b``, before the correction over pairs."""
    pair = _Pair(runs_a, runs_b)
    statistic, p, exact = pair.test(resamples, seed)
    counted = math.comb(pair.n + pair.m, pair.n) if exact else resamples + 1
    effect, low, high = pair.interval(bootstrap, seed)
    return PairVerdict(
        a=a,
        b=b,
        runs_a=pair.n,
        runs_b=pair.m,
        statistic=statistic,
        bound=2 * pair.n * pair.m,
        p=p,
        p_holm=p,
        exact=exact,
        smallest_p=min(1.0, 2 / counted),
        effect=effect,
        effect_low=low,
        effect_high=high,
        ahead=None,
        says=NOT_DISTINGUISHABLE,
    )


def decide(pair: PairVerdict, corrected: float, alpha: float) -> PairVerdict:
    """``pair`` with its corrected p and what it says."""
    ahead = None
    low, high = pair.effect_low, pair.effect_high
    if corrected < alpha and low is not None and high is not None:
        if pair.statistic > 0 and low > 0:
            ahead = pair.a
        elif pair.statistic < 0 and high < 0:
            ahead = pair.b
    behind = pair.b if ahead == pair.a else pair.a
    says = f"{ahead} ahead of {behind}" if ahead else NOT_DISTINGUISHABLE
    return pair.model_copy(update={"p_holm": corrected, "ahead": ahead, "says": says})


def trade_off(pair: PairVerdict, costs: Mapping[str, float | None]) -> TradeOff | None:
    """The trade-off of a pair not told apart (None: none): its effect's interval lies on one
    side of zero, and the strategy behind there finishes its runs on less compute (``costs``:
    median compute per strategy)."""
    low, high = pair.effect_low, pair.effect_high
    if pair.ahead is not None or low is None or high is None or low <= 0 <= high:
        return None
    better, sooner = (pair.a, pair.b) if low > 0 else (pair.b, pair.a)
    cost_better, cost_sooner = costs.get(better), costs.get(sooner)
    if cost_better is None or cost_sooner is None or not cost_sooner < cost_better:
        return None
    return TradeOff(sooner=sooner, better=better)


def _headline(pairs: Sequence[PairVerdict], alpha: float) -> str:
    """One line: the pairs that differ, or that none does."""
    found = [f"{p.says} (p = {p.p_holm:.2g})" for p in pairs if p.ahead is not None]
    if not found:
        return f"{NOT_DISTINGUISHABLE}: no pair differs at Holm-corrected p < {alpha:g}"
    rest = len(pairs) - len(found)
    tail = {0: "", 1: "; the other pair not distinguishable"}.get(
        rest, f"; the other {rest} pairs not distinguishable"
    )
    return "; ".join(found) + tail
