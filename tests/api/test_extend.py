"""More budget for a job (``POST /api/v1/jobs/{id}/extend``) and jobs that start from another
job's trials (``warm_start``), on SQLite and PostgreSQL.

A completed job that is extended continues: its trials are kept as they were (not run again)
and its strategies go on from them (the grid to its next points). A job cancelled mid-trial and
then extended runs the cancelled trial again. A running job that is extended takes the bigger
budget where it runs. A warm-started job replays the known trials of the strategies it shares
with the other job, free of charge, and runs only new ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.scheduler import Scheduler
from api.settings import Settings
from api.store import JobRepository
from nas.job import JobSpec
from workers.executors.interface import Completion, InlineExecutor

TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
JOB: dict[str, Any] = {
    "name": "extend-test",
    "dataset": {"name": "synthetic", "subset": 200},
    "base": TINY_BASE,
    "space": {"strides": [[1, 2], [1, 2, 3]]},  # a grid of 6 points
    "strategies": ["grid", "random"],
    "budget": {"unit": "trials", "total": 4, "epochs_per_trial": 1},
    "confirm_seeds": 0,
    "train": {"batch_size": 100, "augment": False},
}


@pytest.fixture
def client(migrated_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=migrated_url, executor="inline"))
    with TestClient(app) as c:
        yield c


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ended(client: TestClient, job_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["state"] in {"completed", "failed", "cancelled"} else None

    found: dict[str, Any] = wait_for(done, f"job {job_id} to end")
    return found


def trials(client: TestClient, job_id: int) -> list[dict[str, Any]]:
    page = client.get(f"/api/v1/jobs/{job_id}/trials", params={"sort": "id", "order": "asc"})
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_an_extended_job_continues_from_its_trials(client: TestClient) -> None:
    job_id = client.post("/api/v1/jobs", json=JOB).json()["id"]
    assert ended(client, job_id)["state"] == "completed"
    before = trials(client, job_id)
    assert len(before) == 4

    extended = client.post(f"/api/v1/jobs/{job_id}/extend", json={"budget": 6})
    assert extended.status_code == 200, extended.text
    assert extended.json()["spec"]["budget"]["total"] == 10
    assert extended.json()["state"] in {"queued", "running"}
    done = ended(client, job_id)
    assert done["state"] == "completed" and done["finished_at"] is not None
    after = trials(client, job_id)
    assert len(after) == 10 and all(t["state"] == "completed" for t in after)
    assert after[:4] == before  # kept exactly: not run again
    grid = [t["spec"] for t in after if t["strategy"] == "grid"]
    assert len(grid) == 5 and len(set(grid)) == 5  # the grid went on to new points
    assert sorted(t["number"] for t in after if t["strategy"] == "random") == [0, 1, 2, 3, 4]
    budget = done["budget"]
    assert {k: (u["budget"], u["spent"]) for k, u in budget.items()} == {
        "grid": (5, 5),
        "random": (5, 5),
    }


def test_bad_extensions_are_422_naming_the_field(client: TestClient) -> None:
    job_id = client.post("/api/v1/jobs", json=JOB).json()["id"]
    path = f"/api/v1/jobs/{job_id}/extend"
    for body, field in (
        ({"budget": 0}, "budget"),
        ({"budget": -1}, "budget"),
        ({"budget": 1e31}, "budget"),
        ({}, "budget"),
        ({"budget": 1, "extra": 1}, "extra"),
        ({"budget": 1, "max_trials_per_strategy": 0}, "max_trials_per_strategy"),
        ({"budget": 1, "max_trials_per_strategy": 1}, "max_trials_per_strategy"),  # lower
    ):
        response = client.post(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["detail"][0]["field"] == field, (body, response.json())
    assert client.post(path, content=b"{nope").status_code == 422
    assert client.post("/api/v1/jobs/999999/extend", json={"budget": 1}).status_code == 404
    assert client.post(f"/api/v1/jobs/{10**30}/extend", json={"budget": 1}).status_code == 422
    assert client.get(f"/api/v1/jobs/{job_id}").json()["spec"]["budget"]["total"] == 4


# ---- with a scheduler whose trials wait for the test -----------------------------------------


class GatedExecutor(InlineExecutor):
    """Runs nothing until ``gate`` is set (trials stay submitted, i.e. running)."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__()
        self.gate = gate

    def wait(self, timeout: float | None = None) -> list[Completion]:
        if not self.gate.wait(timeout or 0.0):
            return []
        return super().wait(timeout)


