"""Two ``nas serve`` processes on one database (PostgreSQL, and one SQLite file).

- Three jobs submitted through either server all complete; each trial runs exactly once
  (one attempt, stored once); both servers ran jobs; every answer (job, trials, leaderboard) is
  the same from either server, the leaderboard of the server that ran nothing included, though
  it cached the jobs mid-run.
- One of the two is killed with SIGKILL mid-job five times at seeded random moments, each time
  restarted or left down for the other to carry on: no finished trial changes, none is stored
  twice, none is lost, and the job completes.

Servers hold job leases of two seconds here, so a dead server's job moves on quickly.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from api.db.models import Trial
from api.db.session import make_engine
from tests.api.test_restart import finished_trials, wait_until
from tests.live_server import LiveServer

TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
LEASE_SECONDS = "2"


def job(name: str, per_strategy: int, epochs: int = 1, subset: int = 200) -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"name": "synthetic", "subset": subset},
        "base": TINY_BASE,
        "space": {"strides": [[1, 2, 3], [1, 2, 3]]},
        "strategies": ["grid", "random"],
        "budget": {"unit": "trials", "total": 2 * per_strategy, "epochs_per_trial": epochs},
        "confirm_seeds": 0,
        "train": {"batch_size": 100, "augment": False},
    }


def two_servers(url: str, tmp_path: Path, **env: str) -> list[LiveServer]:
    settings = {
        "NAS_LEASE_SECONDS": LEASE_SECONDS,
        "NAS_ARTIFACT_DIR": str(tmp_path / "artifacts"),  # shared, as a volume would be
        **env,
    }
    return [LiveServer(url, tmp_path / f"server-{name}.log", env=settings) for name in "ab"]


def trial_rows(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(
                        Trial.id,
                        Trial.job_id,
                        Trial.strategy,
                        Trial.number,
                        Trial.state,
                        Trial.attempts,
                        Trial.takeovers,
                        Trial.free_retries,
                        Trial.accuracy,
                        Trial.worker,
                        Trial.error,
                    ).order_by(Trial.id)
                )
            )
    finally:
        engine.dispose()


def pid_of(worker: str | None) -> int | None:
    """The pid in a ``host:pid:token`` server name."""
    found = re.fullmatch(r".*:(\d+):[0-9a-f]+", worker or "")
    return int(found.group(1)) if found else None


def comparable(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer without what differs by server and means nothing: the server's own address,
    the order of a leaderboard's trial columns (clients merge them by id), and with it the
    codes of the columns sent as indexes into a table of distinct values (``spec`` into
    ``specs``, ``strides`` into ``stride_texts``: numbered by first appearance)."""
    answer = {k: v for k, v in answer.items() if k != "leaderboard_url"}
    columns = answer.get("trials")
    if isinstance(columns, dict) and "specs" in columns:
        tables = {"spec": columns["specs"], "strides": columns["stride_texts"]}
        answer["trials"] = {
            trial: {
                name: tables[name][values[i]] if name in tables else values[i]
                for name, values in columns.items()
                if name not in ("specs", "stride_texts")
            }
            for i, trial in enumerate(columns["id"])
        }
    return answer


