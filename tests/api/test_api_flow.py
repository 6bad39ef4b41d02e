"""The REST API end to end (TestClient, in-process scheduler) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from workers.executors.host import node_name

JOB: dict[str, Any] = {
    "name": "api-test",
    "dataset": {"name": "synthetic", "subset": 200},
    "space": {"strides": [[1], [1, 2], [2], [2]]},
    "strategies": ["grid", "random"],
    "budget": {"unit": "trials", "total": 4, "epochs_per_trial": 1},
    "train": {"batch_size": 100},
    "confirm_seeds": 2,
}


def make_client(url: str, **settings: Any) -> TestClient:
    app = create_app(Settings(database_url=url, **{"executor": "inline", **settings}))
    return TestClient(app)


@pytest.fixture
def client(migrated_url: str) -> Iterator[TestClient]:
    with make_client(migrated_url) as c:
        yield c


def wait_for(
    client: TestClient, job_id: int, states: set[str], timeout: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach {states}: {job.get('state')}")


def test_submit_run_rank_and_delete(client: TestClient, migrated_url: str) -> None:
    response = client.post("/api/v1/jobs", json=JOB)
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["state"] == "queued" and job["leaderboard_url"].endswith(f"/jobs/{job['id']}/trials")

    done = wait_for(client, job["id"], {"completed", "failed"})
    assert done["state"] == "completed", done

    page = client.get(f"/api/v1/jobs/{job['id']}/trials", params={"limit": 10}).json()
    assert page["total"] == 6 and len(page["items"]) == 6  # 4 searched, 2 confirmations
    searched = [t for t in page["items"] if t["strategy"] != "confirm"]
    accuracies = [t["accuracy"] for t in searched]
    assert accuracies == sorted(accuracies, reverse=True)
    assert {t["strategy"] for t in searched} == {"grid", "random"}

    # one trial in full: its row, and the node it ran on (this machine: the inline executor)
    top = searched[0]
    detail = client.get(f"/api/v1/jobs/{job['id']}/trials/{top['id']}").json()
    assert {k: detail[k] for k in top} == top
    assert (detail["node"], detail["device"], detail["epochs"]) == (node_name(), "cpu", 1)
    assert client.get(f"/api/v1/jobs/{job['id']}/trials/{10**6}").status_code == 404
    assert client.get(f"/api/v1/jobs/{10**6}/trials/{top['id']}").status_code == 404

    only_grid = client.get(f"/api/v1/jobs/{job['id']}/trials", params={"strategy": "grid"})
    assert only_grid.json()["total"] == 2

    # the best is the best searched trial, confirmed on 2 other seeds (test split scored)
    best = client.get(f"/api/v1/jobs/{job['id']}/best").json()
    assert best["best"]["accuracy"] == accuracies[0] and best["best"]["strategy"] != "confirm"
    confirms = client.get(
        f"/api/v1/jobs/{job['id']}/trials", params={"strategy": "confirm"}
    ).json()["items"]
    assert len(confirms) == 2 and {t["spec"] for t in confirms} == {best["best"]["spec"]}
    found = best["confirmation"]
    assert (found["trial_id"], found["finished"], found["seeds"]) == (best["best"]["id"], 2, 2)
    assert sorted(found["trials"]) == sorted(t["id"] for t in confirms)
    assert found["val_mean"] == pytest.approx(sum(t["accuracy"] for t in confirms) / 2)
    assert found["search_accuracy"] == accuracies[0]
    assert found["test_mean"] is None  # the synthetic data has no test split

    # the budget use is kept with the job: shown once it ended, by any server
    progress = client.get(f"/api/v1/jobs/{job['id']}/progress").json()
    with make_client(migrated_url, scheduler=False) as other:
        assert other.get(f"/api/v1/jobs/{job['id']}/progress").json() == progress
        board = other.get(f"/api/v1/jobs/{job['id']}/leaderboard").json()
    for key in ("grid", "random"):
        use = progress["budget"][key]
        assert (use["unit"], use["budget"], use["spent"], use["trials"]) == ("trials", 2, 2, 2)
        assert use["stopped"] is not None and progress["budget_used"][key] == 1.0
    assert board["job"]["budget"] == progress["budget"]

    listing = client.get("/api/v1/jobs", params={"state": "completed"}).json()
    assert job["id"] in [j["id"] for j in listing["items"]]

    assert client.post(f"/api/v1/jobs/{job['id']}/cancel").status_code == 409
    assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert client.get(f"/api/v1/jobs/{job['id']}/trials").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategies": ["nope"]}, "strategies[0].name"),
        ({"budget": {"total": 0}}, "budget.total"),
        ({"space": {"strides": [[1], [0]]}}, "space.strides"),
        ({"dataset": {"name": "/etc/passwd"}}, "dataset.name"),
        ({"name": ""}, "name"),
        ({"strategies": "grid"}, "strategies"),
    ],
)
def test_bad_jobs_get_422_naming_the_field_and_store_nothing(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    before = client.get("/api/v1/jobs").json()["total"]
    response = client.post("/api/v1/jobs", json={**JOB, **change})
    assert response.status_code == 422, response.text
    fields = [d["field"] for d in response.json()["detail"]]
    assert any(f.startswith(field) for f in fields), fields
    assert client.get("/api/v1/jobs").json()["total"] == before


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("executor", ["inline", "local"])
def test_gpus_per_trial_without_cuda_or_ray_is_422_naming_the_field(
    migrated_url: str, executor: str
) -> None:
    body = {**JOB, "resources": {"gpus_per_trial": 0.25}}
    with make_client(migrated_url, executor=executor, scheduler=False) as client:
        response = client.post("/api/v1/jobs", json=body)
        assert response.status_code == 422, response.text
        [error] = response.json()["detail"]
        assert error["field"] == "resources.gpus_per_trial"
        assert "no CUDA device" in error["message"] and executor in error["message"]
        assert client.get("/api/v1/jobs").json()["total"] == 0
        cpu_only = {**JOB, "resources": {"gpus_per_trial": 0}}
        assert client.post("/api/v1/jobs", json=cpu_only).status_code == 201
    # the Ray executor takes it: its trials wait for a node with GPUs
    with make_client(migrated_url, executor="ray", scheduler=False) as client:
        assert client.post("/api/v1/jobs", json=body).status_code == 201


def test_malformed_requests_are_4xx_not_500(client: TestClient) -> None:
    assert client.post("/api/v1/jobs", content=b"{not json").status_code == 422
    assert client.get("/api/v1/jobs/abc").status_code == 422
    assert client.get("/api/v1/jobs/999999").status_code == 404
    assert client.get("/api/v1/jobs", params={"limit": 100000}).status_code == 422
    sorted_badly = client.get("/api/v1/jobs/1/trials", params={"sort": "drop table"})
    assert sorted_badly.status_code == 422
    assert client.post("/api/v1/jobs/999999/cancel").status_code == 404
    assert client.delete("/api/v1/jobs/999999").status_code == 404


def test_cancel_stops_a_running_job(migrated_url: str) -> None:
    """Cancel kills the running trial's worker (local executor) and asks for nothing more."""
    long_trials = {
        **JOB,
        "budget": {"unit": "trials", "total": 40, "epochs_per_trial": 50},
        "space": {"strides": [[1, 2], [1, 2], [1, 2], [1, 2]]},
    }
    with make_client(migrated_url, executor="local") as client:
        job = client.post("/api/v1/jobs", json=long_trials).json()
        running = f"/api/v1/jobs/{job['id']}/trials"
        deadline = time.monotonic() + 120
        while not client.get(running, params={"state": "running"}).json()["total"]:
            assert time.monotonic() < deadline, "no trial started"
            time.sleep(0.2)
        response = client.post(f"/api/v1/jobs/{job['id']}/cancel")
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
        deadline = time.monotonic() + 30  # far less than one 50-epoch trial
        trials: dict[str, Any] = {}
        while time.monotonic() < deadline:
            trials = client.get(running, params={"limit": 200}).json()
            if all(t["state"] not in {"running", "queued"} for t in trials["items"]):
                break
            time.sleep(0.3)
        assert all(t["state"] not in {"running", "queued"} for t in trials["items"]), trials
        assert all(t["error"] == "cancelled" for t in trials["items"]), trials
        time.sleep(1.5)
        again = client.get(running, params={"limit": 200}).json()
        assert again["total"] == trials["total"] < 40  # nothing new after the cancel


