"""The scheduler: one background thread per server process that runs jobs from the database.

It picks runnable jobs oldest first (``queued``, or ``running`` ones left by a previous process),
and runs each with ``workers.runner.JobRunner`` over the job's ``SqlTrialStore``: the runner
replays every stored trial into the strategies, so a restarted server continues exactly where it
stopped. Cancel is cooperative: the runner polls, cancels in-flight trials in the executor, and
the scheduler marks them failed ("cancelled"). On shutdown, in-flight trials stay ``running`` in
the database and are resumed by the next server.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from api.settings import Settings
from api.store import JobRepository
from nas.errors import ConflictError, NasError
from workers.executor import Executor, InlineExecutor
from workers.runner import JobRunner
from workers.trial_entry import load_dataset

log = logging.getLogger("nas.scheduler")
ExecutorFactory = Callable[[], Executor]


def executor_factory(settings: Settings) -> ExecutorFactory:
    """The executor named by the settings (created lazily, in the scheduler thread)."""

    def make() -> Executor:
        if settings.executor == "ray":
            from workers.ray_executor import RayExecutor

            return RayExecutor(
                address=settings.ray_address, heartbeat_timeout=settings.heartbeat_timeout
            )
        if settings.executor == "local":
            from workers.local_executor import LocalExecutor

            return LocalExecutor(
                capacity=settings.max_parallel_trials,
                heartbeat_timeout=settings.heartbeat_timeout,
            )
        return InlineExecutor()

    return make


class Scheduler:
    """Runs jobs one at a time in a daemon thread."""

    def __init__(
        self,
        repo: JobRepository,
        make_executor: ExecutorFactory,
        *,
        max_attempts: int = 3,
        poll_seconds: float = 0.5,
    ) -> None:
        self.repo = repo
        self.make_executor = make_executor
        self.max_attempts = max_attempts
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cancelled: set[int] = set()
        self._thread: threading.Thread | None = None
        self._executor: Executor | None = None
        self.current_job: int | None = None
        self.last_error: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="nas-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current poll; in-flight trials stay running for the next server."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        shutdown = getattr(self._executor, "shutdown", None)
        if callable(shutdown):
            shutdown()

    def notify(self) -> None:
        """A job was submitted: look now instead of at the next poll."""
        self._wake.set()

    def cancel(self, job_id: int) -> None:
        self._cancelled.add(job_id)
        self._wake.set()

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                jobs = self.repo.runnable()
            except Exception as exc:  # database unreachable: keep trying
                self.last_error = f"cannot read jobs: {exc}"
                log.warning(self.last_error)
                jobs = []
            if not jobs:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            self._run_job(jobs[0].id)

    def _should_stop(self, job_id: int) -> bool:
        if self._stopping.is_set():
            return True
        if job_id in self._cancelled:
            return True
        try:
            return self.repo.get(job_id).state == "cancelled"
        except NasError:
            return True  # deleted

    def _run_job(self, job_id: int) -> None:
        self.current_job = job_id
        try:
            job = self.repo.get(job_id)
            if job.state == "queued":
                job = self.repo.set_state(job_id, "running")
            data = load_dataset(job.spec.dataset)
            if self._executor is None:
                self._executor = self.make_executor()
            store = self.repo.trial_store(job_id)
            runner = JobRunner(
                job.spec, data, self._executor, store, max_attempts=self.max_attempts
            )
            runner.run(should_stop=lambda: self._should_stop(job_id))
            if self._stopping.is_set():
                return  # shutdown: leave the job running for the next server
            if self._should_stop(job_id):
                for trial in store.trials():
                    if not trial.finished:
                        store.finish(trial.id, None, "cancelled")
                return
            self.repo.set_state(job_id, "completed")
        except ConflictError:
            pass  # cancelled or deleted meanwhile
        except Exception as exc:
            log.exception("job %s failed", job_id)
            self.last_error = str(exc)
            with contextlib.suppress(NasError):
                self.repo.set_state(job_id, "failed", error=str(exc)[:2000])
        finally:
            self._cancelled.discard(job_id)
            self.current_job = None
