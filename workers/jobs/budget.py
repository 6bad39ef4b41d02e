"""Budget accounting of one job: the one home of its rules.

A job's budget (``nas.job.Budget``) is split evenly across its strategy runs (the share's one
formula is ``Budget.share``). ``JobBudget`` turns it into each strategy's share in FLOPs (or
trials for the unit ``trials``), estimates what a trial will cost before it runs
(``epoch_cost`` of its spec, from ``nas.flops``, times its epochs), charges what it did cost
once it finished (a warm start's copied trials are free), and keeps one ``Account`` per
strategy: spent, reserved by trials in flight, trials asked and finished, the proposals that
did not fit (in all and in a row), and why the strategy stopped.
The runner asks it before every submission and tells it every outcome; the scheduler compares
the job's stored budget with ``JobBudget.budget`` and hands a changed one to
``JobRunner.extend``.

Its reasons read in the job's unit (``JobBudget.amount``): "over budget: needs 1.05 base
epochs, 0.98 left", "214 GFLOPs" for a budget in FLOPs. A strategy that ran out of proposals
after some were skipped as over budget stopped for its budget, and says so ("budget: 2 of 18
proposals affordable"), not "search space exhausted".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from nas.job import Budget
from nas.spec import ArchSpec
from nas.trial import TrialResult
from workers.jobs.store import BudgetUse
from workers.jobs.units import count, si

OVER_BUDGET = "over budget"
BUDGET_SPENT = "budget spent"
TRIAL_LIMIT = "trial limit reached"
SPACE_EXHAUSTED = "search space exhausted"
MAX_CONSECUTIVE_SKIPS = 25  # a strategy whose next 25 trials do not fit is out of budget


@dataclass
class Account:
    """One strategy's share of the budget and its use of it."""

    budget: float
    spent: float = 0.0
    reserved: dict[int, float] = field(default_factory=dict)  # trial id -> estimated cost
    trials_done: int = 0
    trials_asked: int = 0
    skipped: int = 0  # proposals stored as skipped: over budget, never run
    consecutive_skips: int = 0
    stopped: str | None = None  # why it asks no more
    reopens: bool = False  # it stopped for want of budget or trials: an extension restarts it

    @property
    def committed(self) -> float:
        """Spent plus reserved by the trials in flight."""
        return self.spent + sum(self.reserved.values())

    @property
    def used_share(self) -> float:
        """Committed / budget: the runner gives the next slot to the smallest."""
        return self.committed / self.budget if self.budget > 0 else math.inf

    @property
    def exhausted(self) -> bool:
        """Nothing more fits: everything is spent or reserved."""
        return self.committed >= self.budget

    def remaining(self) -> float:
        return max(0.0, self.budget - self.committed)

    def fits(self, cost: float) -> bool:
        return self.committed + cost <= self.budget

    def reserve(self, trial_id: int, cost: float) -> None:
        """A trial of estimated ``cost`` goes into flight."""
        self.consecutive_skips = 0
        self.reserved[trial_id] = cost

    def skip(self) -> bool:
        """A proposal did not fit (it is stored as skipped); True when the strategy is out of
        budget (nothing left, or too many in a row)."""
        self.trials_done += 1
        self.skipped += 1
        self.consecutive_skips += 1
        return self.consecutive_skips >= MAX_CONSECUTIVE_SKIPS or self.remaining() <= 0

    def stop(self, why: str, *, reopens: bool = False) -> None:
        """It asks no more, because ``why``; ``reopens``: an extension lets it ask again."""
        self.stopped = why
        self.reopens = reopens

    def settle(self, trial_id: int, charge: float) -> None:
        """A trial finished (or failed): its reservation goes, its ``charge`` is spent."""
        self.reserved.pop(trial_id, None)
        self.trials_done += 1
        self.spent += charge

    def use(self, unit: str) -> BudgetUse:
        if self.stopped is not None and not self.reserved:
            fraction = 1.0
        else:
            fraction = min(1.0, self.spent / self.budget) if self.budget > 0 else 0.0
        return BudgetUse(
            unit="trials" if unit == "trials" else "flops",
            budget=self.budget,
            spent=self.spent,
            trials=self.trials_done,
            skipped=self.skipped,
            stopped=self.stopped,
            fraction=fraction,
        )


