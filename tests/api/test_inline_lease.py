"""The inline executor and several servers, on SQLite and PostgreSQL: while an inline trial
trains in the scheduler's own thread, its job's lease is still renewed (from a small thread),
so a trial longer than the lease is not taken over by another server mid-trial."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from api.db.models import Job
from api.db.session import database_now, session_scope
from api.scheduler import Scheduler
from api.store import JobRepository
from nas.data import load
from nas.job import DatasetRef, JobSpec
from nas.trial import TrialRequest, TrialResult
from tests.fakes import SyntheticObjective
from workers.executors import interface
from workers.executors.interface import InlineExecutor, ProgressCallback
from workers.jobs.runner import fit_base

LEASE = timedelta(seconds=1.5)
TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
JOB = JobSpec.parse(
    {
        "name": "inline-lease",
        "dataset": {"name": "synthetic", "subset": 200},
        "base": TINY_BASE,
        "space": {"strides": [[1], [2]]},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": 1, "epochs_per_trial": 2},
        "confirm_seeds": 0,
    }
)


class SlowTrial:
    """A stand-in for training (``run_trial``) that takes as long as the test says: it reports
    its first epoch, then waits for ``go``; the rest of the result is the objective's."""

    def __init__(self) -> None:
        self.objective = SyntheticObjective(
            base=fit_base(JOB, load("synthetic", subset=200)), target_strides=(1, 2)
        )
        self.training = threading.Event()
        self.go = threading.Event()

    def __call__(
        self, request: TrialRequest, dataset: DatasetRef, on_progress: ProgressCallback
    ) -> TrialResult:
        result = self.objective.evaluate(request)
        first, *rest = result.history
        on_progress(first)
        self.training.set()
        assert self.go.wait(120), "the test never let the trial finish"
        for report in rest:
            on_progress(report)  # fenced writes: refused had the job moved to another server
        return result


def lease_of(repo: JobRepository, job_id: int) -> tuple[str | None, Any, Any]:
    """The job's lease owner and expiry, and the database's time now."""
    with session_scope(repo.factory) as session:
        owner, expires = session.execute(
            sa.select(Job.lease_owner, Job.lease_expires_at).where(Job.id == job_id)
        ).one()
        return owner, expires, database_now(session)


def test_an_inline_trial_longer_than_the_lease_keeps_its_job(
    repo: JobRepository, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowTrial()
    monkeypatch.setattr(interface, "run_trial", slow)
    job_id = repo.create(JOB).id
    scheduler = Scheduler(
        repo, InlineExecutor, owner="a", poll_seconds=0.05, lease_seconds=LEASE.total_seconds()
    )
    scheduler.start()
    try:
        assert slow.training.wait(120), "the trial never started"
        _, first_expiry, _ = lease_of(repo, job_id)
        # the lease the job had when the trial began lapses while the trial still trains
        deadline = time.monotonic() + 60
        while lease_of(repo, job_id)[2] <= first_expiry + LEASE:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert repo.claim("b", LEASE) == []  # another server finds it held: renewed meanwhile
        owner, expiry, _ = lease_of(repo, job_id)
        assert owner == "a" and expiry > first_expiry
        slow.go.set()
        deadline = time.monotonic() + 60
        while repo.get(job_id).state != "completed":
            assert time.monotonic() < deadline, repo.get(job_id).state
            time.sleep(0.05)
    finally:
        slow.go.set()
        scheduler.stop()
    [trial] = repo.trial_store(job_id).trials()
    assert trial.state == "completed"
    assert (trial.attempts, trial.takeovers, trial.free_retries) == (1, 0, 0)
