"""RayExecutor on a local Ray instance (started once for the module, 2 CPUs): the executor
contract, killed actors, reused actors."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

from nas.trial import EpochReport

ray = pytest.importorskip("ray")

from tests.fakes import DATA, collect, request  # noqa: E402
from tests.workers.executor_contract import ExecutorContract  # noqa: E402
from workers.executors.ray_actors import RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def executor() -> Iterator[RayExecutor]:
    saved = {
        k: os.environ.get(k) for k in ("RAY_TMPDIR", "RAY_USAGE_STATS_ENABLED", "NAS_RAY_ADDRESS")
    }
    os.environ.pop("NAS_RAY_ADDRESS", None)  # a local instance, not a configured cluster
    # short: Ray's unix socket paths must fit 107 bytes (a pytest-xdist tmp_path does not)
    os.environ["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    if ray.is_initialized():
        pytest.skip("Ray is already initialised in this process")
    ex = RayExecutor(num_cpus=2)
    try:
        yield ex
    finally:
        ex.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert not ray.is_initialized()


class TestContract(ExecutorContract):
    """Completion with progress, pruning, failures, capacity, cancel (two actors)."""


def test_a_killed_actor_is_retryable_a_failing_trial_is_not(executor: RayExecutor) -> None:
    def kill_at_first_epoch(report: EpochReport) -> bool:
        ray.kill(executor.actor(1))
        return False

    executor.submit(1, request(3), DATA, kill_at_first_epoch)
    executor.submit(2, request(1, in_channels=3), DATA, lambda r: False)
    done = collect(executor, 2)
    assert done[1].retryable and done[1].result is None and done[1].error
    assert not done[2].retryable and done[2].result is None
    assert done[2].error is not None and "channel" in done[2].error.lower()
    assert executor.in_flight() == 0


def test_actors_are_reused_and_extra_trials_wait(executor: RayExecutor) -> None:
    for trial_id in (11, 12, 13):
        executor.submit(trial_id, request(1), DATA, lambda r: False)
    assert executor.in_flight() == 3 and executor.actors() <= executor.capacity == 2
    done = collect(executor, 3)
    assert all(c.result is not None and c.error is None for c in done.values())
    assert executor.actors() <= 2  # the third trial ran on an actor that finished one
    assert executor.in_flight() == 0
