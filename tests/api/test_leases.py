"""Job leases on SQLite and PostgreSQL: one claimer wins each job, a live lease is kept and an
expired one taken over, every write of a server that lost its lease is refused, cancel and
release; and one server running several jobs at once, sharing its slots by weight."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Job, Trial
from api.db.session import make_engine, session_factory, session_scope
from api.scheduler import Scheduler
from api.store import JobRepository, LeaseLost
from nas.job import JobSpec
from nas.models import preset
from nas.trial import TrialRequest, TrialResult
from tests.api.store_helpers import result as sql_store_result
from workers.executors.interface import InlineExecutor

LEASE = timedelta(minutes=5)
SPEC = preset("resnet_narrow_fmnist")
TINY_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"


def make_job(**overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "name": "lease-test",
        "dataset": {"name": "synthetic", "subset": 200},
        "base": TINY_BASE,
        "space": {"strides": [[1, 2], [1, 2]]},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": 4, "epochs_per_trial": 1},
        "confirm_seeds": 0,
        "train": {"batch_size": 100, "augment": False},
    }
    spec.update(overrides)
    return JobSpec.parse(spec)


def request(number: int = 0) -> TrialRequest:
    return TrialRequest(spec=SPEC, epochs=1, strategy="grid", number=number)


def result() -> TrialResult:
    return sql_store_result(0.5)


def expire(repo: JobRepository, job_id: int) -> None:
    """The owner's lease lapses (as when its server died a lease ago)."""
    with session_scope(repo.factory) as session:
        past = datetime.now(UTC) - timedelta(hours=1)
        session.execute(sa.update(Job).where(Job.id == job_id).values(lease_expires_at=past))


