"""The best-trial rule: which trial a search recommends.

A search recommends its most accurate trial (the accuracy it *saw*: validation), and of equally
accurate ones the earliest. A missing or non-finite accuracy (a failed or pruned trial, a
diverged loss) is never a candidate. Two forms of the one rule:

- ``improves``, along a sequence in order: a trial takes over from the incumbent only when
  strictly more accurate, so the first of equal ones stays. Best-so-far curves, compute to
  target (``nas.compare``) and the leaderboard's incremental curves (``api.folds``) walk a
  strategy's finished trials in finish order with it.
- ``outranks`` and ``rank_key``, by trial id (trials are numbered as they are asked): the same
  rule in any order of arrival, ties to the lower id. The job's recommendation (``best``: what
  ``/best`` names, its SQL prefilter in ``api.store.queries``, the confirmation runs of
  ``workers.jobs.confirm``, the export, ``nas run`` and the live target's best trial) and the
  ranking (``workers.jobs.ranking``) use it.

Which trials are candidates at all (completed search trials: no confirmation runs) is the
ranking's rule, ``workers.jobs.ranking.is_ranked``; callers pass only those.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def improves(accuracy: float | None, incumbent: float | None) -> bool:
    """Whether a trial that saw ``accuracy`` takes over from the incumbent recommendation that
    saw ``incumbent`` (None: nothing recommended yet), trials taken in order: only when strictly
    more accurate, so of equal ones the first stays."""
    if accuracy is None or not math.isfinite(accuracy):
        return False
    return incumbent is None or accuracy > incumbent


def rank_key(accuracy: float, trial_id: int) -> tuple[float, int]:
    """The ranking's sort key: more accurate first, ties to the lower trial id."""
    return (-accuracy, trial_id)


def outranks(accuracy: float | None, trial_id: int, incumbent: tuple[float, int] | None) -> bool:
    """Whether trial ``trial_id`` (``accuracy``) outranks ``incumbent`` (``(accuracy, id)``;
    None: none yet): more accurate, or as accurate and earlier (a lower id)."""
    if accuracy is None or not math.isfinite(accuracy):
        return False
    return incumbent is None or rank_key(accuracy, trial_id) < rank_key(*incumbent)


def best(candidates: Iterable[tuple[float | None, int]]) -> tuple[float, int] | None:
    """``(accuracy, id)`` of the recommendation among ``candidates`` (``(accuracy, id)`` pairs,
    in any order): the most accurate, ties to the lower id; None when none has an accuracy."""
    found: tuple[float, int] | None = None
    for accuracy, trial_id in candidates:
        if accuracy is not None and outranks(accuracy, trial_id, found):
            found = (accuracy, trial_id)
    return found