class JobBudget:
    """The budget of one job across its strategy runs ``keys``."""

    def __init__(
        self,
        budget: Budget,
        strategies: int,
        keys: Iterable[str],
        epoch_cost: Callable[[ArchSpec], float],
        base: ArchSpec,
    ) -> None:
        self.budget = budget
        self._strategies = strategies
        self._epoch_cost = epoch_cost
        self._base = base
        self.accounts = {key: Account(self.share()) for key in keys}

    def share(self) -> float:
        """Each strategy's share of the job budget (``Budget.share``), in FLOPs (or trials for
        unit 'trials')."""
        share = self.budget.share(self._strategies)
        if self.budget.unit == "base_epochs":
            return share * self._epoch_cost(self._base)
        return share

    @property
    def share_flops(self) -> float:
        """The share in FLOPs as strategies see it (``StrategyContext.budget_flops``):
        unbounded when the budget counts trials."""
        return self.share() if self.budget.unit != "trials" else math.inf

    def estimate(self, spec: ArchSpec) -> float:
        """What a trial of ``spec`` will cost, before it runs."""
        if self.budget.unit == "trials":
            return 1.0
        return self._epoch_cost(spec) * self.budget.epochs_per_trial

    def charge(self, result: TrialResult | None, *, copied: bool = False) -> float:
        """What a finished trial cost (``copied``: known from another job, free)."""
        if copied:
            return 0.0
        if self.budget.unit == "trials":
            return 1.0
        return result.cost_flops if result is not None else 0.0

    def amount(self, flops: float) -> str:
        """``flops`` in the job's unit: ``1.05 base epochs``, ``214 GFLOPs``, ``3 trials``."""
        if self.budget.unit == "trials":
            return count(round(flops), "trial")
        if self.budget.unit == "flops":
            return si(flops, "FLOPs")
        return f"{flops / self._epoch_cost(self._base):,.2f} base epochs"

    def over_budget(self, cost: float, left: float) -> str:
        """Why a proposal of estimated ``cost`` was skipped with ``left`` of its share:
        ``over budget: needs 1.05 base epochs, 0.98 left`` (digits enough to tell them apart)."""
        if self.budget.unit != "base_epochs":
            return f"{OVER_BUDGET}: needs {self.amount(cost)}, {self.amount(left)} left"
        base = self._epoch_cost(self._base)
        places = 2
        while places < 6 and f"{cost / base:.{places}f}" == f"{left / base:.{places}f}":
            places += 1
        return (
            f"{OVER_BUDGET}: needs {cost / base:,.{places}f} base epochs, "
            f"{left / base:,.{places}f} left"
        )

    def out_of_proposals(self, key: str) -> str:
        """Why strategy ``key``, with nothing more to ask, stopped: its space ran out, or (some
        of its proposals were over budget) its budget did."""
        account = self.accounts[key]
        if not account.skipped:
            return SPACE_EXHAUSTED
        asked = account.trials_asked
        return f"budget: {asked - account.skipped} of {asked} proposals affordable"

    def too_many_skips(self, key: str) -> str:
        """Why strategy ``key`` stopped after a skipped proposal: nothing left of its share, or
        ``MAX_CONSECUTIVE_SKIPS`` proposals in a row did not fit what is left."""
        account = self.accounts[key]
        if account.remaining() <= 0:
            return BUDGET_SPENT
        return (
            f"budget: {account.consecutive_skips} proposals in a row over budget, "
            f"{self.amount(account.remaining())} left"
        )

    def cheapest_over_budget(self, key: str, cost: float) -> str:
        """Why strategy ``key``, which asks cheapest first, stopped at a skipped proposal of
        estimated ``cost``: no later proposal can fit either."""
        needs = self.over_budget(cost, self.accounts[key].remaining())
        return f"budget: its cheapest proposal left {needs.removeprefix(OVER_BUDGET + ': ')}"

    def can_ask(self, key: str) -> str | None:
        """None when strategy ``key`` may propose a trial now; else why not: the trial limit
        (it stops), or its budget committed (it stops once nothing of it is in flight, else
        ``""``: it waits)."""
        account = self.accounts[key]
        if account.trials_asked >= self.budget.max_trials_per_strategy:
            return TRIAL_LIMIT
        if account.exhausted:
            return BUDGET_SPENT if not account.reserved else ""
        return None

    def extend(self, budget: Budget) -> None:
        """The job's budget changed: new shares, and the strategies that stopped for want of
        budget (or of trials) may ask again."""
        self.budget = budget
        share = self.share()
        for account in self.accounts.values():
            account.budget = share
            if account.stopped is not None and account.reopens:
                account.stopped = None
                account.reopens = False
                account.consecutive_skips = 0

    def use(self) -> dict[str, BudgetUse]:
        """Each strategy's use of its share, now."""
        return {key: a.use(self.budget.unit) for key, a in self.accounts.items()}