def test_many_concurrent_claimers_one_winner_per_job(
    migrated_url: str, repo: JobRepository
) -> None:
    jobs = [repo.create(make_job(name=f"job {i}")).id for i in range(3)]
    claimers = 12
    barrier = threading.Barrier(claimers)
    won: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def claim(owner: str) -> None:
        engine = make_engine(migrated_url)  # its own connections, as another server has
        try:
            mine = JobRepository(session_factory(engine))
            barrier.wait()
            won[owner] = [j.id for j in mine.claim(owner, LEASE, limit=1)]
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=claim, args=(f"server-{i}",)) for i in range(claimers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    claimed = [job for ids in won.values() for job in ids]
    assert claimed and len(claimed) == len(set(claimed)), won  # no job taken twice
    assert set(claimed) <= set(jobs)
    for owner, ids in won.items():
        for job_id in ids:
            assert repo.get(job_id).lease_owner == owner  # the winner holds it
    # whatever the race left over is claimed once, by whoever asks next
    rest = repo.claim("late", LEASE, limit=10)
    assert sorted([j.id for j in rest] + claimed) == sorted(jobs)
    assert repo.claim("later", LEASE, limit=10) == []


def test_a_live_lease_is_kept_an_expired_one_taken_over_and_the_old_owner_fenced(
    repo: JobRepository,
) -> None:
    job = repo.create(make_job())
    [mine] = repo.claim("a", LEASE)
    assert mine.state == "running" and mine.lease_owner == "a"
    assert mine.lease_expires_at is not None
    old = repo.trial_store(job.id, lease_owner="a")
    first, second = old.add(request(0)), old.add(request(1))
    old.mark_running(first.id)
    old.mark_running(second.id)
    assert repo.claim("b", LEASE) == []  # live: not taken
    assert [j.id for j in repo.claim("a", LEASE)] == [job.id]  # its own: renewed (a restart)

    expire(repo, job.id)
    [taken] = repo.claim("b", LEASE)
    assert taken.id == job.id and taken.state == "running" and taken.lease_owner == "b"
    assert repo.renew("a", [job.id], LEASE) == set()  # a learns it lost the job
    before = {t.id: (t.state, t.attempts) for t in old.trials()}
    for write in (
        lambda: old.add(request(2)),
        lambda: old.mark_running(first.id),
        lambda: old.finish(first.id, result(), None),
        lambda: old.skip(second.id, "over budget"),
        lambda: repo.set_state(job.id, "completed", owner="a"),
    ):
        with pytest.raises(LeaseLost, match="held by b"):
            write()
    assert {t.id: (t.state, t.attempts) for t in old.trials()} == before  # nothing stored
    assert repo.get(job.id).state == "running"

    new = repo.trial_store(job.id, lease_owner="b")
    assert new.requeue_stale(timedelta(0)) == [first.id, second.id]
    new.mark_running(first.id)
    new.finish(first.id, result(), None)
    assert new.get(first.id).state == "completed" and new.get(first.id).attempts == 2
    assert repo.renew("b", [job.id], LEASE) == {job.id}


def test_claims_go_by_priority_then_age(repo: JobRepository) -> None:
    old = repo.create(make_job(name="old")).id
    urgent = repo.create(make_job(name="urgent", priority=5)).id
    newer = repo.create(make_job(name="newer")).id
    assert [j.id for j in repo.claim("a", LEASE)] == [urgent]
    assert [j.id for j in repo.claim("b", LEASE)] == [old]
    assert [j.id for j in repo.claim("c", LEASE, exclude=[newer])] == []
    assert [j.id for j in repo.claim("c", LEASE)] == [newer]


def test_cancel_fails_the_unfinished_trials_and_refuses_the_owners_writes(
    repo: JobRepository,
) -> None:
    job = repo.create(make_job())
    repo.claim("a", LEASE)
    store = repo.trial_store(job.id, lease_owner="a")
    done, running, queued = store.add(request(0)), store.add(request(1)), store.add(request(2))
    store.mark_running(done.id)
    store.finish(done.id, result(), None)
    store.mark_running(running.id)
    cancelled = repo.cancel(job.id)
    assert cancelled.state == "cancelled" and cancelled.lease_owner is None
    states = {t.id: (t.state, t.error) for t in store.trials()}
    assert states == {
        done.id: ("completed", None),
        running.id: ("failed", "cancelled"),
        queued.id: ("failed", "cancelled"),
    }
    with pytest.raises(LeaseLost, match="cancelled"):
        store.add(request(3))
    with pytest.raises(LeaseLost):  # a late result is refused: the trial stays cancelled
        store.finish(running.id, result(), None)
    assert store.get(running.id).state == "failed"
    with pytest.raises(LeaseLost):
        repo.set_state(job.id, "completed", owner="a")


def test_release_requeues_running_trials_and_frees_the_job_at_once(
    repo: JobRepository, factory: sessionmaker[Session]
) -> None:
    job = repo.create(make_job())
    repo.claim("a", LEASE)
    store = repo.trial_store(job.id, lease_owner="a")
    trial = store.add(request(0))
    store.mark_running(trial.id)
    repo.release("a", [job.id])
    assert store.get(trial.id).state == "queued"
    with session_scope(factory) as session:
        assert session.scalar(sa.select(Trial.worker).where(Trial.id == trial.id)) is None
    [taken] = repo.claim("b", LEASE)
    assert taken.id == job.id and taken.state == "running"


# ---- one server, several jobs at once ------------------------------------------------------


def run_jobs(repo: JobRepository, *specs: JobSpec) -> list[int]:
    """Store ``specs``, then run them with one scheduler (inline executor, one slot) until all
    end; the job ids."""
    ids = [repo.create(spec).id for spec in specs]
    scheduler = Scheduler(repo, InlineExecutor, poll_seconds=0.1)
    scheduler.start()
    try:
        deadline = time.monotonic() + 300
        while any(repo.get(i).state in {"queued", "running"} for i in ids):
            assert time.monotonic() < deadline, [repo.get(i).state for i in ids]
            time.sleep(0.2)
    finally:
        scheduler.stop()
    return ids


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the backend plays no part
def test_jobs_run_side_by_side_sharing_one_slot_by_weight(
    repo: JobRepository, factory: sessionmaker[Session]
) -> None:
    heavy = make_job(name="heavy", weight=2, budget={"unit": "trials", "total": 6})
    light = make_job(
        name="light", space={"strides": [[1, 2, 3], [1, 2]]}, budget={"unit": "trials", "total": 6}
    )
    a, b = run_jobs(repo, heavy, light)
    assert repo.get(a).state == repo.get(b).state == "completed"
    with session_scope(factory) as session:
        rows = session.execute(sa.select(Trial.job_id, Trial.state).order_by(Trial.id)).all()
    assert all(state == "completed" for _, state in rows)
    order = "".join("a" if job_id == a else "b" for job_id, _ in rows)
    # two trials of the heavy job for each of the light one, while both have trials to run
    # (the heavy one's grid has 4 points, the light one's 6)
    assert order == "abaaba" + "bbbb", order


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the backend plays no part
def test_a_job_whose_data_is_gone_fails_with_the_reason_once(repo: JobRepository) -> None:
    """Not a lost lease: the job fails (it is not claimed again and again)."""
    job = repo.create(make_job(dataset={"name": "no-such-dataset"}))
    healthy = repo.create(make_job(name="healthy", budget={"unit": "trials", "total": 1}))
    scheduler = Scheduler(repo, InlineExecutor, poll_seconds=0.05)
    scheduler.start()
    try:
        deadline = time.monotonic() + 120
        while repo.get(healthy.id).state != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        scheduler.stop()
    failed = repo.get(job.id)
    assert failed.state == "failed" and failed.lease_owner is None
    assert failed.error is not None and "no-such-dataset" in failed.error