def test_a_running_job_takes_an_extension_where_it_runs(
    factory: sessionmaker[Session],
) -> None:
    repo = JobRepository(factory)
    job = repo.create(JobSpec.parse({**JOB, "strategies": ["grid"]}))
    gate = threading.Event()
    scheduler = Scheduler(repo, lambda: GatedExecutor(gate), poll_seconds=0.05)
    scheduler.start()
    try:
        store = repo.trial_store(job.id)
        wait_for(lambda: [t for t in store.trials() if t.state == "running"], "a running trial")
        repo.extend(job.id, 2)  # 4 + 2 trials for the one strategy, while it runs
        gate.set()
        wait_for(lambda: repo.get(job.id).state == "completed", "the job to complete")
    finally:
        scheduler.stop()
    done = store.trials()
    assert len(done) == 6 and all(t.state == "completed" and t.attempts == 1 for t in done)
    assert len({t.request.spec.to_string() for t in done}) == 6


def test_a_cancelled_job_extended_runs_its_cancelled_trials_again(
    factory: sessionmaker[Session],
) -> None:
    repo = JobRepository(factory)
    job = repo.create(JobSpec.parse({**JOB, "strategies": ["grid"]}))
    gate = threading.Event()
    scheduler = Scheduler(repo, lambda: GatedExecutor(gate), poll_seconds=0.05)
    scheduler.start()
    try:
        store = repo.trial_store(job.id)
        [stopped] = wait_for(
            lambda: [t for t in store.trials() if t.state == "running"], "a running trial"
        )
        assert repo.cancel(job.id).state == "cancelled"
        wait_for(lambda: not scheduler.active_jobs, "the scheduler to drop the job")
        assert store.get(stopped.id).error == "cancelled"
        resumed = repo.extend(job.id, 1)
        assert resumed.state == "queued" and resumed.finished_at is None
        assert store.get(stopped.id).state == "queued"  # to run again
        gate.set()
        wait_for(lambda: repo.get(job.id).state == "completed", "the job to complete")
    finally:
        scheduler.stop()
    done = store.trials()
    assert len(done) == 5 and all(t.state == "completed" for t in done)
    assert store.get(stopped.id).attempts == 2  # stopped once, then run to the end
    assert len({t.number for t in done}) == 5


# ---- warm start ----------------------------------------------------------------------------


def test_a_warm_start_replays_the_known_trials_free_and_runs_only_new_ones(
    client: TestClient,
) -> None:
    first = client.post("/api/v1/jobs", json=JOB).json()["id"]
    assert ended(client, first)["state"] == "completed"
    known = trials(client, first)
    warm = {
        **JOB,
        "name": "warm",
        "warm_start": first,
        "strategies": ["grid", "optuna"],  # optuna is new: it starts from nothing
        "budget": {"unit": "trials", "total": 8, "epochs_per_trial": 1},
        "confirm_seeds": 0,
    }
    created = client.post("/api/v1/jobs", json=warm)
    assert created.status_code == 201, created.text
    second = created.json()["id"]
    done = ended(client, second)
    assert done["state"] == "completed"
    mine = trials(client, second)
    copies = [t for t in mine if t["copied_from"] is not None]
    grid_known = [t for t in known if t["strategy"] == "grid"]
    assert [t["copied_from"] for t in copies] == [t["id"] for t in grid_known]
    for copy, source in zip(copies, grid_known, strict=True):
        same = ("strategy", "number", "spec", "accuracy", "n_params", "macs", "cost_flops")
        assert {k: copy[k] for k in same} == {k: source[k] for k in same}
    grid = [t for t in mine if t["strategy"] == "grid"]
    assert len(grid) == 2 + 4  # the 2 known, then 4 new: its share of 8 is free of them
    assert len({t["spec"] for t in grid}) == 6  # no known point trained again
    assert len([t for t in mine if t["strategy"] == "optuna"]) == 4
    budget = done["budget"]
    assert (budget["grid"]["spent"], budget["grid"]["trials"]) == (4, 6)


