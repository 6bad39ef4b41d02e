"""Several jobs on one executor (``workers.jobs.pool.JobPool``): weighted fair slots, priorities, a
job with nothing to run giving its slots away, completions routed to their own job, a broken job
taken out alone. A scripted executor decides which trial completes when, so nothing here
depends on timing."""

from __future__ import annotations

from typing import Any

import pytest

from nas.data import load
from nas.job import DatasetRef, JobSpec
from nas.trial import TrialRequest
from tests.fakes import SyntheticObjective
from workers.executors.interface import Completion, ProgressCallback
from workers.jobs.pool import JobPool
from workers.jobs.runner import JobRunner, fit_base
from workers.jobs.store import MemoryTrialStore, StoredTrial, TrialState


class ScriptedExecutor:
    """Holds every submitted trial until ``wait`` completes one: the oldest, or the one named
    by ``next_done``. Results come from a known objective."""

    def __init__(self, capacity: int, objective: SyntheticObjective) -> None:
        self.capacity = capacity
        self.objective = objective
        self.running: dict[int, TrialRequest] = {}
        self.submitted: list[int] = []
        self.next_done: int | None = None

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        self.running[trial_id] = request
        self.submitted.append(trial_id)

    def in_flight(self) -> int:
        return len(self.running)

    def cancel(self, trial_id: int) -> None:
        self.running.pop(trial_id, None)

    def wait(self, timeout: float | None = None) -> list[Completion]:
        if not self.running:
            return []
        trial_id = self.next_done if self.next_done is not None else next(iter(self.running))
        self.next_done = None
        request = self.running.pop(trial_id)
        return [Completion(trial_id, self.objective.evaluate(request))]


def make_job(**overrides: Any) -> JobSpec:
    spec: dict[str, Any] = {
        "name": "pool",
        "dataset": {"name": "synthetic", "subset": 200},
        "space": {"strides": [[1], [1, 2], [1, 2, 3], [1, 2]]},
        "strategies": ["random"],
        "budget": {"unit": "trials", "total": 12, "epochs_per_trial": 1},
        "confirm_seeds": 0,
    }
    spec.update(overrides)
    return JobSpec.parse(spec)


@pytest.fixture(scope="module")
def data() -> Any:
    return load("synthetic", subset=200)


def executor_for(data: Any, capacity: int) -> ScriptedExecutor:
    base = fit_base(make_job(), data)
    return ScriptedExecutor(capacity, SyntheticObjective(base=base, target_strides=(1, 2, 2, 1)))


def runner(job: JobSpec, data: Any, executor: ScriptedExecutor, first_id: int) -> JobRunner:
    return JobRunner(job, data, executor, MemoryTrialStore(first_id=first_id))


def owner_of(trial_id: int) -> str:
    return "a" if trial_id < 1000 else "b"


def in_flight(executor: ScriptedExecutor) -> dict[str, int]:
    counts = {"a": 0, "b": 0}
    for trial_id in executor.running:
        counts[owner_of(trial_id)] += 1
    return counts


def run_to_end(pool: JobPool, limit: int = 1000) -> None:
    for _ in range(limit):
        pool.fill()
        if pool.executor.in_flight() == 0:
            return
        pool.wait()
    raise AssertionError("the pool did not finish")


def test_slots_follow_the_weights(data: Any) -> None:
    executor = executor_for(data, capacity=4)
    pool = JobPool[str](executor)
    pool.add("a", runner(make_job(), data, executor, 1), weight=1)
    pool.add("b", runner(make_job(), data, executor, 1000), weight=3)
    pool.fill()
    assert in_flight(executor) == {"a": 1, "b": 3}
    executor.next_done = next(i for i in executor.running if owner_of(i) == "b")
    pool.wait()
    pool.fill()
    assert in_flight(executor) == {"a": 1, "b": 3}  # the freed slot went back to b
    executor.next_done = next(i for i in executor.running if owner_of(i) == "a")
    pool.wait()
    pool.fill()
    assert in_flight(executor) == {"a": 1, "b": 3}


