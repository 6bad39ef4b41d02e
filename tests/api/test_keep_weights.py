"""keep_weights: dispatched requests name their trial's directory; ``best`` prunes the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.artifacts import Artifacts
from api.db.session import make_engine, session_factory
from api.scheduler import PruningStore, SavingExecutor
from api.store import JobRepository
from nas.job import DatasetRef, JobSpec
from nas.presets import parse_spec
from nas.trial import TrialRequest, TrialResult
from workers.executors.interface import Completion, ProgressCallback

JOB: dict[str, Any] = {
    "name": "weights",
    "dataset": "synthetic",
    "strategies": ["grid"],
    "budget": {"unit": "trials", "total": 4},
    "confirm_seeds": 0,
}
SPEC = parse_spec("resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:head_d0")


def result(accuracy: float) -> TrialResult:
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=1.0,
        params=1,
        macs=1,
        wall_seconds=1.0,
        cost_flops=1.0,
        epochs_run=0,
    )


def saved(artifacts: Artifacts, job_id: int) -> list[int]:
    return sorted(artifacts.saved(job_id))


def test_best_keeps_only_the_best_finished_trial_and_the_running_ones(
    migrated_url: str, tmp_path: Path
) -> None:
    repo = JobRepository(session_factory(make_engine(migrated_url)))
    job = repo.create(JobSpec.parse(JOB))
    artifacts = Artifacts(tmp_path)
    store = PruningStore(repo.trial_store(job.id), repo, artifacts)
    ids = []
    for number in range(4):
        trial = store.add(TrialRequest(spec=SPEC, epochs=1, strategy="grid", number=number))
        store.mark_running(trial.id)
        artifacts.trial_dir(job.id, trial.id).mkdir(parents=True)
        ids.append(trial.id)
    writing = artifacts.job_dir(job.id) / f".trial-{ids[3]}.tmp-abc"  # a save in progress
    writing.mkdir()
    orphan = artifacts.trial_dir(job.id, 999_999)  # a trial this database does not know
    orphan.mkdir()
    a, b, c, d = ids

    store.finish(a, result(0.5), None)
    assert saved(artifacts, job.id) == [a, b, c, d]  # a is the best; b, c, d still run
    assert not orphan.exists()
    store.finish(b, result(0.7), None)
    assert saved(artifacts, job.id) == [b, c, d]  # a was superseded
    store.finish(c, result(0.6), None)
    assert saved(artifacts, job.id) == [b, d]  # c is not better than b
    store.finish(d, None, "worker died")
    assert saved(artifacts, job.id) == [b]
    assert writing.exists()  # never touched: the rename into place is the writer's
    assert store.prune() == []


class Recorder:
    capacity = 2

    def __init__(self) -> None:
        self.requests: list[TrialRequest] = []

    def submit(
        self, trial_id: int, request: TrialRequest, dataset: DatasetRef, on: ProgressCallback
    ) -> None:
        self.requests.append(request)

    def wait(self, timeout: float | None = None) -> list[Completion]:
        return []

    def cancel(self, trial_id: int) -> None:
        pass

    def in_flight(self) -> int:
        return 0


def test_dispatched_requests_name_their_trial_directory(tmp_path: Path) -> None:
    inner = Recorder()
    executor = SavingExecutor(inner, Artifacts(tmp_path / "rel" / ".."), job_id=3)
    request = TrialRequest(spec=SPEC, epochs=1)
    executor.submit(11, request, DatasetRef(name="synthetic"), lambda report: False)
    assert executor.capacity == 2
    assert inner.requests[0].artifact == str(tmp_path.resolve() / "job-3" / "trial-11")
    assert request.artifact is None  # the stored request is unchanged
