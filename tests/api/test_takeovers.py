"""Takeovers do not burn retries, on SQLite and PostgreSQL: a trial that was running on servers
that died (each one's scheduler hangs mid-trial, its lease lapses, another server takes the job
over) keeps its full retries; one that "kills its server" every time is given up after
``max_takeovers`` with the reason; the counts are stored with the trial (every server here is a
new one, and the API reads them back); the store's own rules for counting them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.db.models import Job, Trial
from api.db.session import session_scope
from api.scheduler import Scheduler
from api.settings import Settings
from api.store import JobRepository
from nas.data import load
from nas.errors import ConflictError
from nas.job import DatasetRef, JobSpec
from nas.trial import TrialRequest
from tests.api.store_helpers import request, result
from tests.fakes import SyntheticExecutor, SyntheticObjective
from workers.executors.interface import Completion, ProgressCallback
from workers.jobs.runner import fit_base
from workers.jobs.store import Interruption

LEASE = timedelta(minutes=5)
TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
JOB = JobSpec.parse(
    {
        "name": "takeovers",
        "dataset": {"name": "synthetic", "subset": 200},
        "base": TINY_BASE,
        "space": {"strides": [[1, 2], [1, 2]]},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": 4, "epochs_per_trial": 1},
        "confirm_seeds": 0,
    }
)


@pytest.fixture(scope="module")
def objective() -> SyntheticObjective:
    return SyntheticObjective(
        base=fit_base(JOB, load("synthetic", subset=200)), target_strides=(1, 2)
    )


class ServerExecutor(SyntheticExecutor):
    """One server's executor, one slot, trials evaluated by the objective; on grid #0 it either
    hangs (``hang``: the server died mid-trial, renewing and writing nothing more) or loses its
    worker ``losses`` times first (charged, retryable)."""

    capacity = 1

    def __init__(self, objective: SyntheticObjective, *, hang: bool = False, losses: int = 0):
        super().__init__(objective)
        self.hang = hang
        self.losses = losses
        self.hung = threading.Event()
        self.dead = threading.Event()  # set by the test: the hung wait returns, nothing else
        self.numbers: list[int] = []

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        self.numbers.append(request.number)
        super().submit(trial_id, request, dataset, on_progress)

    def wait(self, timeout: float | None = None) -> list[Completion]:
        if not self.queue or self.dead.is_set():
            return []
        trial_id, req, _ = self.queue[0]
        if req.number == 0 and self.hang:
            self.hung.set()
            self.dead.wait(120)
            return []
        if req.number == 0 and self.losses:
            self.losses -= 1
            self.queue.popleft()
            return [Completion(trial_id, None, "worker died (exit -9)", retryable=True)]
        return super().wait(timeout)


def server(repo: JobRepository, executor: ServerExecutor, name: str, **limits: Any) -> Scheduler:
    scheduler = Scheduler(
        repo,
        lambda: executor,
        owner=name,
        poll_seconds=0.05,
        lease_seconds=LEASE.total_seconds(),
        max_attempts=3,
        **limits,
    )
    scheduler.start()
    return scheduler


def lapse(repo: JobRepository, job_id: int, *, heartbeats: bool) -> None:
    """The dead server's lease lapses; with ``heartbeats``, its trials' heartbeats stopped a
    lease ago too (else it stalled just past its lease after a trial's last heartbeat)."""
    past = datetime.now(UTC) - 2 * LEASE
    with session_scope(repo.factory) as session:
        session.execute(sa.update(Job).where(Job.id == job_id).values(lease_expires_at=past))
        if heartbeats:
            session.execute(
                sa.update(Trial).where(Trial.job_id == job_id).values(heartbeat_at=past)
            )


@pytest.fixture
def servers() -> Iterator[list[tuple[Scheduler, ServerExecutor]]]:
    """The servers a test starts; the dead ones' hung threads are let go and stopped after."""
    started: list[tuple[Scheduler, ServerExecutor]] = []
    yield started
    for scheduler, executor in started:
        executor.dead.set()
        scheduler.stop(timeout=30)
        assert not scheduler.running


def die_mid_trial(
    repo: JobRepository,
    servers: list[tuple[Scheduler, ServerExecutor]],
    objective: SyntheticObjective,
    job_id: int,
    times: int,
    **limits: Any,
) -> None:
    """``times`` servers in turn take the job, start grid #0 and die while it runs."""
    for i in range(times):
        executor = ServerExecutor(objective, hang=True)
        servers.append((server(repo, executor, f"dead-{i}", **limits), executor))
        assert executor.hung.wait(120), f"server {i} never started grid #0"
        lapse(repo, job_id, heartbeats=i % 2 == 0)  # both ways a takeover is found


def finish(repo: JobRepository, job_id: int) -> None:
    deadline = time.monotonic() + 120
    while repo.get(job_id).state in {"queued", "running"}:
        assert time.monotonic() < deadline, repo.get(job_id).state
        time.sleep(0.05)


def grid_0(repo: JobRepository, job_id: int) -> Any:
    return next(t for t in repo.trial_store(job_id).trials() if t.number == 0)


def test_a_trial_taken_over_from_servers_that_died_keeps_its_full_retries(
    repo: JobRepository,
    servers: list[tuple[Scheduler, ServerExecutor]],
    objective: SyntheticObjective,
) -> None:
    job_id = repo.create(JOB).id
    die_mid_trial(repo, servers, objective, job_id, times=2)
    # the next server loses grid #0's worker twice (charged): its 3rd charged attempt finishes
    executor = ServerExecutor(objective, losses=2)
    servers.append((server(repo, executor, "survivor"), executor))
    finish(repo, job_id)
    assert repo.get(job_id).state == "completed"
    trial = grid_0(repo, job_id)
    assert trial.state == "completed", trial.error
    assert (trial.attempts, trial.takeovers, trial.free_retries) == (5, 2, 0)
    assert trial.charged_attempts == 3
    assert executor.numbers.count(0) == 3  # run on the survivor 3 times, never given up


def test_a_trial_that_kills_its_server_every_time_is_given_up_after_max_takeovers(
    repo: JobRepository,
    migrated_url: str,
    servers: list[tuple[Scheduler, ServerExecutor]],
    objective: SyntheticObjective,
) -> None:
    job_id = repo.create(JOB).id
    die_mid_trial(repo, servers, objective, job_id, times=2, max_takeovers=2)
    executor = ServerExecutor(objective)
    servers.append((server(repo, executor, "next", max_takeovers=2), executor))
    finish(repo, job_id)
    assert repo.get(job_id).state == "completed"  # the job goes on without it
    assert 0 not in executor.numbers and sorted(executor.numbers) == [1, 2, 3]
    trial = grid_0(repo, job_id)
    assert trial.state == "failed" and (trial.attempts, trial.takeovers) == (2, 2)
    assert trial.error == (
        "given up: the server running it died 2 times (each time another took the job over); "
        "the trial may be what kills it"
    )
    # the API (another process, reading the database) shows it where it shows attempts
    app = create_app(Settings(database_url=migrated_url), scheduler=False)
    with TestClient(app) as client:
        listed = client.get(f"/api/v1/jobs/{job_id}/trials", params={"state": "failed"})
        assert listed.status_code == 200, listed.text
        [row] = listed.json()["items"]
        assert (row["attempts"], row["takeovers"], row["free_retries"]) == (2, 2, 0)
        why = client.get(f"/api/v1/jobs/{job_id}/trials/{trial.id}/log").json()
        assert (why["attempts"], why["takeovers"]) == (2, 2)
        assert "the trial may be what kills it" in why["error"]


# ---- the store's rules -------------------------------------------------------------------------


def test_db_requeue_counts_a_takeover_only_of_another_servers_attempt(
    repo: JobRepository,
) -> None:
    job = repo.create(JOB)
    repo.claim("a", LEASE)
    a = repo.trial_store(job.id, lease_owner="a")
    first, second = a.add(request(number=0)), a.add(request(number=1))
    a.mark_running(first.id)
    a.mark_running(second.id)
    lapse(repo, job.id, heartbeats=False)
    repo.claim("b", LEASE)
    b = repo.trial_store(job.id, lease_owner="b")
    taken = b.requeue(first.id, Interruption.TAKEOVER)  # a ran it: a died
    assert (taken.state, taken.attempts, taken.takeovers, taken.free_retries) == (
        "queued",
        1,
        1,
        0,
    )
    b.mark_running(first.id)
    again = b.requeue(first.id, Interruption.TAKEOVER)  # b ran it itself: no server died
    assert (again.attempts, again.takeovers, again.free_retries) == (2, 1, 1)
    assert b.requeue(second.id, Interruption.FREE).free_retries == 1
    b.mark_running(second.id)
    b.finish(second.id, result(), None)
    with pytest.raises(ConflictError):
        b.requeue(second.id, Interruption.FREE)
    assert b.get(second.id).charged_attempts == 1


def test_db_a_server_that_lets_go_charges_nothing_and_stale_trials_are_takeovers(
    repo: JobRepository,
) -> None:
    job = repo.create(JOB)
    repo.claim("a", LEASE)
    a = repo.trial_store(job.id, lease_owner="a")
    trial = a.add(request(number=0))
    a.mark_running(trial.id)
    repo.release("a", [job.id])  # a normal stop
    released = a.get(trial.id)
    assert (released.state, released.takeovers, released.free_retries) == ("queued", 0, 1)
    repo.claim("b", LEASE)
    b = repo.trial_store(job.id, lease_owner="b")
    b.mark_running(trial.id)
    lapse(repo, job.id, heartbeats=True)  # b died
    repo.claim("c", LEASE)
    c = repo.trial_store(job.id, lease_owner="c")
    assert c.requeue_stale(LEASE) == [trial.id]
    stale = c.get(trial.id)
    assert (stale.attempts, stale.takeovers, stale.free_retries) == (2, 1, 1)
    assert stale.charged_attempts == 0
