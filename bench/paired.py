"""Paired comparisons for the benches: two arms over matched runs, tested twice.

A difference ``a - b`` over pairs that share an init and a seed (or a run) is tested by the
paired t-test and the Wilcoxon signed-rank test (``scipy.stats``); it is claimed only when both
give p < ``ALPHA``, after Holm's correction over a family where there is one. The 95% interval
is the paired t's.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from nas.verdict import ALPHA, holm

NOT_DISTINGUISHABLE = "not distinguishable"


def signed(value: float) -> str:
    """A difference in points (0.0091 -> +0.91)."""
    return f"{100 * value:+.2f}"


def p_text(p: float) -> str:
    return f"{p:.2g}"


@dataclass(frozen=True)
class Paired:
    """A paired comparison, a minus b, over matched runs."""

    a: str
    b: str
    unit: str
    differences: list[float]
    p_t: float
    p_w: float
    low: float
    high: float
    p_t_holm: float | None = None
    p_w_holm: float | None = None

    @property
    def n(self) -> int:
        return len(self.differences)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.differences)

    @property
    def smallest_w(self) -> float:
        """The signed-rank test's smallest two-sided p with n pairs: 2 / 2^n."""
        return min(1.0, 2.0 / 2.0**self.n)

    def corrected(self) -> tuple[float, float]:
        return (
            self.p_t if self.p_t_holm is None else self.p_t_holm,
            self.p_w if self.p_w_holm is None else self.p_w_holm,
        )

    def says(self) -> str:
        """A difference only when both tests (Holm-corrected where they are) say so."""
        if max(self.corrected()) >= ALPHA:
            return NOT_DISTINGUISHABLE
        return f"{self.a} {'above' if self.mean > 0 else 'below'} {self.b}"

    def text(self) -> str:
        holm_note = "" if self.p_t_holm is None else ", Holm-corrected"
        p_t, p_w = self.corrected()
        limit = (
            f"; with {self.n} pairs the signed-rank test cannot go below p = "
            f"{p_text(self.smallest_w)}"
            if self.smallest_w >= ALPHA
            else ""
        )
        interval = (
            f"95% interval {signed(self.low)} to {signed(self.high)}"
            if math.isfinite(self.low) and math.isfinite(self.high)
            else "no interval: no spread"
        )
        return (
            f"{self.a} minus {self.b}: {signed(self.mean)} points of test accuracy over "
            f"{self.n} {self.unit} ({interval}; "
            f"paired t p = {p_text(p_t)}, Wilcoxon signed-rank p = {p_text(p_w)}{holm_note}"
            f"{limit}): **{self.says()}**"
        )


def _p(value: float) -> float:
    """A test's p, 1 where it is undefined (no spread: nothing to test)."""
    return float(value) if math.isfinite(value) else 1.0


def paired(a: str, b: str, unit: str, x: Sequence[float], y: Sequence[float]) -> Paired:
    t = stats.ttest_rel(x, y)
    interval = t.confidence_interval(0.95)
    differences = [u - v for u, v in zip(x, y, strict=True)]
    w = stats.wilcoxon(x, y) if any(differences) else None
    return Paired(
        a=a,
        b=b,
        unit=unit,
        differences=differences,
        p_t=_p(t.pvalue),
        p_w=1.0 if w is None else _p(w.pvalue),
        low=float(interval.low),
        high=float(interval.high),
    )


def holm_corrected(family: Sequence[Paired]) -> list[Paired]:
    """``family`` with both tests' p Holm-corrected over it."""
    p_t = holm([c.p_t for c in family])
    p_w = holm([c.p_w for c in family])
    return [
        dataclasses.replace(c, p_t_holm=t, p_w_holm=w)
        for c, t, w in zip(family, p_t, p_w, strict=True)
    ]
