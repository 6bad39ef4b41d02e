"""The confirmation phase of a job: its recommendation trained again with other seeds.

A search reports the best accuracy it *saw*, which is the luckiest of many noisy draws. Once
every strategy has stopped, the runner trains the recommended architecture (the most accurate
search trial, ties to the earliest: ``nas.recommend``, as ``/best`` picks it) ``confirm_seeds``
more times, each
with its own seed (data order, init, augmentation) and scored on the test split when the
dataset has one, and reports mean and spread. These trials are stored under the reserved
strategy key ``nas.job.CONFIRM``; they are charged to no strategy's budget.

If the job is extended and the search finds a better architecture, that one is confirmed in
turn: every confirmation trial names the trial it confirms (``params["confirms"]``).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from nas.job import CONFIRM
from nas.recommend import outranks
from nas.trial import TrialRequest
from workers.jobs.ranking import ranked_trial
from workers.jobs.store import StoredTrial

SEED_OFFSET = 10_000
"""Confirmation seed ``i`` is the confirmed trial's seed + ``SEED_OFFSET`` + ``i``: far from the
seeds repeats and strategies use (seed + repeat, repeat < 100)."""


def is_confirmation(trial: StoredTrial) -> bool:
    return trial.strategy == CONFIRM


def confirmed_id(trial: StoredTrial) -> int:
    """The id of the trial a confirmation run confirms (-1 if it names none)."""
    return int(trial.request.params.get("confirms", -1))


def _standing(trial: StoredTrial) -> tuple[float, int] | None:
    """``(accuracy, id)`` of a candidate for the recommendation (a ranked trial), else None."""
    if not ranked_trial(trial) or trial.result is None:
        return None
    return (trial.result.accuracy, trial.id)


def better(candidate: StoredTrial, incumbent: StoredTrial | None) -> bool:
    """Whether ``candidate`` outranks ``incumbent`` as the job's recommendation
    (``nas.recommend.outranks`` among the ranked trials: more accurate on validation, ties to
    the earlier trial, as ``/best``)."""
    found = _standing(candidate)
    if found is None:
        return False
    return outranks(*found, _standing(incumbent) if incumbent is not None else None)


def recommendation(trials: Iterable[StoredTrial]) -> StoredTrial | None:
    """The job's recommendation (``nas.recommend``) among its ranked trials
    (``workers.jobs.ranking.is_ranked``: completed search trials, confirmations excluded)."""
    found: StoredTrial | None = None
    for trial in trials:
        if better(trial, found):
            found = trial
    return found


def confirm_request(target: StoredTrial, index: int, number: int) -> TrialRequest:
    """Confirmation ``index`` of ``target``: its spec, epochs and training options with
    another seed, scored on the test split too; stored as ``CONFIRM`` #``number``."""
    request = target.request
    options = request.options.model_copy(
        update={"seed": request.options.seed + SEED_OFFSET + index, "score_test": True}
    )
    return TrialRequest(
        spec=request.spec,
        epochs=request.epochs,
        options=options,
        strategy=CONFIRM,
        number=number,
        params={"confirms": target.id, "of": target.strategy, "seed_index": index},
    )


@dataclass
class Confirmation:
    """What the runner needs to drive the phase: the trial being confirmed and the
    confirmation trials stored so far (by the trial each confirms)."""

    seeds: int
    target: StoredTrial | None = None
    asked: dict[int, int] = field(default_factory=dict)  # confirmed trial id -> runs asked
    numbers: int = 0  # confirmation trials stored, all targets together
    in_flight: set[int] = field(default_factory=set)  # confirmation trial ids

    def replay(self, trial: StoredTrial) -> None:
        """A stored confirmation trial (a restarted run)."""
        confirmed = confirmed_id(trial)
        self.asked[confirmed] = self.asked.get(confirmed, 0) + 1
        self.numbers = max(self.numbers, trial.number + 1)

    def observe(self, trial: StoredTrial) -> None:
        """A finished search trial: it becomes the target if it outranks the current one."""
        if better(trial, self.target):
            self.target = trial

    def next_request(self) -> TrialRequest | None:
        """The next confirmation to run (the search has ended), or None when the current
        target has all its seeds (or there is nothing to confirm)."""
        if self.target is None or not self.pending:
            return None
        index = self.asked.get(self.target.id, 0)
        self.asked[self.target.id] = index + 1
        self.numbers += 1
        return confirm_request(self.target, index, self.numbers - 1)

    @property
    def pending(self) -> bool:
        """More confirmations of the current target still to ask."""
        return self.target is not None and self.asked.get(self.target.id, 0) < self.seeds


class ConfirmationSummary(BaseModel):
    """The recommendation and what its confirmation runs scored."""

    trial_id: int = Field(description="the confirmed trial (the job's recommendation)")
    strategy: str = Field(description="the strategy that found it")
    spec: str
    search_accuracy: float = Field(description="validation accuracy of the search trial itself")
    seeds: int = Field(description="confirmation runs asked for (confirm_seeds)")
    finished: int = Field(description="confirmation runs that finished with a result")
    failed: int
    trials: list[int] = Field(description="ids of the confirmation trials")
    val_mean: float | None = None
    val_sd: float | None = Field(default=None, description="sample SD over seeds (2+ runs)")
    val_min: float | None = None
    val_max: float | None = None
    test_mean: float | None = Field(
        default=None, description="mean test-split accuracy (None: the data has no test split)"
    )
    test_sd: float | None = None


def _sd(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def summarize(
    target: StoredTrial, confirmations: Iterable[StoredTrial], seeds: int
) -> ConfirmationSummary:
    """Mean and spread of ``target``'s confirmation runs (those that name it)."""
    mine = [t for t in confirmations if confirmed_id(t) == target.id]
    results = [t.result for t in mine if t.result is not None and t.finished]
    failed = sum(1 for t in mine if t.finished and t.result is None)
    val = [r.accuracy for r in results]
    test = [r.test_accuracy for r in results if r.test_accuracy is not None]
    assert target.result is not None
    return ConfirmationSummary(
        trial_id=target.id,
        strategy=target.strategy,
        spec=target.request.spec.to_string(),
        search_accuracy=target.result.accuracy,
        seeds=seeds,
        finished=len(results),
        failed=failed,
        trials=[t.id for t in mine],
        val_mean=statistics.fmean(val) if val else None,
        val_sd=_sd(val),
        val_min=min(val) if val else None,
        val_max=max(val) if val else None,
        test_mean=statistics.fmean(test) if test else None,
        test_sd=_sd(test) if test else None,
    )
