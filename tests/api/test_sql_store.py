"""The SQL storage: the TrialStore contract (memory and SQL alike), the runner over SQL with an
interruption and a resume, and the JobRepository (transitions, listing, cascade); its read
queries are in test_store_queries.py."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Job, Trial, TrialDocument, TrialEvent
from api.db.session import make_engine, session_factory, session_scope, upgrade_database
from api.store import JobRepository, SqlTrialStore
from nas.data import ImageData, load
from nas.errors import ConflictError, NasError, NotFoundError
from nas.trial import TrialResult
from tests.api.store_helpers import filled_job, make_job, report, request, result
from tests.fakes import SyntheticExecutor, SyntheticObjective
from workers.executors.interface import InlineExecutor
from workers.jobs.runner import JobRunner, fit_base
from workers.jobs.store import MemoryTrialStore, TrialStore

Factory = sessionmaker[Session]

# ---- the TrialStore contract: the same tests for the memory store and the SQL store -----------


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, make_database: Callable[[str], str]) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryTrialStore()
        return
    url = make_database(request.param)
    upgrade_database(url)
    engine = make_engine(url)
    repo = JobRepository(session_factory(engine))
    yield repo.trial_store(repo.create(make_job()).id)
    engine.dispose()


def test_db_add_get_and_trials_in_strategy_number_order(store: TrialStore) -> None:
    added = [store.add(request(s, n, x=n)) for s, n in [("b", 1), ("a", 2), ("a", 0), ("b", 0)]]
    assert len({t.id for t in added}) == 4
    for trial in added:
        assert trial.state == "queued" and trial.attempts == 0 and trial.result is None
        assert store.get(trial.id) == trial
    assert [(t.strategy, t.number) for t in store.trials()] == [
        ("a", 0),
        ("a", 2),
        ("b", 0),
        ("b", 1),
    ]
    assert store.trials()[1].request == request("a", 2, x=2)


def test_db_duplicate_add_raises(store: TrialStore) -> None:
    store.add(request("grid", 3))
    with pytest.raises(ValueError, match="already stored"):
        store.add(request("grid", 3))
    store.add(request("random", 3))  # another strategy may use the same number
    assert len(store.trials()) == 2


def test_db_mark_running_counts_attempts_and_restarts_progress(store: TrialStore) -> None:
    trial = store.add(request())
    store.mark_running(trial.id)
    store.record_progress(trial.id, report(1))
    running = store.get(trial.id)
    assert running.state == "running" and running.attempts == 1
    assert running.progress == [report(1)]
    store.mark_running(trial.id)  # a retry: a new attempt with fresh progress
    retried = store.get(trial.id)
    assert retried.attempts == 2 and retried.progress == []


def test_db_progress_is_recorded_in_order(store: TrialStore) -> None:
    trial = store.add(request())
    store.mark_running(trial.id)
    reports = [report(1, 0.3), report(2, 0.6), report(3, 0.7)]
    for r in reports:
        store.record_progress(trial.id, r)
    assert store.get(trial.id).progress == reports


@pytest.mark.parametrize(
    ("outcome", "error", "state"),
    [
        (result(), None, "completed"),
        (result(pruned=True), None, "pruned"),
        (None, "boom", "failed"),
    ],
)
def test_db_finish_states(
    store: TrialStore, outcome: TrialResult | None, error: str | None, state: str
) -> None:
    trial = store.add(request())
    store.mark_running(trial.id)
    store.finish(trial.id, outcome, error)
    done = store.get(trial.id)
    assert done.state == state and done.finished
    assert done.result == outcome and done.error == error


def test_db_finish_is_idempotent(store: TrialStore) -> None:
    trial = store.add(request())
    store.mark_running(trial.id)
    store.finish(trial.id, result(0.9), None)
    store.finish(trial.id, None, "late failure")  # ignored: never overwritten
    store.finish(trial.id, result(0.1), None)
    done = store.get(trial.id)
    assert done.state == "completed" and done.error is None
    assert done.result is not None and done.result.accuracy == 0.9


def test_db_skip_finishes_without_a_result_and_is_final(store: TrialStore) -> None:
    trial = store.add(request())
    store.skip(trial.id, "over budget: needs 2, 1 left")
    store.finish(trial.id, result(0.9), None)  # ignored: a skipped trial is finished
    done = store.get(trial.id)
    assert done.state == "skipped" and done.finished and done.result is None
    assert done.error == "over budget: needs 2, 1 left" and done.attempts == 0


def test_db_unknown_trial_is_a_lookup_error(store: TrialStore) -> None:
    with pytest.raises(LookupError):
        store.get(12345)


# ---- SQL-only behaviour of the trial store ----------------------------------------------------


def test_db_sql_store_keeps_non_finite_metrics(repo: JobRepository) -> None:
    store = repo.trial_store(repo.create(make_job()).id)
    trial = store.add(request())
    store.mark_running(trial.id)
    diverged = report(1, loss=math.nan)
    store.record_progress(trial.id, diverged)
    (kept,) = store.get(trial.id).progress
    assert math.isnan(kept.val_loss) and kept.val_accuracy == 0.5
    bad = result().model_copy(update={"accuracy": math.nan, "val_loss": math.inf})
    store.finish(trial.id, bad, None)
    done = store.get(trial.id).result
    assert done is not None and math.isnan(done.accuracy) and done.val_loss == math.inf
    page, _ = repo.trials_page(trial_job(repo, trial.id))
    assert page[0].id == trial.id  # sorts with the missing accuracies


def trial_job(repo: JobRepository, trial_id: int) -> int:
    with session_scope(repo.factory) as session:
        job_id = session.scalar(sa.select(Trial.job_id).where(Trial.id == trial_id))
    assert job_id is not None
    return job_id


def test_db_trials_of_one_job_only(repo: JobRepository) -> None:
    first = repo.trial_store(repo.create(make_job()).id)
    second = repo.trial_store(repo.create(make_job()).id)
    trial = first.add(request())
    second.add(request())  # the same (strategy, number) in another job is fine
    assert len(first.trials()) == len(second.trials()) == 1
    with pytest.raises(NotFoundError):
        second.get(trial.id)
    with pytest.raises(NotFoundError):
        repo.trial_store(999).add(request())


def test_db_lease_renewals_are_the_trials_heartbeat_and_stale_ones_are_requeued(
    repo: JobRepository, factory: Factory
) -> None:
    job = repo.create(make_job())
    [claimed] = repo.claim("host-a:1:aa", timedelta(minutes=5))
    assert claimed.id == job.id and claimed.state == "running"
    store = repo.trial_store(job.id, lease_owner="host-a:1:aa")
    fresh, stale, done = (store.add(request(number=n)) for n in range(3))
    for trial in (fresh, stale, done):
        store.mark_running(trial.id)
    store.finish(done.id, result(), None)
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    with session_scope(factory) as session:
        session.execute(
            sa.update(Trial)
            .where(Trial.id.in_([fresh.id, stale.id, done.id]))
            .values(heartbeat_at=long_ago)
        )
    assert repo.renew("host-a:1:aa", [job.id], timedelta(minutes=5)) == {job.id}
    with session_scope(factory) as session:
        rows = {t.id: t for t in session.scalars(sa.select(Trial))}
        assert rows[fresh.id].worker == "host-a:1:aa"
        assert rows[fresh.id].heartbeat_at is not None and rows[fresh.id].heartbeat_at > long_ago
        assert rows[done.id].heartbeat_at == long_ago  # only running trials beat
        session.execute(sa.update(Trial).where(Trial.id == stale.id).values(heartbeat_at=long_ago))
    assert store.requeue_stale(timedelta(minutes=5)) == [stale.id]
    assert [store.get(t.id).state for t in (fresh, stale, done)] == [
        "running",
        "queued",
        "completed",
    ]
    assert store.requeue_stale(timedelta(minutes=5)) == []


def test_db_every_change_bumps_the_job_version(repo: JobRepository) -> None:
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    versions = [job.version]
    trial = store.add(request())
    versions.append(repo.get(job.id).version)
    store.mark_running(trial.id)
    versions.append(repo.get(job.id).version)
    store.record_progress(trial.id, report(1))
    versions.append(repo.get(job.id).version)
    store.finish(trial.id, result(), None)
    versions.append(repo.get(job.id).version)
    store.finish(trial.id, result(), None)  # no change, no bump
    versions.append(repo.get(job.id).version)
    versions.append(repo.set_state(job.id, "running").version)
    assert versions == [1, 2, 3, 4, 5, 5, 6]


# ---- the runner over the SQL store: interrupted and resumed ------------------------------------


@pytest.fixture(scope="module")
def data() -> ImageData:
    return load("synthetic", subset=200)


def test_db_runner_resumes_from_the_database(migrated_url: str, data: ImageData) -> None:
    job = make_job()
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = SyntheticObjective(
        base=fit_base(job, data),
        target_strides=(1, 2, 2, 1),
        noise=0.01,
        cost_of_epoch=probe.epoch_cost,
    )
    reference = JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore()).run()

    engine = make_engine(migrated_url)
    job_id = JobRepository(session_factory(engine)).create(job).id
    first = SqlTrialStore(session_factory(engine), job_id)
    with pytest.raises(KeyboardInterrupt):
        JobRunner(job, data, SyntheticExecutor(objective, crash_after=15), first).run()
    finished_before = {t.id: t.result for t in first.trials() if t.finished}
    assert len([r for r in finished_before.values() if r is not None]) == 15
    assert any(not t.finished for t in first.trials())  # some were in flight
    engine.dispose()  # the process is gone

    engine = make_engine(migrated_url)  # a new process: new engine, new store, new runner
    try:
        store = SqlTrialStore(session_factory(engine), job_id)
        resumed = JobRunner(job, data, SyntheticExecutor(objective), store).run()
        assert resumed == store.trials()
    finally:
        engine.dispose()

    def key(t: Any) -> tuple[str, str]:
        return (t.strategy, t.request.model_dump_json())

    assert sorted(map(key, resumed)) == sorted(map(key, reference))
    assert len({(t.strategy, t.number) for t in resumed}) == len(resumed)
    assert all(t.finished for t in resumed)
    for trial in resumed:
        if trial.id in finished_before:
            assert trial.result == finished_before[trial.id]  # kept, not rerun
    reference_results = {key(t): t.result for t in reference}
    assert all(t.result == reference_results[key(t)] for t in resumed)


# ---- JobRepository ----------------------------------------------------------------------------


def test_db_create_get_round_trip(repo: JobRepository) -> None:
    spec = make_job(name="round trip")
    job = repo.create(spec)
    got = repo.get(job.id)
    assert got == job and got.spec == spec
    assert got.state == "queued" and got.version == 1 and got.trial_counts == {}
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset() == timedelta(0)
    with pytest.raises(NotFoundError) as caught:
        repo.get(job.id + 100)
    assert caught.value.field == "job_id"


LEGAL = {
    ("queued", "running"),
    ("queued", "cancelled"),
    ("running", "completed"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "queued"),
}
PATHS = {"queued": [], "running": ["running"], "completed": ["running", "completed"]}
PATHS |= {"failed": ["running", "failed"], "cancelled": ["cancelled"]}


def test_db_job_state_transitions(repo: JobRepository) -> None:
    states = list(PATHS)
    for start in states:
        for target in states:
            job = repo.create(make_job())
            for step in PATHS[start]:
                repo.set_state(job.id, step)
            if (start, target) in LEGAL:
                moved = repo.set_state(job.id, target, error="why" if target == "failed" else None)
                assert moved.state == target and moved.version > job.version
                if target == "failed":
                    assert moved.error == "why"
            else:
                with pytest.raises(ConflictError, match=f"is {start}") as caught:
                    repo.set_state(job.id, target)
                assert caught.value.field == "state"
                assert repo.get(job.id).state == start


def test_db_job_timestamps(repo: JobRepository) -> None:
    job = repo.create(make_job())
    assert job.started_at is None and job.finished_at is None
    running = repo.set_state(job.id, "running")
    assert running.started_at is not None and running.finished_at is None
    requeued = repo.set_state(job.id, "queued")  # a server restart keeps the first start
    assert requeued.started_at == running.started_at
    done = repo.set_state(job.id, "running")
    done = repo.set_state(job.id, "completed")
    assert done.finished_at is not None and done.started_at == running.started_at
    assert done.updated_at >= done.created_at
    with pytest.raises(NotFoundError):
        repo.set_state(999, "running")
    with pytest.raises(NasError, match="unknown job state"):
        repo.set_state(job.id, "paused")


def test_db_list_pages_newest_first(repo: JobRepository) -> None:
    ids = [repo.create(make_job(name=f"job {i}")).id for i in range(5)]
    repo.set_state(ids[1], "cancelled")
    page, total = repo.list(None, 1, 2)
    assert total == 5 and [j.id for j in page] == [ids[3], ids[2]]
    queued, total_queued = repo.list("queued", 0, 10)
    assert total_queued == 4 and [j.id for j in queued] == [ids[4], ids[3], ids[2], ids[0]]
    assert repo.list("completed", 0, 10) == ([], 0)
    assert [j.id for j in repo.runnable()] == [ids[0], ids[2], ids[3], ids[4]]


def test_db_delete_cascades(repo: JobRepository, factory: Factory) -> None:
    job_id, _, _ = filled_job(repo)
    other_id, _, _ = filled_job(repo)
    repo.set_state(job_id, "running")
    with pytest.raises(ConflictError, match="is running"):
        repo.delete(job_id)
    repo.set_state(job_id, "cancelled")
    repo.delete(job_id)
    with pytest.raises(NotFoundError):
        repo.get(job_id)
    with pytest.raises(NotFoundError):
        repo.delete(job_id)
    with session_scope(factory) as session:
        for model in (Trial, TrialEvent):
            left = session.scalar(sa.select(sa.func.count()).select_from(model))
            kept = session.scalar(
                sa.select(sa.func.count()).select_from(model).where(model.job_id == other_id)
            )
            assert left == kept and kept is not None and kept > 0
        # the deleted job's trial documents went with their trials
        documents = session.scalar(sa.select(sa.func.count()).select_from(TrialDocument))
        assert documents == session.scalar(sa.select(sa.func.count()).select_from(Trial))
        assert session.scalar(sa.select(sa.func.count()).select_from(Job)) == 1
