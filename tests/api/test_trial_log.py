"""``GET /api/v1/jobs/{id}/trials/{t}/log`` (why a trial failed: bounded to 64 kB) and the
leaderboard's per-strategy min, max and latest accuracy, on SQLite and PostgreSQL (trials
written through ``SqlTrialStore``, scheduler off)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore
from nas.job import JobSpec
from tests.api.store_helpers import make_job, request, result
from workers.executors.processes import LOG_LIMIT


@pytest.fixture
def client(migrated_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=migrated_url, executor="inline"), scheduler=False)
    with TestClient(app) as c:
        yield c


def repo_of(client: TestClient) -> JobRepository:
    repo: JobRepository = client.app.state.services.repo  # type: ignore[attr-defined]
    return repo


def new_job(client: TestClient, spec: JobSpec | None = None) -> tuple[int, SqlTrialStore]:
    repo = repo_of(client)
    job = repo.create(spec or make_job())
    return job.id, repo.trial_store(job.id)


def test_a_failed_trials_log_is_kept_bounded_and_served(client: TestClient) -> None:
    job_id, store = new_job(client)
    failed = store.add(request(number=0)).id
    store.mark_running(failed)
    noise = "".join(f"noise {i:06d}\n" for i in range(20_000))  # 260 kB
    store.finish(failed, None, "RuntimeError: boom", log=noise + "Traceback ...\nboom at the end")
    done = store.add(request(number=1)).id
    store.mark_running(done)
    store.finish(done, result(0.9), None, log="ignored: only failures keep a log")

    response = client.get(f"/api/v1/jobs/{job_id}/trials/{failed}/log")
    assert response.status_code == 200, response.text
    body = response.json()
    assert {k: body[k] for k in ("job_id", "trial", "strategy", "number", "state")} == {
        "job_id": job_id,
        "trial": failed,
        "strategy": "grid",
        "number": 0,
        "state": "failed",
    }
    assert body["error"] == "RuntimeError: boom" and body["attempts"] == 1
    log = body["log"]
    assert len(log.encode()) <= LOG_LIMIT and log.endswith("boom at the end")
    assert "noise 019999" in log and "noise 000000" not in log

    completed = client.get(f"/api/v1/jobs/{job_id}/trials/{done}/log").json()
    assert completed["state"] == "completed" and completed["log"] is None


def test_the_log_of_an_unknown_or_foreign_trial_is_404(client: TestClient) -> None:
    job_id, _ = new_job(client)
    other_id, other = new_job(client)
    foreign = other.add(request()).id
    assert client.get(f"/api/v1/jobs/{job_id}/trials/{foreign}/log").status_code == 404
    assert client.get(f"/api/v1/jobs/{other_id}/trials/{foreign}/log").status_code == 200
    assert client.get("/api/v1/jobs/999999/trials/1/log").status_code == 404
    assert client.get(f"/api/v1/jobs/{job_id}/trials/{10**30}/log").status_code == 422
    assert client.get(f"/api/v1/jobs/{job_id}/trials/x/log").status_code == 422


def test_the_leaderboard_shows_min_max_and_latest_accuracy_per_strategy(
    client: TestClient,
) -> None:
    job_id, store = new_job(client)
    finished: list[tuple[str, float | None]] = [
        ("grid", 0.7),
        ("random", 0.6),
        ("grid", 0.9),
        ("grid", None),  # failed: not an accuracy
        ("grid", 0.8),
    ]
    numbers: dict[str, int] = {}
    ids = []
    for strategy, accuracy in finished:
        number = numbers.get(strategy, 0)
        numbers[strategy] = number + 1
        trial = store.add(request(strategy, number)).id
        store.mark_running(trial)
        store.finish(trial, result(accuracy) if accuracy else None, None if accuracy else "x")
        ids.append(trial)
    answer: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}/leaderboard").json()
    curves = {c["strategy"]: c for c in answer["best_so_far"]}
    stats = ("completed", "min_accuracy", "max_accuracy", "latest_accuracy", "latest_trial")
    assert {k: curves["grid"][k] for k in stats} == {
        "completed": 3,
        "min_accuracy": 0.7,
        "max_accuracy": 0.9,
        "latest_accuracy": 0.8,
        "latest_trial": ids[4],
    }
    assert curves["grid"]["accuracy"][-1] == curves["grid"]["max_accuracy"]  # the best
    assert {k: curves["random"][k] for k in stats} == {
        "completed": 1,
        "min_accuracy": 0.6,
        "max_accuracy": 0.6,
        "latest_accuracy": 0.6,
        "latest_trial": ids[1],
    }
    assert curves["optuna"]["completed"] == 0 and curves["optuna"]["latest_accuracy"] is None
    # incrementally too: one more grid trial moves min and latest
    version = answer["version"]
    trial = store.add(request("grid", numbers["grid"])).id
    store.mark_running(trial)
    store.finish(trial, result(0.5), None)
    later = client.get(f"/api/v1/jobs/{job_id}/leaderboard", params={"since": version}).json()
    grid = next(c for c in later["best_so_far"] if c["strategy"] == "grid")
    assert (grid["min_accuracy"], grid["latest_accuracy"], grid["latest_trial"]) == (
        0.5,
        0.5,
        trial,
    )
