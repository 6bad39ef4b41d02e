"""The SQL storage: the TrialStore contract (memory and SQL alike), the runner over SQL with an
interruption and a resume, and the JobRepository (transitions, pages, sorting, cascade)."""

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
from api.store import JobRepository, SqlTrialStore, insert_trials
from nas.data import ImageData, load
from nas.errors import ConflictError, NasError, NotFoundError
from nas.job import JobSpec
from nas.models import preset
from nas.trial import EpochReport, TrialRequest, TrialResult
from tests.fakes import SyntheticExecutor, SyntheticObjective
from workers.executor import InlineExecutor
from workers.runner import JobRunner, fit_base
from workers.store import MemoryTrialStore, TrialStore

Factory = sessionmaker[Session]
SPEC = preset("resnet_narrow_fmnist")


def make_job(**overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "name": "db-test",
        "dataset": {"name": "synthetic", "subset": 200},
        "space": {"strides": [[1], [1, 2], [1, 2, 3], [1, 2]]},
        "strategies": ["grid", "random", "optuna", "diffstride", "compound"],
        "budget": {"unit": "base_epochs", "total": 400, "epochs_per_trial": 2},
        "seed": 0,
    }
    spec.update(overrides)
    return JobSpec.parse(spec)


def request(strategy: str = "grid", number: int = 0, **params: Any) -> TrialRequest:
    return TrialRequest(spec=SPEC, epochs=2, strategy=strategy, number=number, params=params)


def report(epoch: int, accuracy: float = 0.5, loss: float = 1.0) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        train_loss=loss,
        train_accuracy=accuracy,
        val_loss=loss,
        val_accuracy=accuracy,
        lr=0.1,
        seconds=0.5,
        strides=[None, (1.5, 2.0)],
    )


def result(accuracy: float = 0.8, *, pruned: bool = False, params: int = 1000) -> TrialResult:
    history = [report(1, accuracy / 2), report(2, accuracy)]
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=0.5,
        params=params,
        macs=10 * params,
        wall_seconds=1.5,
        cost_flops=1e9,
        epochs_run=2,
        pruned=pruned,
        learned_strides=[None, (1.5, 2.0)],
        history=history,
    )


