"""A small, realistic database for fuzzing and load tests: one job with finished trials."""

from __future__ import annotations

from api.db.session import make_engine, session_factory
from api.store import JobRepository
from nas.job import JobSpec
from nas.models import preset
from nas.trial import EpochReport, TrialRequest, TrialResult

JOB = {
    "name": "fuzz-seed",
    "dataset": {"name": "synthetic", "subset": 200},
    "space": {"strides": [[1], [1, 2], [1, 2], [1, 2]]},
    "strategies": ["grid", "random", "diffstride"],
    "budget": {"unit": "trials", "total": 30},
    "confirm_seeds": 0,
    "objectives": {"secondary": "macs"},
}


def result(accuracy: float, params: int) -> TrialResult:
    report = EpochReport(
        epoch=1,
        train_loss=1.0,
        train_accuracy=accuracy,
        val_loss=1.0,
        val_accuracy=accuracy,
        lr=0.05,
        seconds=1.0,
        strides=[None, (1.5, 1.5), None, None],
    )
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=1.0,
        params=params,
        macs=params * 20,
        wall_seconds=2.0,
        cost_flops=1e10,
        epochs_run=1,
        learned_strides=report.strides,
        history=[report],
    )


def seed_database(url: str, trials: int = 6) -> int:
    """Create the job and its finished trials (one failed); return the job id."""
    engine = make_engine(url)
    try:
        repo = JobRepository(session_factory(engine))
        job = repo.create(JobSpec.parse(JOB))
        store = repo.trial_store(job.id)
        spec = preset("resnet_narrow_fmnist")
        for number in range(trials):
            strategy = ("grid", "random", "diffstride")[number % 3]
            trial = store.add(TrialRequest(spec=spec, epochs=1, strategy=strategy, number=number))
            store.mark_running(trial.id)
            if number == trials - 1:
                store.finish(trial.id, None, "RuntimeError: <b>boom</b>")
            else:
                store.finish(trial.id, result(0.5 + number / 20, 1000 * (number + 1)), None)
        return job.id
    finally:
        engine.dispose()