def test_api_keys_guard_writes(migrated_url: str) -> None:
    with make_client(migrated_url, api_keys="k1,k2") as client:
        assert client.post("/api/v1/jobs", json=JOB).status_code == 401
        wrong = client.post("/api/v1/jobs", json=JOB, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403 and "not recognised" in wrong.json()["detail"]
        ok = client.post("/api/v1/jobs", json=JOB, headers={"Authorization": "Bearer k2"})
        assert ok.status_code == 201
        assert client.get("/api/v1/jobs").status_code == 200  # reads open by default
    with make_client(migrated_url, api_keys="k1", reads_require_key=True) as client:
        assert client.get("/api/v1/jobs").status_code == 401
        authorized = client.get("/api/v1/jobs", headers={"Authorization": "Bearer k1"})
        assert authorized.status_code == 200


def test_health_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["database"] == "ok"
    schema = client.get("/openapi.json").json()
    for path in [
        "/api/v1/jobs",
        "/api/v1/jobs/{job_id}",
        "/api/v1/jobs/{job_id}/trials",
        "/api/v1/jobs/{job_id}/best",
        "/api/v1/jobs/{job_id}/cancel",
        "/healthz",
    ]:
        assert path in schema["paths"], path
    assert "JobSpec" in schema["components"]["schemas"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs/{huge}",
        "/api/v1/jobs/{huge}/trials",
        "/api/v1/jobs/{huge}/best",
        "/api/v1/jobs/{huge}/progress",
        "/api/v1/jobs/{huge}/best/export",
        "/api/v1/jobs/{huge}/leaderboard",
        "/api/v1/jobs/1/trials/{huge}/strides",
        "/api/v1/jobs/1/trials/{huge}",
    ],
)
def test_ids_beyond_the_column_range_are_422_not_500(client: TestClient, path: str) -> None:
    response = client.get(path.format(huge=10**30))
    assert response.status_code == 422, response.text
    assert client.post(f"/api/v1/jobs/{10**30}/cancel").status_code == 422
    assert client.delete(f"/api/v1/jobs/{10**30}").status_code == 422


