"""A server killed with SIGKILL at random moments of a job, and restarted each time, finishes
the job from the database.

Every trial finished before a crash is kept unchanged (same result, same attempt count: it
did not run again), no (strategy, number) is stored twice, and the job ends with exactly the
trials an uninterrupted run asks for. The kill moments are drawn from a seeded generator, so
they fall mid-trial, between database writes or during start-up, and a failure replays.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.db.models import Trial, TrialDocument
from api.db.session import make_engine
from tests.live_server import LiveServer

KILLS = 3
STRATEGIES = ["grid", "optuna"]
TRIALS_PER_STRATEGY = 3
JOB: dict[str, Any] = {
    "name": "restart-test",
    "dataset": {"name": "synthetic", "subset": 200},
    "space": {"strides": [[1], [1, 2], [1, 2], [2]]},
    "strategies": STRATEGIES,
    "budget": {"unit": "trials", "total": len(STRATEGIES) * TRIALS_PER_STRATEGY},
    "confirm_seeds": 0,
    "train": {"batch_size": 50, "augment": False},
}


def finished_trials(url: str) -> dict[tuple[str, int], tuple[str, Any, int]]:
    """(strategy, number) -> (state, result, attempts) of every finished trial, read from SQL."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    Trial.strategy, Trial.number, Trial.state, TrialDocument.result, Trial.attempts
                ).join_from(Trial, TrialDocument)
            ).all()
    finally:
        engine.dispose()
    return {
        (r.strategy, r.number): (r.state, r.result, r.attempts)
        for r in rows
        if r.state in {"completed", "pruned", "failed"}
    }


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_killed_server_resumes_the_job_without_losing_or_repeating_trials(
    backend: str, make_database: Any, tmp_path: Path
) -> None:
    url = make_database(backend)
    log = tmp_path / "server.log"
    # a restarted server is another owner: it takes the job back once the old lease lapses;
    # the kills are the test's, not the trials' doing: a trial may be running at each of them,
    # as often as the default cap on takeovers (tests/api/test_takeovers.py tests the cap)
    env = {"NAS_LEASE_SECONDS": "2", "NAS_MAX_TAKEOVERS": str(KILLS + 1)}
    server = LiveServer(url, log, env=env).start()
    try:
        created = server.post("/api/v1/jobs", json=JOB)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        kept: dict[tuple[str, int], tuple[str, Any, int]] = {}
        moments = random.Random(f"restart-{backend}")
        for crash in range(KILLS):
            time.sleep(moments.uniform(1.0, 8.0))  # wherever the server is at that moment
            server.kill()
            before = finished_trials(url)
            assert all(kept[key] == before[key] for key in kept), f"crash {crash} changed trials"
            kept = before
            server.start()
        job = wait_until(
            lambda: (
                (j := server.get(f"/api/v1/jobs/{job_id}").json())["state"]
                in {"completed", "failed"}
                and j
            ),
            300,
            "the job to end",
        )
        assert job["state"] == "completed", (job, server.log())
    finally:
        server.stop()

    final = finished_trials(url)
    for key, (state, result, attempts) in kept.items():
        assert final[key] == (state, result, attempts), f"{key} changed after the restarts"
    engine = make_engine(url)
    with engine.connect() as conn:
        keys = conn.execute(sa.select(Trial.strategy, Trial.number)).all()
        states = set(conn.execute(sa.select(Trial.state)).scalars())
        charged = conn.execute(
            sa.select(Trial.strategy, Trial.number, Trial.attempts - Trial.takeovers).where(
                Trial.attempts - Trial.takeovers - Trial.free_retries != 1
            )
        ).all()
    engine.dispose()
    assert charged == [], "the kills charged a trial (each attempt but its last a takeover)"
    assert len(keys) == len(set(keys)), "a trial was stored twice"
    assert sorted(keys) == sorted((s, n) for s in STRATEGIES for n in range(TRIALS_PER_STRATEGY)), (
        keys
    )
    assert states <= {"completed", "pruned"}, states