def test_one_slot_is_shared_in_turn_by_weight(data: Any) -> None:
    executor = executor_for(data, capacity=1)
    pool = JobPool[str](executor)
    pool.add("a", runner(make_job(), data, executor, 1), weight=2)
    pool.add("b", runner(make_job(), data, executor, 1000), weight=1)
    for _ in range(9):
        pool.fill()
        pool.wait()
    turns = "".join(owner_of(i) for i in executor.submitted[:9])
    assert turns.count("a") == 6 and turns.count("b") == 3, turns
    assert "bb" not in turns and "aaa" not in turns, turns


def test_a_job_that_joins_late_shares_from_then_on(data: Any) -> None:
    executor = executor_for(data, capacity=1)
    pool = JobPool[str](executor)
    pool.add("a", runner(make_job(), data, executor, 1))
    for _ in range(5):
        pool.fill()
        pool.wait()
    pool.add("b", runner(make_job(), data, executor, 1000))
    for _ in range(6):
        pool.fill()
        pool.wait()
    turns = "".join(owner_of(i) for i in executor.submitted[5:11])
    assert sorted(turns) == list("aaabbb"), turns  # b does not take the 5 turns it missed


def test_a_job_with_nothing_to_run_gives_its_slots_to_the_others(data: Any) -> None:
    executor = executor_for(data, capacity=4)
    pool = JobPool[str](executor)
    single = make_job(space={"strides": [[1], [2], [2], [1]]}, strategies=["grid"])  # one point
    pool.add("a", runner(single, data, executor, 1))
    pool.add("b", runner(make_job(), data, executor, 1000))
    pool.fill()
    assert in_flight(executor) == {"a": 1, "b": 3}
    executor.next_done = next(i for i in executor.running if owner_of(i) == "a")
    pool.wait()
    pool.fill()
    assert in_flight(executor) == {"a": 0, "b": 4}
    assert pool.finished() == ["a"]


def test_a_higher_priority_takes_the_free_slots_first(data: Any) -> None:
    executor = executor_for(data, capacity=3)
    pool = JobPool[str](executor)
    pool.add("a", runner(make_job(), data, executor, 1), priority=0, weight=5)
    pool.add(
        "b", runner(make_job(budget={"unit": "trials", "total": 2}), data, executor, 1000), 1, 1
    )
    pool.fill()
    assert in_flight(executor) == {"a": 1, "b": 2}  # b wants 2 trials in all: a gets the rest
    run_to_end(pool)
    assert sorted(pool.finished()) == ["a", "b"]


def test_completions_reach_their_own_job(data: Any) -> None:
    executor = executor_for(data, capacity=3)
    pool = JobPool[str](executor)
    a = runner(make_job(strategies=["grid"]), data, executor, 1)
    b = runner(make_job(strategies=["random", "optuna"]), data, executor, 1000)
    pool.add("a", a)
    pool.add("b", b)
    run_to_end(pool)
    assert sorted(pool.finished()) == ["a", "b"]

    def check(trials: list[StoredTrial], keys: set[str]) -> None:
        assert {t.strategy for t in trials} == keys
        for trial in trials:
            assert trial.state == TrialState.COMPLETED and trial.result is not None
            assert trial.result == executor.objective.evaluate(trial.request)  # its own result

    check(a.store.trials(), {"grid"})
    check(b.store.trials(), {"random", "optuna"})
    assert len(a.store.trials()) == 12 and len(b.store.trials()) == 12
    assert {owner_of(t.id) for t in a.store.trials()} == {"a"}


class BrokenStore(MemoryTrialStore):
    """Fails to store the fourth trial."""

    def add(self, request: TrialRequest) -> StoredTrial:
        if len(self.trials()) == 3:
            raise RuntimeError("disk on fire")
        return super().add(request)


def test_a_failing_job_is_taken_out_alone(data: Any) -> None:
    executor = executor_for(data, capacity=2)
    pool = JobPool[str](executor)
    pool.add("a", JobRunner(make_job(), data, executor, BrokenStore(first_id=1)))
    healthy = runner(make_job(), data, executor, 1000)
    pool.add("b", healthy)
    run_to_end(pool)
    [(key, error)] = pool.take_failures()
    assert key == "a" and "disk on fire" in str(error)
    assert list(pool.entries) == ["b"] and pool.finished() == ["b"]
    assert len(healthy.store.trials()) == 12
    assert all(t.state == TrialState.COMPLETED for t in healthy.store.trials())
    assert in_flight(executor) == {"a": 0, "b": 0}  # a's trials were cancelled