@pytest.fixture
def factory(migrated_url: str) -> Iterator[Factory]:
    engine = make_engine(migrated_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def repo(factory: Factory) -> JobRepository:
    return JobRepository(factory)


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


def filled_job(repo: JobRepository) -> tuple[int, SqlTrialStore, list[int]]:
    """A job with trials in every state; accuracies 0.5, 0.9, 0.7 (grid) and 0.9 (random)."""
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    ids = []
    outcomes = [
        ("grid", result(0.5, params=300)),
        ("grid", result(0.9, params=100)),
        ("grid", result(0.7, pruned=True, params=200)),
        ("random", result(0.9, params=50)),
        ("random", None),  # failed
        ("random", "running"),
        ("grid", "queued"),
    ]
    for number, (strategy, outcome) in enumerate(outcomes):
        trial = store.add(request(strategy, number))
        ids.append(trial.id)
        if outcome == "queued":
            continue
        store.mark_running(trial.id)
        store.record_progress(trial.id, report(1, 0.1 * number))
        if outcome == "running":
            continue
        store.finish(trial.id, outcome if isinstance(outcome, TrialResult) else None, "x")
    return job.id, store, ids


def test_db_trials_page_sorts_with_nulls_last(repo: JobRepository) -> None:
    job_id, _, ids = filled_job(repo)
    page, total = repo.trials_page(job_id)
    assert total == 7
    assert [t.id for t in page] == [ids[1], ids[3], ids[2], ids[0], ids[4], ids[5], ids[6]]
    page, _ = repo.trials_page(job_id, descending=False)
    assert [t.id for t in page] == [ids[0], ids[2], ids[1], ids[3], ids[4], ids[5], ids[6]]
    page, _ = repo.trials_page(job_id, sort="n_params", descending=False)
    assert [t.id for t in page][:4] == [ids[3], ids[1], ids[2], ids[0]]
    page, _ = repo.trials_page(job_id, sort="number", offset=2, limit=3)
    assert [t.id for t in page] == [ids[4], ids[3], ids[2]]
    for sort in ("macs", "cost_flops", "wall_seconds", "id", "created_at"):
        page, total = repo.trials_page(job_id, sort=sort)
        assert total == 7 and len(page) == 7
    with pytest.raises(NasError) as caught:
        repo.trials_page(job_id, sort="drop table")
    assert caught.value.field == "sort" and isinstance(caught.value, ValueError)


def test_db_trials_page_filters_and_carries_the_latest_report(repo: JobRepository) -> None:
    job_id, store, ids = filled_job(repo)
    grid, total = repo.trials_page(job_id, strategy="grid")
    assert total == 4 and {t.strategy for t in grid} == {"grid"}
    done, total = repo.trials_page(job_id, strategy="random", state="completed")
    assert total == 1 and done[0].id == ids[3] and done[0].result == result(0.9, params=50)
    running, _ = repo.trials_page(job_id, state="running")
    assert [t.id for t in running] == [ids[5]]
    assert running[0].progress == [report(1, 0.5)]
    assert repo.trials_page(job_id, strategy="nope") == ([], 0)
    store.record_progress(ids[5], report(2, 0.6))
    assert repo.trials_page(job_id, state="running")[0][0].progress == [report(2, 0.6)]
    assert repo.events(ids[5], limit=10) == [report(1, 0.5), report(2, 0.6)]
    assert repo.events(ids[5], limit=1) == [report(2, 0.6)]


def test_db_progress_counts(repo: JobRepository) -> None:
    job_id, _, _ = filled_job(repo)
    progress = repo.progress(job_id)
    assert progress["total"] == 7
    assert progress["states"] == {
        "queued": 1,
        "running": 1,
        "completed": 3,
        "pruned": 1,
        "skipped": 0,
        "failed": 1,
    }
    grid = progress["strategies"]["grid"]
    assert (grid["completed"], grid["pruned"], grid["queued"], grid["total"]) == (2, 1, 1, 4)
    assert progress["strategies"]["random"]["total"] == 3
    assert progress["strategies"]["optuna"]["total"] == 0  # every strategy of the job
    assert repo.get(job_id).trial_counts == {
        "queued": 1,
        "running": 1,
        "completed": 3,
        "pruned": 1,
        "failed": 1,
    }
    with pytest.raises(NotFoundError):
        repo.progress(999)


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


def test_db_pages_and_counts_of_many_trials(repo: JobRepository, factory: Factory) -> None:
    job = repo.create(make_job())
    dumped = request().model_dump(mode="json")
    now = datetime.now(UTC)
    rows = [
        {
            "job_id": job.id,
            "strategy": ("grid", "random")[i % 2],
            "number": i,
            "state": "completed" if i % 5 else "running",
            "request": dumped,
            "spec": SPEC.to_string(),
            "params": {},
            "accuracy": (i * 7919 % 10007) / 10007 if i % 5 else None,
            "attempts": 1,
            "created_at": now,
        }
        for i in range(10_000)
    ]
    with session_scope(factory) as session:
        insert_trials(session, rows)
    page, total = repo.trials_page(job.id, limit=50)
    progress = repo.progress(job.id)
    counts = repo.get(job.id).trial_counts
    listing, _ = repo.list(None, 0, 50)
    assert total == 10_000 and len(page) == 50 and progress["total"] == 10_000
    assert counts == {"completed": 8000, "running": 2000} and listing[0].trial_counts == counts
    accuracies = [t.result for t in page]
    assert len({t.id for t in page}) == 50 and all(a is None for a in accuracies)


def test_db_pareto_front_of_completed_trials(repo: JobRepository) -> None:
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    # (accuracy, params): macs = 10 x params; (0.7, 500) is dominated by (0.8, 400)
    points = [(0.9, 1000), (0.8, 400), (0.7, 500), (0.95, 4000), (0.6, 100)]
    for number, (accuracy, params) in enumerate(points):
        trial = store.add(request(number=number))
        store.mark_running(trial.id)
        store.finish(trial.id, result(accuracy, params=params), None)
    pruned = store.add(request(number=len(points)))
    store.mark_running(pruned.id)
    store.finish(pruned.id, result(0.99, pruned=True, params=50), None)  # pruned: not ranked
    for cost in ("macs", "n_params"):
        front = repo.pareto(job.id, cost)  # type: ignore[arg-type]
        assert [(t.result.accuracy, t.result.params) for t in front if t.result] == [
            (0.6, 100),
            (0.8, 400),
            (0.9, 1000),
            (0.95, 4000),
        ]


def test_db_pareto_front_with_ties_matches_the_definition(
    repo: JobRepository, factory: Factory
) -> None:
    job = repo.create(make_job())
    values = [((i * 7) % 5, (i * 11) % 4) for i in range(60)]  # many identical points
    rows = [
        {
            "job_id": job.id,
            "strategy": "grid",
            "number": i,
            "state": "completed",
            "request": request(number=i).model_dump(mode="json"),
            "spec": SPEC.to_string(),
            "params": {},
            "result": result(a / 10, params=1 + c).model_dump(mode="json"),
            "accuracy": a / 10,
            "n_params": 1 + c,
            "macs": 10 * (1 + c),
            "attempts": 1,
            "created_at": datetime.now(UTC),
        }
        for i, (a, c) in enumerate(values)
    ]
    with session_scope(factory) as session:
        insert_trials(session, rows)
    expected = {
        i
        for i, (a, c) in enumerate(values)
        if not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for a2, c2 in values)
    }
    front = repo.pareto(job.id, "macs")
    assert {t.number for t in front} == expected
    assert [t.result.macs for t in front if t.result] == sorted(
        t.result.macs for t in front if t.result
    )
