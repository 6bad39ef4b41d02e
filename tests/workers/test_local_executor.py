"""LocalExecutor: real subprocess trials, pruning, failures, crashes, silence, cancel, capacity."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from nas.data import load
from nas.job import JobSpec
from nas.models import preset
from nas.train import train
from nas.trial import EpochReport, TrainOptions, TrialRequest
from tests.fakes import DATA, collect, request
from tests.workers.executor_contract import ExecutorContract
from workers.executors.local_workers import LocalExecutor
from workers.jobs.runner import JobRunner
from workers.jobs.store import MemoryTrialStore, TrialState


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether process ``pid`` no longer exists (reaped) within ``within`` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def executor() -> Iterator[LocalExecutor]:
    ex = LocalExecutor(capacity=1, heartbeat_interval=0.5)
    yield ex
    ex.shutdown()


class TestContract(ExecutorContract):
    """Completion with progress, pruning, failures, capacity, cancel (one worker)."""


def test_a_killed_worker_is_retryable(executor: LocalExecutor) -> None:
    def kill_at_first_epoch(report: EpochReport) -> bool:
        pid = executor.pid(1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        return False

    executor.submit(1, request(3), DATA, kill_at_first_epoch)
    [done] = collect(executor, 1).values()
    assert done.retryable and done.result is None
    assert done.error is not None and done.error.startswith("worker exited with code -9")


def test_a_worker_that_dies_before_reading_its_job_is_retryable() -> None:
    with LocalExecutor(python="/bin/false") as executor:
        executor.submit(1, request(1), DATA, lambda r: False)  # no BrokenPipeError escapes
        [done] = collect(executor, 1, timeout=10.0).values()
    assert done.retryable and done.error == "worker exited with code 1"


def test_a_silent_worker_is_killed_and_retryable() -> None:
    executor = LocalExecutor(heartbeat_interval=60.0, heartbeat_timeout=1.0)
    try:
        executor.submit(1, request(3), DATA, lambda r: False)
        pid = executor.pid(1)
        assert pid is not None
        [done] = collect(executor, 1, timeout=20.0).values()
        assert done.retryable and done.error == "worker silent for 1s"
        assert gone(pid)
    finally:
        executor.shutdown()


def test_cancel_kills_the_worker_and_completes_nothing(executor: LocalExecutor) -> None:
    executor.submit(1, request(3), DATA, lambda r: False)
    pid = executor.pid(1)
    assert pid is not None
    assert executor.wait(timeout=0.5) == []
    executor.cancel(1)
    assert executor.in_flight() == 0
    assert gone(pid)
    assert executor.wait(timeout=0.2) == []


def test_capacity_two_runs_two_trials_at_once() -> None:
    executor = LocalExecutor(capacity=2, heartbeat_interval=0.5)
    running_at_report: list[int] = []
    pids: set[int] = set()

    def on_progress(report: EpochReport) -> bool:
        running_at_report.append(executor.in_flight())
        pids.update(pid for pid in (executor.pid(1), executor.pid(2)) if pid is not None)
        return False

    try:
        for trial_id in (1, 2):
            executor.submit(trial_id, request(3), DATA, on_progress)
        assert executor.in_flight() == 2
        done = list(collect(executor, 2).values())
    finally:
        executor.shutdown()
    assert sorted(c.trial_id for c in done) == [1, 2]
    assert all(c.result is not None and c.result.epochs_run == 3 for c in done)
    assert running_at_report[0] == 2 and len(pids) == 2  # both children trained side by side


def test_job_runner_end_to_end_with_local_executor() -> None:
    job = JobSpec.parse(
        {
            "name": "local",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": {"strides": [[1], [2], [1, 2], [2]]},
            "strategies": ["grid"],
            "budget": {"unit": "trials", "total": 2, "epochs_per_trial": 1},
            "confirm_seeds": 0,
            "train": {"batch_size": 100},
        }
    )
    data = load("synthetic", subset=200)
    with LocalExecutor(capacity=2, heartbeat_interval=0.5) as executor:
        trials = JobRunner(job, data, executor, MemoryTrialStore()).run()
    assert len(trials) == 2
    assert all(t.state == TrialState.COMPLETED and t.result is not None for t in trials)
    assert all(t.result is not None and t.result.epochs_run == 1 for t in trials)


def test_a_worker_serves_trial_after_trial_and_is_retired_after_its_share() -> None:
    executor = LocalExecutor(capacity=1, heartbeat_interval=0.5, max_trials_per_worker=2)
    pids: list[int | None] = []
    try:
        for trial_id in (1, 2, 3):
            executor.submit(trial_id, request(1), DATA, lambda r: False)
            pids.append(executor.pid(trial_id))
            [done] = collect(executor, 1).values()
            assert done.trial_id == trial_id and done.result is not None, done.error
    finally:
        executor.shutdown()
    first, second, third = pids
    assert first is not None and first == second  # reused: the same process ran both
    assert third is not None and third != first  # retired after 2 trials, a new one started
    assert gone(first)


def test_submissions_beyond_capacity_wait_for_a_free_worker() -> None:
    executor = LocalExecutor(capacity=1, heartbeat_interval=0.5)
    try:
        for trial_id in (1, 2, 3):
            executor.submit(trial_id, request(1), DATA, lambda r: False)
        assert executor.in_flight() == 3 and executor.workers() == 1
        assert executor.pid(1) is not None and executor.pid(2) is None
        executor.cancel(2)  # a queued trial is dropped without running
        assert executor.in_flight() == 2
        done = list(collect(executor, 2).values())
    finally:
        executor.shutdown()
    assert [c.trial_id for c in done] == [1, 3]
    assert all(c.result is not None for c in done)


def test_a_pruning_answer_reaches_only_the_trial_it_was_given_to(
    executor: LocalExecutor,
) -> None:
    executor.submit(1, request(2), DATA, lambda r: r.epoch == 1)
    [pruned] = collect(executor, 1).values()
    executor.submit(2, request(2), DATA, lambda r: False)
    [full] = collect(executor, 1).values()
    assert pruned.result is not None and pruned.result.pruned
    assert full.result is not None and not full.result.pruned and full.result.epochs_run == 2


def test_a_warm_worker_gives_the_same_result_as_a_fresh_run_to_the_last_digit() -> None:
    """The engine's reuse (one worker process, its cached data, trial after trial) changes no
    result: the second trial of a warm worker equals the same request trained here, alone."""
    other = request(1).model_copy(update={"options": TrainOptions(batch_size=50, seed=7)})
    target = TrialRequest(
        spec=preset("resnet_narrow_fmnist"),
        epochs=2,
        options=TrainOptions(batch_size=64, seed=3, threads=1),
    )
    executor = LocalExecutor(capacity=1, heartbeat_interval=0.5)
    try:
        executor.submit(1, other, DATA, lambda r: False)
        collect(executor, 1)
        executor.submit(2, target, DATA, lambda r: False)
        [done] = collect(executor, 1, timeout=120).values()
    finally:
        executor.shutdown()
    assert done.result is not None, done.error
    alone = train(target.spec, load(DATA.name, subset=DATA.subset), target.epochs, target.options)
    warm = done.result
    assert warm.accuracy == alone.accuracy and warm.val_loss == alone.val_loss
    assert [h.train_loss for h in warm.history] == [h.train_loss for h in alone.history]
    assert [h.val_accuracy for h in warm.history] == [h.val_accuracy for h in alone.history]
