"""A strategy's repeated runs as one curve: the median best-so-far with a band.

At each compute where a run's best-so-far (``nas.compare.best_so_far``) changed, the median
over the runs that found something by then, once at least half of them have; the band is
min-max, or the interquartile range from ``IQR_FROM`` runs. The last point is at the most any
run spent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from nas.compare import Step, best_so_far, quantile

Band = Literal["min-max", "iqr"]
IQR_FROM = 5
"""Repeats from which a series' band is the interquartile range instead of min-max."""


def band_of(runs: int) -> Band:
    """The band drawn around the median of ``runs`` runs."""
    return "iqr" if runs >= IQR_FROM else "min-max"


class BandCurve(BaseModel):
    """A series' median best-so-far accuracy against compute (FLOPs), with its band."""

    cost: list[float] = Field(default_factory=list, description="FLOPs spent (per run)")
    accuracy: list[float] = Field(default_factory=list, description="the runs' median")
    low: list[float] = Field(default_factory=list)
    high: list[float] = Field(default_factory=list)


def median_curve(runs: Sequence[Sequence[Step]], band: Band) -> BandCurve:
    """Median (and band) of the runs' best-so-far accuracy at each compute where one changed,
    over the runs that found one by then, once at least half of them had; the last point is at
    the most any run spent."""
    curves = [best_so_far(steps) for steps in runs]
    ends = [sum(s.cost for s in steps) for steps in runs if steps]
    xs = sorted({x for c in curves for x, _ in c} | set(ends))
    need = max((len(runs) + 1) // 2, 1)
    where = [0] * len(curves)
    out = BandCurve()
    for n, x in enumerate(xs):
        values = []
        for k, c in enumerate(curves):
            while where[k] < len(c) and c[where[k]][0] <= x:
                where[k] += 1
            if where[k]:
                values.append(c[where[k] - 1][1])
        if len(values) < need:
            continue
        median = quantile(values, 0.5)
        low, high = (
            (quantile(values, 0.25), quantile(values, 0.75))
            if band == "iqr"
            else (min(values), max(values))
        )
        previous = (out.accuracy[-1], out.low[-1], out.high[-1]) if out.cost else None
        if (median, low, high) == previous and n < len(xs) - 1:
            continue  # unchanged (the last point is always drawn)
        out.cost.append(x)
        out.accuracy.append(median)
        out.low.append(low)
        out.high.append(high)
    return out
