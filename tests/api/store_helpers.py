"""What the store's tests share: a job spec, trial requests, reports and results, and a job with
trials in every state."""

from __future__ import annotations

from typing import Any

from api.store import JobRepository, SqlTrialStore
from nas.models import preset
from nas.trial import EpochReport, TrialRequest, TrialResult
from tests.fakes import make_job

SPEC = preset("resnet_narrow_fmnist")


def request(strategy: str = "grid", number: int = 0, **params: Any) -> TrialRequest:
    return TrialRequest(spec=SPEC, epochs=2, strategy=strategy, number=number, params=params)


def report(epoch: int, accuracy: float = 0.5, loss: float = 1.0) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        train_loss=loss,
        train_accuracy=accuracy,
        val_loss=loss,
        val_accuracy=accuracy,
        lr=0.1,
        seconds=0.5,
        strides=[None, (1.5, 2.0)],
    )


def result(accuracy: float = 0.8, *, pruned: bool = False, params: int = 1000) -> TrialResult:
    history = [report(1, accuracy / 2), report(2, accuracy)]
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=0.5,
        params=params,
        macs=10 * params,
        wall_seconds=1.5,
        cost_flops=1e9,
        epochs_run=2,
        pruned=pruned,
        learned_strides=[None, (1.5, 2.0)],
        history=history,
    )


def filled_job(repo: JobRepository) -> tuple[int, SqlTrialStore, list[int]]:
    """A job with trials in every state; accuracies 0.5, 0.9, 0.7 (grid) and 0.9 (random)."""
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    ids = []
    outcomes = [
        ("grid", result(0.5, params=300)),
        ("grid", result(0.9, params=100)),
        ("grid", result(0.7, pruned=True, params=200)),
        ("random", result(0.9, params=50)),
        ("random", None),  # failed
        ("random", "running"),
        ("grid", "queued"),
    ]
    for number, (strategy, outcome) in enumerate(outcomes):
        trial = store.add(request(strategy, number))
        ids.append(trial.id)
        if outcome == "queued":
            continue
        store.mark_running(trial.id)
        store.record_progress(trial.id, report(1, 0.1 * number))
        if outcome == "running":
            continue
        store.finish(trial.id, outcome if isinstance(outcome, TrialResult) else None, "x")
    return job.id, store, ids
