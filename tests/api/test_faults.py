"""Faults the service survives: the database unplugged mid-job (503, nothing corrupted, the job
resumes), a worker killed mid-trial (the trial runs again), a trial that raises (failed with its
reason, the job goes on)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from api.app import create_app
from api.db.models import Trial
from api.db.session import make_engine, upgrade_database
from api.settings import Settings
from tests.tcp_proxy import TcpProxy

JOB: dict[str, Any] = {
    "name": "faults",
    "dataset": {"name": "synthetic", "subset": 200},
    "space": {"strides": [[1], [1, 2], [1, 2], [2]]},
    "strategies": ["grid", "random"],
    "budget": {"unit": "trials", "total": 6, "epochs_per_trial": 1},
    "confirm_seeds": 0,
    "train": {"batch_size": 100, "augment": False},
}


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def trial_rows(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(sa.select(Trial.strategy, Trial.number, Trial.state, Trial.error))
            )
    finally:
        engine.dispose()


def test_database_outage_gives_503_and_the_job_resumes(make_database: Any) -> None:
    url = make_database("postgresql")
    upgrade_database(url)
    target = make_url(url)
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        proxied = target.set(port=proxy.port).render_as_string(hide_password=False)
        settings = Settings(database_url=proxied, executor="inline")
        with TestClient(create_app(settings)) as client:
            job = client.post("/api/v1/jobs", json=JOB).json()
            path = f"/api/v1/jobs/{job['id']}"
            wait_for(lambda: client.get(path).json()["trial_counts"].get("completed"), 120, "1")

            proxy.cut()
            down = client.get(path)
            assert down.status_code == 503 and down.headers["retry-after"].isdigit(), down.text
            assert "unreachable" in down.json()["detail"]
            assert client.post("/api/v1/jobs", json=JOB).status_code == 503
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["database"].startswith("unreach")
            time.sleep(3)  # the scheduler meets the outage too, and waits

            proxy.restore()
            done = wait_for(
                lambda: (
                    (j := client.get(path).json()).get("state") in {"completed", "failed"} and j
                ),
                180,
                "the job to end",
            )
            assert done["state"] == "completed", done
            assert client.get("/healthz").json()["scheduler"] == "running"
            total = client.get("/api/v1/jobs").json()["total"]
            assert total == 1  # the POST during the outage stored nothing
    rows = trial_rows(url)
    keys = [(r.strategy, r.number) for r in rows]
    assert len(keys) == len(set(keys)) == 6, keys
    assert {r.state for r in rows} == {"completed"}, rows


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the backend plays no part
def test_a_killed_worker_gets_its_trial_run_again(migrated_url: str) -> None:
    settings = Settings(database_url=migrated_url, executor="local")
    with TestClient(create_app(settings)) as client:
        slow = {**JOB, "budget": {"unit": "trials", "total": 2, "epochs_per_trial": 3}}
        job = client.post("/api/v1/jobs", json=slow).json()
        trials = f"/api/v1/jobs/{job['id']}/trials"
        running = wait_for(
            lambda: client.get(trials, params={"state": "running"}).json()["items"], 120, "a run"
        )
        scheduler = client.app.state.services.scheduler  # type: ignore[attr-defined]
        pid = wait_for(lambda: scheduler._executor.pid(running[0]["id"]), 60, "its worker")
        os.kill(pid, signal.SIGKILL)
        done = wait_for(
            lambda: (
                (j := client.get(f"/api/v1/jobs/{job['id']}").json())["state"]
                in {"completed", "failed"}
                and j
            ),
            240,
            "the job to end",
        )
        assert done["state"] == "completed", done
        page = client.get(trials).json()["items"]
    again = next(t for t in page if t["id"] == running[0]["id"])
    assert again["state"] == "completed" and again["attempts"] == 2, again
    assert all(t["state"] == "completed" for t in page), page


def wait_until_done(client: TestClient, job_id: int) -> dict[str, Any]:
    job: dict[str, Any] = wait_for(
        lambda: (
            (j := client.get(f"/api/v1/jobs/{job_id}").json())["state"] in {"completed", "failed"}
            and j
        ),
        180,
        f"job {job_id} to end",
    )
    return job


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_trial_too_big_for_memory_fails_with_the_reason_and_the_next_job_runs(
    migrated_url: str,
) -> None:
    """Width 120,000 wants a 518 GB convolution: the worker's allocation fails (the scheduler
    only estimates the model, on the meta device); the job ends and the next one runs."""
    huge = {
        **JOB,
        "base": "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c120000:head_d0",
        "space": {"strides": [[1, 2]]},
        "strategies": ["grid"],
    }
    settings = Settings(database_url=migrated_url, executor="local")
    with TestClient(create_app(settings)) as client:
        too_big = client.post("/api/v1/jobs", json=huge).json()
        normal = client.post("/api/v1/jobs", json={**JOB, "strategies": ["grid"]}).json()
        assert wait_until_done(client, too_big["id"])["state"] == "completed"
        assert wait_until_done(client, normal["id"])["state"] == "completed"
        failed = client.get(f"/api/v1/jobs/{too_big['id']}/trials").json()["items"]
        fine = client.get(f"/api/v1/jobs/{normal['id']}/trials").json()["items"]
        logs = [
            client.get(f"/api/v1/jobs/{too_big['id']}/trials/{t['id']}/log").json() for t in failed
        ]
    assert len(failed) == 2 and all(t["state"] == "failed" for t in failed), failed
    assert all("allocate" in (t["error"] or "") for t in failed), [t["error"] for t in failed]
    for log in logs:  # the worker's stderr for the trial: the whole traceback, bounded
        assert "Traceback (most recent call last)" in log["log"], log
        assert "allocate" in log["log"] and len(log["log"].encode()) <= 64 * 1024
    assert all(t["attempts"] == 1 for t in failed)  # an error of the trial: not retried
    assert fine and all(t["state"] == "completed" for t in fine), fine


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: too small for any model's weights (needs root to mount)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_disk_keeps_the_trial_and_export_says_why(
    migrated_url: str, full_disk: Path
) -> None:
    settings = Settings(database_url=migrated_url, executor="local", artifact_dir=full_disk)
    small = {**JOB, "strategies": ["grid"], "budget": {"unit": "trials", "total": 2}}
    with TestClient(create_app(settings)) as client:
        job = client.post("/api/v1/jobs", json=small).json()
        assert wait_until_done(client, job["id"])["state"] == "completed"
        page = client.get(f"/api/v1/jobs/{job['id']}/trials").json()["items"]
        export = client.get(f"/api/v1/jobs/{job['id']}/best/export")
    assert len(page) == 2 and all(t["state"] == "completed" for t in page), [
        t["error"] for t in page
    ]
    assert export.status_code == 404
    assert "could not be saved" in export.json()["detail"]
    assert "No space left on device" in export.json()["detail"], export.json()