def test_a_warm_start_copies_a_chained_strategy_with_its_source_and_keeps_its_base(
    client: TestClient,
) -> None:
    chained = {**JOB, "strategies": ["grid", {"name": "random", "label": "after", "from": "grid"}]}
    first = client.post("/api/v1/jobs", json=chained).json()["id"]
    done = ended(client, first)
    assert done["state"] == "completed" and done["spec"]["strategies"][1]["from"] == "grid"
    known = trials(client, first)
    after = [t for t in known if t["strategy"] == "after"]
    assert len(after) == 2 and min(t["id"] for t in after) > max(
        t["id"] for t in known if t["strategy"] == "grid"
    )
    (base_trial,) = {t["params"]["base_trial"] for t in after}
    assert done["budget"]["after"]["base_from"] == f"grid #{base_trial}"
    assert {t["base_from"] for t in after} == {f"grid #{base_trial}"}  # each trial row says so
    assert {t["base_from"] for t in known if t["strategy"] == "grid"} == {None}
    budget = {"unit": "trials", "total": 8, "epochs_per_trial": 1}
    created = client.post(
        "/api/v1/jobs", json={**chained, "name": "warm", "warm_start": first, "budget": budget}
    )
    assert created.status_code == 201, created.text
    second = created.json()["id"]
    assert ended(client, second)["state"] == "completed"
    mine = trials(client, second)
    assert len([t for t in mine if t["copied_from"] is not None]) == len(known)
    assert len([t for t in mine if t["strategy"] == "after"]) == 2 + 4  # copies are free
    # the copies name their base: the chained strategy goes on from it, not from the grid's
    # recommendation now
    assert {t["params"]["base_trial"] for t in mine if t["strategy"] == "after"} == {base_trial}
    lone = client.post(
        "/api/v1/jobs",
        json={
            **chained,
            "name": "lone",
            "warm_start": first,
            "strategies": [chained["strategies"][1], "random"],
        },
    )
    assert lone.status_code == 422 and lone.json()["detail"][0]["field"] == "strategies[0].from"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"warm_start": 999999}, "no job 999999"),
        ({"space": {"strides": [[1, 2], [1, 2]]}}, "another space"),
        ({"dataset": {"name": "synthetic", "subset": 300}}, "another dataset"),
        ({"base": "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c24:head_d0"}, "base"),
        ({"budget": {"unit": "trials", "total": 4, "epochs_per_trial": 2}}, "epochs_per_trial"),
    ],
)
def test_a_warm_start_that_does_not_apply_is_422_and_stores_nothing(
    client: TestClient, change: dict[str, Any], message: str
) -> None:
    first = client.post("/api/v1/jobs", json={**JOB, "budget": {"unit": "trials", "total": 2}})
    first_id = first.json()["id"]
    ended(client, first_id)
    before = client.get("/api/v1/jobs").json()["total"]
    response = client.post("/api/v1/jobs", json={**JOB, "warm_start": first_id, **change})
    assert response.status_code == 422, response.text
    [detail] = response.json()["detail"]
    assert detail["field"] == "warm_start" and message in detail["message"], detail
    assert client.get("/api/v1/jobs").json()["total"] == before


def test_a_warm_start_from_a_running_job_is_refused(factory: sessionmaker[Session]) -> None:
    repo = JobRepository(factory)
    running = repo.create(JobSpec.parse(JOB))
    with pytest.raises(ValueError, match="start from a finished job"):
        repo.create(JobSpec.parse({**JOB, "warm_start": running.id}))


@pytest.mark.parametrize("source_repeats", [1, 2])
def test_a_warm_start_of_a_repeated_job_copies_each_repeat_into_the_same_repeat(
    client: TestClient, source_repeats: int
) -> None:
    """Trials of a repeated job are stored as ``grid/r0``, ``grid/r1``: each repeat's known
    trials go to the same repeat here, and a job run once gives its trials to repeat 0."""
    source = {**JOB, "strategies": ["grid"], "repeats": source_repeats}
    first = client.post("/api/v1/jobs", json=source).json()["id"]
    assert ended(client, first)["state"] == "completed"
    known = trials(client, first)
    warm = {**source, "name": "warm", "warm_start": first, "repeats": 2}
    warm["budget"] = {"unit": "trials", "total": 12, "epochs_per_trial": 1}
    created = client.post("/api/v1/jobs", json=warm)
    assert created.status_code == 201, created.text
    second = created.json()["id"]
    assert ended(client, second)["state"] == "completed"
    copies = [t for t in trials(client, second) if t["copied_from"] is not None]
    by_id = {t["id"]: t for t in known}
    assert len(copies) == len(known) > 0
    for copy in copies:
        was = by_id[copy["copied_from"]]["strategy"]
        assert copy["strategy"] == (was if source_repeats == 2 else "grid/r0")
        assert copy["spec"] == by_id[copy["copied_from"]]["spec"]
    if source_repeats == 2:
        assert {t["strategy"] for t in copies} == {"grid/r0", "grid/r1"}
