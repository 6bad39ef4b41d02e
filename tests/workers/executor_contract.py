"""The contract every ``workers.executors.interface.Executor`` keeps, as a mixin: a test module
mixes
``ExecutorContract`` into a class and provides an ``executor`` fixture (an idle executor, which
may be shared by the module: Ray starts once). Real trials on 200 synthetic images.

Covered: ``test_executor_contract.py`` (inline), ``test_local_executor.py`` (local worker
processes), ``test_ray_executor.py`` (Ray actors, one Ray per module). The server's ``ray``
executor, ``SupervisedRayExecutor``, hosts a ``RayExecutor`` in its bridge process
(``test_ray_supervisor.py``).
"""

from __future__ import annotations

from typing import Any

from nas.trial import EpochReport
from tests.fakes import DATA, collect, record, request


class ExecutorContract:
    """Tests over the ``executor`` fixture."""

    def test_a_trial_completes_with_its_progress(self, executor: Any) -> None:
        reports: list[EpochReport] = []
        executor.submit(1, request(2), DATA, record(reports))
        assert executor.in_flight() == 1
        (done,) = collect(executor, 1).values()
        assert done.trial_id == 1 and done.error is None and not done.retryable
        assert done.result is not None and done.result.epochs_run == 2 and not done.result.pruned
        assert [r.epoch for r in reports] == [1, 2] and reports == done.result.history
        assert executor.in_flight() == 0

    def test_on_progress_returning_true_prunes_at_that_epoch(self, executor: Any) -> None:
        executor.submit(1, request(3), DATA, lambda r: r.epoch == 1)
        (done,) = collect(executor, 1).values()
        assert done.result is not None and done.result.pruned and done.result.epochs_run == 1

    def test_a_failing_trial_is_not_retryable_and_keeps_its_error(self, executor: Any) -> None:
        executor.submit(1, request(1, in_channels=3), DATA, lambda r: False)  # data has 1
        (done,) = collect(executor, 1).values()
        assert done.result is None and not done.retryable
        assert done.error is not None and "channel" in done.error.lower()
        assert executor.in_flight() == 0

    def test_submissions_beyond_capacity_all_complete(self, executor: Any) -> None:
        assert executor.capacity >= 1
        ids = list(range(1, executor.capacity + 2))
        for trial_id in ids:
            executor.submit(trial_id, request(1), DATA, lambda r: False)
        assert executor.in_flight() == len(ids)
        done = collect(executor, len(ids), timeout=120.0)
        assert sorted(done) == ids and all(c.result is not None for c in done.values())
        assert executor.in_flight() == 0

    def test_a_cancelled_trial_completes_nothing(self, executor: Any) -> None:
        executor.submit(1, request(1), DATA, lambda r: False)
        executor.submit(2, request(50), DATA, lambda r: False)
        executor.cancel(2)
        assert executor.in_flight() == 1
        assert set(collect(executor, 1)) == {1}
        assert executor.wait(timeout=0.5) == [] and executor.in_flight() == 0
