"""The target of a comparison: the accuracy a strategy's recommendation must reach.

Always the best accuracy less a margin of two standard errors, and never less than half a point
(``MIN_MARGIN``):

- an oracle table (``nas.oracle.OracleTable.target``): the best point's mean over its seeds less
  ``max(0.5 points, 2 standard errors of that mean)`` (``table_target``);
- a live job (``live_target``; ``api.live_targets`` adds the trial and the job that set it): the
  best validation accuracy ``p`` of a completed trial less ``max(0.5 points, 2 sqrt(p (1 - p) /
  n_val))``, two standard errors of a binomial accuracy on ``n_val`` validation images (the half
  point alone when ``n_val`` is not known). A validation set too small to tell trials apart
  gets no target, with the reason: when the margin is over ``MAX_MARGIN`` (10 points) or over
  half of ``p`` (the target would be below half the best, or below 0: 30 images and a best of
  10% give 2 standard errors of 11 points).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_MARGIN = 0.005
"""The target sits at least half a point below the best."""
MAX_MARGIN = 0.10
"""A margin above this (10 points) says the validation set cannot tell trials apart: no target."""
RULE = (
    "best validation accuracy of a completed trial minus max(0.5 points, 2 standard errors: "
    "2 * sqrt(p * (1 - p) / n_val))"
)
"""The live rule in words (``api.live_targets.Target.rule``)."""
NO_TRIAL = "no completed trial yet"


def margin_of(standard_error: float) -> float:
    """How far below the best the target sits: two standard errors, at least ``MIN_MARGIN``."""
    return max(MIN_MARGIN, 2 * standard_error)


def mean_standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of ``values`` (0 for one value)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def table_target(values: Sequence[float]) -> float:
    """An oracle table's target from its best point's scores over seeds: their mean less
    ``margin_of`` its standard error."""
    return statistics.fmean(values) - margin_of(mean_standard_error(values))


@dataclass(frozen=True)
class LiveTarget:
    """A live job's target and how it was set."""

    value: float | None
    """The target (None: no completed trial yet, or ``reason``)."""
    best: float | None
    """p: the best validation accuracy of a completed trial."""
    margin: float | None
    reason: str | None = None
    """Why there is no target."""


def live_margin(best: float, n_val: int | None) -> float:
    """The margin below a best accuracy ``best`` measured on ``n_val`` images: two binomial
    standard errors, at least ``MIN_MARGIN`` (``MIN_MARGIN`` alone when ``n_val`` is unknown)."""
    if not n_val:
        return MIN_MARGIN
    p = min(1.0, max(0.0, best))
    return margin_of(math.sqrt(p * (1 - p) / n_val))


def live_target(best: float | None, n_val: int | None) -> LiveTarget:
    """The target below the best accuracy ``best`` measured on ``n_val`` images; none (with
    its ``reason``) before a completed trial, or when the margin is too wide to mean anything."""
    if best is None or not math.isfinite(best):
        return LiveTarget(value=None, best=None, margin=None, reason=NO_TRIAL)
    found = live_margin(best, n_val)
    reason = no_target_reason(best, found, n_val)
    value = best - found if reason is None else None
    return LiveTarget(value=value, best=best, margin=found, reason=reason)


def no_target_reason(best: float, margin: float, n_val: int | None) -> str | None:
    """Why a ``margin`` below the best accuracy ``best`` makes no target, if it does: the
    validation set (``n_val`` images) cannot tell trials apart."""
    images = f"{n_val:,} validation images" if n_val else "the validation set"
    if margin > MAX_MARGIN:
        return (
            f"{images} cannot tell trials apart: 2 standard errors at {100 * best:.2f}% are "
            f"{100 * margin:.1f} points (over {100 * MAX_MARGIN:.0f})"
        )
    if 2 * margin > best:
        return (
            f"the best accuracy, {100 * best:.2f}%, is within its margin on {images} "
            f"({100 * margin:.1f} points): a target would be below half of it"
        )
    return None