def ended(server: LiveServer, job_id: int) -> dict[str, Any] | None:
    body: dict[str, Any] = server.get(f"/api/v1/jobs/{job_id}").json()
    return body if body["state"] in {"completed", "failed", "cancelled"} else None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_servers_share_three_jobs_and_answer_alike(
    backend: str, make_database: Any, tmp_path: Path
) -> None:
    url = make_database(backend)
    # one job at a time each: the third job waits for whichever server frees up first
    a, b = two_servers(url, tmp_path, NAS_MAX_CONCURRENT_JOBS="1")
    a.start()
    b.start()
    try:
        ids = []
        for i, server in enumerate((a, b, a)):
            created = server.post("/api/v1/jobs", json=job(f"job {i}", per_strategy=3))
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        seen: dict[int, int] = {}
        deadline = time.monotonic() + 400
        while not all(ended(a, i) for i in ids):
            assert time.monotonic() < deadline, (a.log(), b.log())
            for job_id in ids:  # warm both servers' leaderboard caches mid-run
                for server in (a, b):
                    board = server.get(f"/api/v1/jobs/{job_id}/leaderboard").json()
                    seen[job_id] = max(seen.get(job_id, 0), board["version"])
            time.sleep(0.3)
        jobs = [ended(b, i) for i in ids]
        assert all(j is not None and j["state"] == "completed" for j in jobs), jobs

        for job_id in ids:
            for path in ("", "/trials?limit=200", "/leaderboard", "/progress", "/best"):
                here = a.get(f"/api/v1/jobs/{job_id}{path}").json()
                there = b.get(f"/api/v1/jobs/{job_id}{path}").json()
                assert comparable(here) == comparable(there), (job_id, path)
            board = b.get(f"/api/v1/jobs/{job_id}/leaderboard").json()
            assert board["version"] >= seen[job_id]
            board_ids = board["trials"]["id"]
            rows = [r for r in trial_rows(url) if r.job_id == job_id]
            assert sorted(board_ids) == [r.id for r in rows]
            done = board["states"].index("completed")
            assert all(s == done for s in board["trials"]["state"])
            accuracy = dict(zip(board_ids, board["trials"]["accuracy"], strict=True))
            assert all(accuracy[r.id] == pytest.approx(r.accuracy) for r in rows)
        servers = {a.process.pid, b.process.pid} if a.process and b.process else set()
    finally:
        a.stop()
        b.stop()

    rows = trial_rows(url)
    keys = [(r.job_id, r.strategy, r.number) for r in rows]
    assert len(keys) == len(set(keys)) == 3 * 6, keys  # nothing stored twice, nothing missing
    assert all(r.state == "completed" and r.attempts == 1 for r in rows), rows  # ran once each
    assert {pid_of(r.worker) for r in rows} == servers  # both servers ran jobs


KILLS = 5


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_one_of_two_servers_killed_five_times_loses_and_repeats_nothing(
    backend: str, make_database: Any, tmp_path: Path
) -> None:
    url = make_database(backend)
    # the kills are the test's, not the trials' doing: a trial may be running at each of them,
    # more often than the default cap on takeovers (tests/api/test_takeovers.py tests the cap)
    servers = two_servers(url, tmp_path, NAS_MAX_TAKEOVERS=str(KILLS + 1))
    for server in servers:
        server.start()
    per_strategy = 8
    try:
        # long enough to be mid-job at every kill (5 x at most 3 s of work between kills)
        long_job = job("kills", per_strategy, epochs=2, subset=1000)
        created = servers[0].post("/api/v1/jobs", json=long_job)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        kept: dict[tuple[str, int], tuple[str, Any, int]] = {}
        draw = random.Random(f"two-servers-{backend}")
        up = set(servers)
        for kill in range(KILLS):
            observer = next(iter(up))
            wait_until(  # mid-job: a trial runs; then a seeded moment later
                lambda s=observer: (
                    s.get(f"/api/v1/jobs/{job_id}").json()["trial_counts"].get("running")
                ),
                120,
                "a running trial",
            )
            time.sleep(draw.uniform(0.2, 3.0))
            holder = pid_of(observer.get(f"/api/v1/jobs/{job_id}").json()["lease_owner"])
            # the server running the job if one does (mid-job), else either
            victim = next((s for s in up if s.process and s.process.pid == holder), None)
            victim = victim or draw.choice(sorted(up, key=lambda s: s.port))
            victim.kill()
            up.discard(victim)
            before = finished_trials(url)
            assert all(kept[key] == before[key] for key in kept), f"kill {kill} changed trials"
            kept = before
            if not up or draw.random() < 0.5:
                victim.start()  # restarted at once; else the other carries on alone
                up.add(victim)
        for server in servers:
            if server not in up:
                server.start()
        alive = servers[0]
        final_job = wait_until(lambda: ended(alive, job_id), 400, "the job to end")
        assert final_job["state"] == "completed", (final_job, [s.log() for s in servers])
    finally:
        for server in servers:
            server.stop()

    final = finished_trials(url)
    for key, value in kept.items():
        assert final[key] == value, f"{key} changed after the kills"
    rows = trial_rows(url)
    keys = [(r.strategy, r.number) for r in rows]
    assert len(keys) == len(set(keys)), "a trial was stored twice"
    expected = [(s, n) for s in ("grid", "random") for n in range(per_strategy)]
    assert sorted(keys) == expected, keys
    assert {r.state for r in rows} == {"completed"}, rows
    # the kills charged no trial: every attempt but its last was a takeover (or a free retry)
    assert all(r.attempts - r.takeovers - r.free_retries == 1 for r in rows), rows
    budget = final_job["budget"]  # kept with the job through every restart
    assert {k: (u["spent"], u["trials"]) for k, u in budget.items()} == {
        "grid": (per_strategy, per_strategy),
        "random": (per_strategy, per_strategy),
    }
