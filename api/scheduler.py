"""The scheduler: one background thread per server process that runs jobs from the database.

It picks runnable jobs oldest first (``queued``, or ``running`` ones left by a previous process),
and runs each with ``workers.runner.JobRunner`` over the job's ``SqlTrialStore``: the runner
replays every stored trial into the strategies, so a restarted server continues exactly where it
stopped. Cancel is cooperative: the runner polls, cancels in-flight trials in the executor, and
the scheduler marks them failed ("cancelled"). On shutdown, in-flight trials stay ``running`` in
the database and are resumed by the next server.

Weights (``JobSpec.keep_weights``, with ``artifacts`` set): each dispatched request names its
trial's directory under the artifact root (``SavingExecutor``); for ``best``, after every
finished trial the saved weights of all finished trials but the current best are deleted
(``PruningStore``), so a job keeps one model plus those of the trials in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from api.artifacts import Artifacts
from api.db.session import database_unreachable
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore
from nas.errors import ConflictError, NasError, NotFoundError
from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.executor import Completion, Executor, InlineExecutor, ProgressCallback
from workers.runner import JobRunner
from workers.store import StoredTrial, TrialStore
from workers.trial_entry import load_dataset

log = logging.getLogger("nas.scheduler")
MAX_BACKOFF_SECONDS = 5.0
ExecutorFactory = Callable[[], Executor]


def executor_factory(settings: Settings) -> ExecutorFactory:
    """The executor named by the settings (created lazily, in the scheduler thread)."""

    def make() -> Executor:
        if settings.executor == "ray":
            from workers.ray_supervisor import SupervisedRayExecutor

            return SupervisedRayExecutor(
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


class SavingExecutor:
    """An executor whose requests name the directory their trial saves its model to."""

    def __init__(self, inner: Executor, artifacts: Artifacts, job_id: int) -> None:
        self.inner = inner
        self.artifacts = artifacts
        self.job_id = job_id
        self.capacity = inner.capacity

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        dest = str(self.artifacts.trial_dir(self.job_id, trial_id))
        saving = request.model_copy(update={"artifact": dest})
        self.inner.submit(trial_id, saving, dataset, on_progress)

    def wait(self, timeout: float | None = None) -> list[Completion]:
        return self.inner.wait(timeout)

    def cancel(self, trial_id: int) -> None:
        self.inner.cancel(trial_id)

    def in_flight(self) -> int:
        return self.inner.in_flight()


class PruningStore:
    """A job's ``SqlTrialStore`` that keeps only the best trial's weights (``keep_weights:
    best``): after each finish, the directories of finished trials other than the best go."""

    def __init__(self, inner: SqlTrialStore, repo: JobRepository, artifacts: Artifacts) -> None:
        self.inner = inner
        self.repo = repo
        self.artifacts = artifacts
        self.job_id = inner.job_id

    def add(self, request: TrialRequest) -> StoredTrial:
        return self.inner.add(request)

    def mark_running(self, trial_id: int) -> None:
        self.inner.mark_running(trial_id)

    def record_progress(self, trial_id: int, report: EpochReport) -> None:
        self.inner.record_progress(trial_id, report)

    def finish(self, trial_id: int, result: TrialResult | None, error: str | None) -> None:
        self.inner.finish(trial_id, result, error)
        self.prune()

    def skip(self, trial_id: int, reason: str) -> None:
        self.inner.skip(trial_id, reason)

    def get(self, trial_id: int) -> StoredTrial:
        return self.inner.get(trial_id)

    def trials(self) -> list[StoredTrial]:
        return self.inner.trials()

    def prune(self) -> list[int]:
        """Delete superseded weights; the trial ids whose directories went.

        The best is the one ``GET /best`` names (most accurate completed, ties by id). Running
        and queued trials keep theirs: they may still become the best.
        """
        top = self.repo.best_trial(self.job_id)
        best = top.id if top is not None else None
        removed = []
        for trial_id, path in sorted(self.artifacts.saved(self.job_id).items()):
            if trial_id == best:
                continue
            try:
                finished = self.inner.get(trial_id).finished
            except NotFoundError:
                finished = True  # not a trial of this job (any more)
            if finished and self.artifacts.remove(path):
                removed.append(trial_id)
        return removed


class Scheduler:
    """Runs jobs one at a time in a daemon thread."""

    def __init__(
        self,
        repo: JobRepository,
        make_executor: ExecutorFactory,
        *,
        max_attempts: int = 3,
        poll_seconds: float = 0.5,
        artifacts: Artifacts | None = None,
    ) -> None:
        self.repo = repo
        self.artifacts = artifacts
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
        self.waiting_for_database = False
        self._backoff = poll_seconds
        self._runner: tuple[int, JobRunner] | None = None

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

    @property
    def executor_problem(self) -> str | None:
        """Why the executor cannot run trials now (its Ray cluster is unreachable), if so."""
        problem = getattr(self._executor, "problem", None)
        return problem if isinstance(problem, str) else None

    def notify(self) -> None:
        """A job was submitted: look now instead of at the next poll."""
        self._wake.set()

    def cancel(self, job_id: int) -> None:
        self._cancelled.add(job_id)
        self._wake.set()

    def budget_used(self, job_id: int) -> dict[str, float] | None:
        """Per strategy, the fraction of its budget spent (1.0 once it stopped and nothing of
        it runs) while this scheduler runs ``job_id``; None otherwise."""
        current = self._runner
        if current is None or current[0] != job_id:
            return None
        used = {}
        for key, state in current[1].states.items():
            if state.stopped is not None and not state.reserved:
                used[key] = 1.0
            else:
                used[key] = min(1.0, state.spent / state.budget) if state.budget > 0 else 0.0
        return used

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                jobs = self.repo.runnable()
            except Exception as exc:  # database unreachable: wait (backing off) and try again
                self._database_lost(exc)
                continue
            if self.waiting_for_database:
                log.info("database reachable again: resuming")
                self.waiting_for_database = False
                self._backoff = self.poll_seconds
            if not jobs:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
                continue
            self._run_job(jobs[0].id)

    def _database_lost(self, exc: BaseException) -> None:
        """Note (once) that the database is gone, then wait before the next try."""
        if not self.waiting_for_database:
            log.warning(
                "database unreachable (%s): jobs resume when it is back", type(exc).__name__
            )
        self.waiting_for_database = True
        self.last_error = f"database unreachable: {type(exc).__name__}"
        self._stopping.wait(self._backoff)
        self._backoff = min(MAX_BACKOFF_SECONDS, self._backoff * 2)

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
            executor, store = self._with_artifacts(job_id, job.spec.keep_weights, self._executor)
            runner = JobRunner(job.spec, data, executor, store, max_attempts=self.max_attempts)
            self._runner = (job_id, runner)
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
            if database_unreachable(exc):
                # Not the job's fault: it stays running; its unfinished trials run again.
                self._database_lost(exc)
                return
            log.exception("job %s failed", job_id)
            self.last_error = str(exc)
            try:
                self.repo.set_state(job_id, "failed", error=str(exc)[:2000])
            except NasError:
                pass
            except Exception as again:  # the database went while recording the failure
                self._database_lost(again)
        finally:
            self._cancelled.discard(job_id)
            self.current_job = None
            self._runner = None

    def _with_artifacts(
        self, job_id: int, keep: str, executor: Executor
    ) -> tuple[Executor, TrialStore]:
        """The executor and store of one job, saving and pruning weights as it asks."""
        store = self.repo.trial_store(job_id)
        if self.artifacts is None or keep == "none":
            return executor, store
        executor = SavingExecutor(executor, self.artifacts, job_id)
        if keep != "best":
            return executor, store
        pruning = PruningStore(store, self.repo, self.artifacts)
        pruning.prune()  # left over by a server that stopped between a finish and its prune
        return executor, pruning
