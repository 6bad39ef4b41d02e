"""SupervisedRayExecutor: trials through the Ray bridge process, and a Ray head that crashes
mid-trial (the executor waits with a clear problem and resumes when the head is back)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nas.trial import EpochReport

pytest.importorskip("ray")

from tests.fakes import DATA, collect, record, request
from tests.ray_head import RayHead
from workers.executors.ray_supervised import SupervisedRayExecutor


@pytest.fixture
def ray_env() -> dict[str, str]:
    ray_tmp = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / f"sup{os.getpid()}"
    ray_tmp.mkdir(parents=True, exist_ok=True)
    return {"RAY_TMPDIR": str(ray_tmp), "RAY_USAGE_STATS_ENABLED": "0"}


def test_trials_run_through_the_bridge_with_progress_pruning_and_cancel(
    ray_env: dict[str, str],
) -> None:
    with SupervisedRayExecutor(num_cpus=2, env=ray_env) as executor:
        assert executor.connected and executor.problem is None
        assert executor.capacity == 2  # what the bridge's local Ray reported
        reports: list[EpochReport] = []
        executor.submit(1, request(2), DATA, record(reports))
        executor.submit(2, request(3), DATA, lambda r: r.epoch == 1)
        executor.submit(3, request(50), DATA, record([]))  # queued behind the two
        executor.cancel(3)
        done = collect(executor, 2, timeout=90)
        assert set(done) == {1, 2} and executor.in_flight() == 0
        full, pruned = done[1], done[2]
        assert full.error is None and full.result is not None and full.result.epochs_run == 2
        assert [r.epoch for r in reports] == [1, 2] and reports == full.result.history
        assert pruned.result is not None and pruned.result.pruned
        assert pruned.result.epochs_run == 1
        bridge = executor.bridge_pid()
        assert bridge is not None
    assert executor.bridge_pid() is None
    deadline = time.monotonic() + 10
    while Path(f"/proc/{bridge}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{bridge}").exists(), "the bridge outlived shutdown"


def test_a_crashed_ray_head_is_waited_for_and_the_trial_resumes_when_it_is_back() -> None:
    with RayHead(num_cpus=2) as head:
        executor = SupervisedRayExecutor(
            address=head.address, max_backoff=2.0, start_timeout=60, env=RayHead.CLIENT_ENV
        )
        try:
            assert executor.connected, executor.problem
            reports: list[EpochReport] = []
            executor.submit(1, request(500), DATA, record(reports))
            deadline = time.monotonic() + 60
            while not reports:
                assert time.monotonic() < deadline, "no progress before the crash"
                assert executor.wait(timeout=0.5) == []
            assert head.crash() > 0

            # Like the runner: a retryable completion is submitted again. Whether the actor's
            # loss or the bridge's exit is seen first, the executor ends up waiting, saying why.
            retried: list[str] = []
            deadline = time.monotonic() + 120
            while executor.problem is None:
                assert time.monotonic() < deadline, f"no problem reported; retried {retried}"
                for completion in executor.wait(timeout=1.0):
                    assert completion.retryable and completion.result is None, completion
                    retried.append(completion.error or "")
                    executor.submit(1, request(2), DATA, record([]))
            assert retried, "the running trial was not given back"
            assert executor.problem.startswith("Ray cluster unreachable"), executor.problem
            if executor.in_flight() == 0:
                executor.submit(1, request(2), DATA, record([]))
            assert executor.wait(timeout=3.0) == []  # no cluster: the trial waits here
            assert executor.in_flight() == 1 and not executor.connected

            head.start()
            deadline = time.monotonic() + 180
            final = None
            while final is None:
                assert time.monotonic() < deadline, "the trial did not run after the restart"
                for completion in executor.wait(timeout=1.0):
                    if completion.retryable:
                        executor.submit(1, request(2), DATA, record([]))
                    else:
                        final = completion
            assert final.error is None and final.result is not None, final
            assert final.result.epochs_run == 2
            assert executor.problem is None and executor.connected
            assert executor.restarts >= 1
        finally:
            executor.shutdown()