def test_a_body_over_the_limit_is_413_and_stores_nothing(migrated_url: str) -> None:
    with make_client(migrated_url, max_request_bytes=4096) as client:
        padded = {**JOB, "name": "x" * 200, "train": {"batch_size": 100}}
        big = client.post(
            "/api/v1/jobs",
            content=json.dumps(padded).encode() + b" " * 5000,
            headers={"content-type": "application/json"},
        )
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        assert client.get("/api/v1/jobs").json()["total"] == 0
        assert client.post("/api/v1/jobs", json=JOB).status_code == 201


def test_a_wrong_method_names_every_allowed_one(client: TestClient) -> None:
    response = client.put("/api/v1/jobs/1")
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"GET", "DELETE"}


def test_page_errors_are_pages(client: TestClient) -> None:
    bad = client.get("/", params={"offset": -1})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "offset" in bad.text
    missing = client.get("/jobs/424242")
    assert missing.status_code == 404 and "424242" in missing.text


def test_dataset_paths_cannot_leave_the_data_root(migrated_url: str, tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "mine").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    (root / "link").symlink_to(outside)  # a link inside the root that points out of it
    with make_client(migrated_url, data_root=root) as client:
        for name in ("../secret", "/etc", "link", "mine/../../secret"):
            response = client.post("/api/v1/jobs", json={**JOB, "dataset": {"name": name}})
            assert response.status_code == 422, (name, response.text)
            assert response.json()["detail"][0]["field"] == "dataset.name"
        assert client.get("/api/v1/jobs").json()["total"] == 0
