"""Budget accounting (``workers.jobs.budget``): shares, estimates, charges, skips, extension."""

from __future__ import annotations

import math

import pytest

from nas.flops import epoch_flops
from nas.job import Budget
from nas.models import preset
from nas.trial import TrialResult
from workers.jobs.budget import (
    BUDGET_SPENT,
    MAX_CONSECUTIVE_SKIPS,
    SPACE_EXHAUSTED,
    TRIAL_LIMIT,
    JobBudget,
)

BASE = preset("resnet_narrow_fmnist")


def cost(spec: object) -> float:
    return 100.0 if spec is BASE else 40.0


def ledger(**budget: object) -> JobBudget:
    return JobBudget(Budget.model_validate(budget), 2, ["a", "b"], cost, BASE)


def result(cost_flops: float) -> TrialResult:
    return TrialResult(
        accuracy=0.5, best_accuracy=0.5, val_loss=1.0, params=1, macs=1, wall_seconds=0.0,
        cost_flops=cost_flops, epochs_run=0,
    )  # fmt: skip


def test_the_epoch_formula() -> None:
    assert epoch_flops(10, 3, 2) == 3.0 * 10 * 3 + 10 * 2


@pytest.mark.parametrize(
    ("unit", "share", "flops"),
    [("base_epochs", 3 / 2 * 100.0, 150.0), ("flops", 1.5, 1.5), ("trials", 1, math.inf)],
)
def test_the_budget_is_split_evenly(unit: str, share: float, flops: float) -> None:
    budget = ledger(total=3, unit=unit)
    assert budget.share() == share and budget.share_flops == flops
    assert all(a.budget == share for a in budget.accounts.values())


def test_estimates_and_charges() -> None:
    flops, trials = ledger(total=3, epochs_per_trial=2), ledger(total=3, unit="trials")
    assert flops.estimate(preset("resnet_narrow_fmnist")) == 80.0 and trials.estimate(BASE) == 1
    assert flops.charge(result(7.0)) == 7.0 and flops.charge(None) == 0.0
    assert trials.charge(None) == 1.0
    assert flops.charge(result(7.0), copied=True) == trials.charge(None, copied=True) == 0.0


def test_a_strategy_stops_at_its_limit_or_when_its_share_is_committed() -> None:
    budget = ledger(total=2, unit="flops", max_trials_per_strategy=2)
    a = budget.accounts["a"]
    assert budget.can_ask("a") is None
    a.reserve(1, 0.6)
    assert budget.can_ask("a") is None and not a.fits(0.6) and a.fits(0.4)
    a.reserve(2, 0.4)
    assert budget.can_ask("a") == ""  # committed, but a trial is in flight: it waits
    a.settle(1, 0.5)
    a.settle(2, 0.5)
    assert a.spent == 1.0 and budget.can_ask("a") == BUDGET_SPENT
    budget.accounts["b"].trials_asked = 2
    assert budget.can_ask("b") == TRIAL_LIMIT


def test_skips_in_a_row_stop_a_strategy() -> None:
    a = ledger(total=100, unit="flops").accounts["a"]
    assert not any(a.skip() for _ in range(MAX_CONSECUTIVE_SKIPS - 1))
    assert a.skip() and a.trials_done == MAX_CONSECUTIVE_SKIPS


def test_extending_gives_new_shares_and_restarts_the_stopped() -> None:
    budget = ledger(total=2, unit="flops")
    budget.accounts["a"].stop(BUDGET_SPENT, reopens=True)
    budget.accounts["b"].stop(SPACE_EXHAUSTED)
    budget.extend(Budget(total=4, unit="flops"))
    assert budget.budget.total == 4 and budget.accounts["a"].budget == 2
    assert budget.accounts["a"].stopped is None
    assert budget.accounts["b"].stopped == "search space exhausted"
    use = budget.use()
    assert use["a"].budget == 2 and use["b"].fraction == 1.0 and use["a"].unit == "flops"


@pytest.mark.parametrize(
    ("unit", "cost", "left", "reason"),
    [
        # one base epoch is 100 FLOPs here
        ("base_epochs", 105.0, 98.0, "over budget: needs 1.05 base epochs, 0.98 left"),
        ("base_epochs", 100.04, 100.01, "over budget: needs 1.0004 base epochs, 1.0001 left"),
        ("flops", 1.81e12, 1.73e12, "over budget: needs 1.81 TFLOPs, 1.73 TFLOPs left"),
        ("flops", 2.14e11, 9e10, "over budget: needs 214 GFLOPs, 90 GFLOPs left"),
    ],
)
def test_skip_reasons_read_in_the_jobs_unit(
    unit: str, cost: float, left: float, reason: str
) -> None:
    assert ledger(total=3, unit=unit).over_budget(cost, left) == reason


def test_amounts_in_the_jobs_unit() -> None:
    assert ledger(total=3).amount(250.0) == "2.50 base epochs"
    assert ledger(total=3, unit="flops").amount(4.2e9) == "4.2 GFLOPs"
    assert ledger(total=3, unit="trials").amount(1.0) == "1 trial"


def test_a_space_run_out_through_skips_stopped_for_its_budget() -> None:
    budget = ledger(total=100, unit="flops")
    a = budget.accounts["a"]
    a.trials_asked = 18
    assert budget.out_of_proposals("a") == SPACE_EXHAUSTED  # every proposal ran
    for _ in range(16):
        a.skip()
    assert budget.out_of_proposals("a") == "budget: 2 of 18 proposals affordable"


def test_skips_in_a_row_say_how_much_was_left() -> None:
    budget = ledger(total=2, unit="base_epochs")  # a share of 100 FLOPs: 1 base epoch
    a = budget.accounts["a"]
    a.reserve(1, 30.0)
    a.settle(1, 30.0)
    while not a.skip():
        pass
    assert budget.too_many_skips("a") == (
        f"budget: {MAX_CONSECUTIVE_SKIPS} proposals in a row over budget, 0.70 base epochs left"
    )
    a.spent = 100.0
    assert budget.too_many_skips("a") == BUDGET_SPENT
