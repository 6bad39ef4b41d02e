"""Driving a strategy against a SyntheticObjective without training anything."""

from __future__ import annotations

from nas.strategies.base import RecordState, SearchStrategy, TrialRecord
from nas.trial import TrialResult
from tests.fakes import SyntheticObjective


def pruned_result(full: TrialResult, epochs: int) -> TrialResult:
    """``full`` cut after ``epochs`` epochs and marked pruned (cost scaled accordingly)."""
    history = full.history[:epochs]
    return full.model_copy(
        update={
            "accuracy": history[-1].val_accuracy,
            "best_accuracy": max(h.val_accuracy for h in history),
            "val_loss": history[-1].val_loss,
            "cost_flops": full.cost_flops * epochs / max(full.epochs_run, 1),
            "epochs_run": epochs,
            "history": history,
            "pruned": True,
        }
    )


def drive(
    strategy: SearchStrategy,
    objective: SyntheticObjective,
    max_trials: int,
    *,
    report_epochs: bool = True,
) -> list[TrialRecord]:
    """Ask/evaluate/tell one trial at a time until ``max_trials`` asked or ``ask()`` is None.

    With ``report_epochs`` every epoch is passed to ``strategy.report`` first; if it asks to
    prune, the trial is told a truncated, ``pruned`` result. Returns ``strategy.records``.
    """
    for _ in range(max_trials):
        request = strategy.ask()
        if request is None:
            break
        result = objective.evaluate(request)
        if report_epochs:
            for epoch, report in enumerate(result.history, start=1):
                if strategy.report(request.number, report) and epoch < len(result.history):
                    # report() already appended these epochs; tell() replaces them.
                    result = pruned_result(result, epoch)
                    break
        strategy.tell(request.number, result)
    return strategy.records


def replayed(strategy: SearchStrategy, fresh: SearchStrategy) -> SearchStrategy:
    """``fresh`` rebuilt from ``strategy``'s records, as the scheduler does after a restart."""
    fresh.replay([(r.request, r.result, r.state != RecordState.PENDING) for r in strategy.records])
    return fresh
