"""The leaderboard and results tests' harness: a TestClient over a migrated database (scheduler
off, trials written through ``SqlTrialStore``), and the specs, reports and results they store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore
from nas.job import JobSpec
from nas.models import preset
from nas.spec import ArchSpec
from nas.trial import EpochReport, TrialRequest, TrialResult

ROOT = Path(__file__).resolve().parents[2]
BASE = preset("resnet_narrow_fmnist")


def diffstride_spec() -> ArchSpec:
    stages = [BASE.stages[0]] + [
        s.model_copy(update={"stride": (2.0, 2.0), "downsample": "diffstride"})
        for s in BASE.stages[1:]
    ]
    return BASE.with_stages(stages)


def report(epoch: int, strides: list[tuple[float, float] | None] | None = None) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        train_loss=1.0,
        train_accuracy=0.5,
        val_loss=1.0,
        val_accuracy=0.5,
        lr=0.1,
        seconds=0.5,
        strides=strides if strides is not None else [None] * 4,
    )


def result(
    accuracy: float, macs: int, cost: float, *, pruned: bool = False, strides: Any = None
) -> TrialResult:
    paths = strides or [[None] * 4, [None] * 4]
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=0.5,
        params=macs // 10,
        macs=macs,
        wall_seconds=1.5,
        cost_flops=cost,
        epochs_run=len(paths),
        pruned=pruned,
        learned_strides=paths[-1],
        history=[report(e + 1, p) for e, p in enumerate(paths)],
    )


def job_spec(**overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "name": "leaderboard-test",
        "dataset": {"name": "synthetic", "subset": 200},
        "space": {"strides": [[1], [1, 2], [1, 2], [1, 2]]},
        "strategies": ["grid", "random", {"name": "diffstride", "label": "ds"}],
        "budget": {"unit": "trials", "total": 30, "epochs_per_trial": 2},
        "confirm_seeds": 0,
    }
    spec.update(overrides)
    return JobSpec.parse(spec)


class Harness:
    """A TestClient over a migrated database and a store per job."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.app = create_app(Settings(database_url=url, **settings), scheduler=False)
        self.client = TestClient(self.app)
        self.repo: JobRepository = self.app.state.services.repo
        self.numbers: dict[tuple[int, str], int] = {}

    def job(self, **overrides: Any) -> tuple[int, SqlTrialStore]:
        job = self.repo.create(job_spec(**overrides))
        return job.id, SqlTrialStore(self.repo.factory, job.id)

    def add(
        self, store: SqlTrialStore, strategy: str = "grid", spec: ArchSpec = BASE, epochs: int = 2
    ) -> int:
        key = (store.job_id, strategy)
        number = self.numbers.get(key, 0)
        self.numbers[key] = number + 1
        request = TrialRequest(spec=spec, epochs=epochs, strategy=strategy, number=number)
        return store.add(request).id

    def board(self, job_id: int, **params: Any) -> dict[str, Any]:
        response = self.client.get(f"/api/v1/jobs/{job_id}/leaderboard", params=params)
        assert response.status_code == 200, response.text
        assert response.headers["server-timing"].startswith("app;dur=")
        body: dict[str, Any] = response.json()
        return body
