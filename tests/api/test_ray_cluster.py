"""A server with the Ray executor on a real cluster of several nodes (``tests.ray_cluster``: a
head and workers ``a`` and ``b`` of one CPU each, every node its own ``ray start`` session),
shared by the tests of this module.

- Trials spread over the nodes and each records the node it ran on (the trial's detail, the
  API's and ``nas trial``'s). Node ``a`` is SIGKILLed mid-trial (raylet and workers): its trial
  runs again on another node, a node ``c`` that joins meanwhile receives trials, and the job
  completes with every trial finished exactly once.
- GPUs per trial on CPU machines: a job that reserves 0.5 of a stand-in resource (``fake_gpu``,
  ``NAS_RAY_GPU_RESOURCE``) waits, saying for what, while no node has it; a node that has it
  joins and runs its trials.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

pytest.importorskip("ray")

from api.app import create_app
from api.cli import app as cli
from api.db.session import upgrade_database
from api.settings import Settings
from tests.ray_cluster import RayCluster
from tests.threaded_server import free_port, serve_in_thread

TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"


def job(name: str, strides: list[list[int]], epochs: int, **extra: Any) -> dict[str, Any]:
    """One grid over ``strides`` (a trial per combination) of a tiny network on 200 images."""
    total = 1
    for choices in strides:
        total *= len(choices)
    return {
        "name": name,
        "dataset": {"name": "synthetic", "subset": 200},
        "base": TINY_BASE,
        "space": {"strides": strides},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": total, "epochs_per_trial": epochs},
        "confirm_seeds": 0,
        "keep_weights": "none",
        "train": {"batch_size": 100, "augment": False},
        **extra,
    }


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 240.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


@pytest.fixture(scope="module")
def cluster(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[RayCluster]:
    for name, value in RayCluster.CLIENT_ENV.items():
        monkeypatch_module.setenv(name, value)  # the servers' Ray bridges inherit them
    with RayCluster() as running:
        yield running


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


class Server:
    """A server (uvicorn in a thread, its scheduler on) with the Ray executor on ``cluster``."""

    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str) -> Any:
        answer = httpx.get(f"{self.url}{path}", timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def submit(self, body: dict[str, Any]) -> int:
        answer = httpx.post(f"{self.url}/api/v1/jobs", json=body, timeout=30)
        assert answer.status_code == 201, answer.text
        job_id: int = answer.json()["id"]
        return job_id

    def trials(self, job_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(f"/api/v1/jobs/{job_id}/trials?limit=100")["items"]
        return items

    def ended(self, job_id: int) -> dict[str, Any] | None:
        body: dict[str, Any] = self.get(f"/api/v1/jobs/{job_id}")
        return body if body["state"] in {"completed", "failed", "cancelled"} else None


@contextmanager
def serve(cluster: RayCluster, tmp_path: Path, **settings: Any) -> Iterator[Server]:
    database_url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(database_url)
    config = Settings(
        database_url=database_url,
        executor="ray",
        ray_address=cluster.address,
        artifact_dir=tmp_path / "artifacts",
        port=free_port(),
        **settings,
    )
    with serve_in_thread(create_app(config), port=config.port) as url:
        yield Server(url)


def test_trials_spread_over_nodes_survive_a_killed_node_and_reach_a_new_one(
    cluster: RayCluster, tmp_path: Path
) -> None:
    with serve(cluster, tmp_path) as server:
        # 6 trials of 30 epochs: two run at once (a and b have one CPU each)
        job_id = server.submit(job("cluster", [[1, 2], [1, 2, 3]], epochs=30))

        def two_training() -> list[dict[str, Any]] | None:
            running = [t for t in server.trials(job_id) if t["state"] == "running"]
            epochs = [(t.get("last_epoch") or {}).get("epoch", 0) for t in running]
            return running if len(running) == 2 and all(1 <= e <= 10 for e in epochs) else None

        # each node trains a trial (one CPU each), both a third of the way at most: a is lost
        before = wait_for("two trials training", two_training)
        assert cluster.kill("a") > 0
        cluster.add("c")  # joins while the job runs

        done = wait_for("the job to end", lambda: server.ended(job_id), timeout=420)
        assert done["state"] == "completed", done
        trials = server.trials(job_id)
        details = [server.get(f"/api/v1/jobs/{job_id}/trials/{t['id']}") for t in trials]
        again = [d for d in details if d["attempts"] >= 2]
        # the CLI's trial view names the node too
        shown = CliRunner().invoke(
            cli, ["trial", str(job_id), str(details[0]["id"]), "--server", server.url]
        )

    # every trial finished exactly once (stored once, completed), none lost
    assert sorted(t["number"] for t in trials) == list(range(6)), trials
    assert all(t["state"] == "completed" and t["accuracy"] is not None for t in trials), trials
    nodes = {d["id"]: d["node"] for d in details}
    assert set(nodes.values()) <= {"a", "b", "c"}, nodes
    assert "c" in nodes.values(), f"the node that joined ran nothing: {nodes}"
    # the trial cut on a ran again elsewhere: one of the two that trained at the kill needed a
    # second attempt, and finished on b or c
    interrupted = [d for d in details if d["id"] in {t["id"] for t in before}]
    assert len(again) == 1 and again[0] in interrupted, f"not the one cut: {details}"
    assert all(d["node"] in {"b", "c"} for d in again), again
    assert all(d["device"] == "cpu" and d["epochs"] == 30 for d in details), details
    assert shown.exit_code == 0, shown.output
    assert f"node: {details[0]['node']}" in shown.output
    attempts = details[0]["attempts"]
    assert f"completed after {attempts} attempt{'s' if attempts > 1 else ''}" in shown.output


def test_gpu_trials_wait_for_a_node_that_has_the_gpus_they_reserve(
    cluster: RayCluster, tmp_path: Path
) -> None:
    body = job("gpus", [[1], [1, 2]], epochs=3, resources={"gpus_per_trial": 0.5})
    with serve(cluster, tmp_path, ray_gpu_resource="fake_gpu") as server:
        job_id = server.submit(body)

        def waiting() -> str | None:
            use = (server.get(f"/api/v1/jobs/{job_id}").get("budget") or {}).get("grid") or {}
            notice: str | None = use.get("waiting")
            return notice

        # no node has fake_gpu: the job says what it waits for, and nothing trains on a CPU
        assert wait_for("the job to say it waits", waiting) == "a node with 0.5 fake_gpu"
        time.sleep(2)
        assert all(t["state"] in {"queued", "running"} for t in server.trials(job_id))
        assert all(not t.get("last_epoch") for t in server.trials(job_id))

        cluster.add("gpu", cpus=0, resources={"fake_gpu": 1})
        done = wait_for("the job to end", lambda: server.ended(job_id), timeout=300)
        assert done["state"] == "completed", done
        assert not (done["budget"]["grid"].get("waiting")), done["budget"]
        details = [
            server.get(f"/api/v1/jobs/{job_id}/trials/{t['id']}") for t in server.trials(job_id)
        ]
    assert len(details) == 2
    assert all(d["state"] == "completed" and d["node"] == "gpu" for d in details), details
