"""The scheduler: one background thread per server process that runs jobs from the database.

It picks runnable jobs oldest first (``queued``, or ``running`` ones left by a previous process),
and runs each with ``workers.jobs.runner.JobRunner`` over the job's ``SqlTrialStore``: the runner
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

import contextlib
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

from api.artifacts import Artifacts
from api.db.session import database_unreachable
from api.executors import ExecutorFactory
from api.store import JobRepository, LeaseLost, SqlTrialStore, StoredJob
from nas.errors import NasError, NotFoundError
from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.executors.backoff import ExponentialBackoff
from workers.executors.interface import Completion, Executor, ProgressCallback, waiting_notices
from workers.executors.trial_entry import load_dataset
from workers.jobs.pool import JobPool
from workers.jobs.runner import JobRunner
from workers.jobs.store import BudgetUse, Interruption, StoredTrial, TrialStore

log = logging.getLogger("nas.scheduler")
MAX_BACKOFF_SECONDS = 5.0


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

    def waiting(self) -> dict[int, str]:
        return waiting_notices(self.inner)


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

    def requeue(self, trial_id: int, why: Interruption) -> StoredTrial:
        return self.inner.requeue(trial_id, why)

    def finish(
        self,
        trial_id: int,
        result: TrialResult | None,
        error: str | None,
        log: str | None = None,
    ) -> None:
        self.inner.finish(trial_id, result, error, log)
        self.prune()

    def skip(self, trial_id: int, reason: str) -> None:
        self.inner.skip(trial_id, reason)

    def get(self, trial_id: int) -> StoredTrial:
        return self.inner.get(trial_id)

    def trials(self) -> list[StoredTrial]:
        return self.inner.trials()

    def record_budget(self, used: dict[str, BudgetUse]) -> None:
        self.inner.record_budget(used)

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


def server_id() -> str:
    """This server's name in leases and in ``trial.worker``: host, pid and a random token (a
    restarted container may reuse both host name and pid)."""
    return f"{socket.gethostname()[:160]}:{os.getpid()}:{secrets.token_hex(3)}"


class Scheduler:
    """Runs jobs in a daemon thread: up to ``max_jobs`` at once, sharing one executor.

    Jobs are claimed with a lease on the job row (``JobRepository.claim``), renewed every
    ``lease_seconds / 3``; every write of a job's trials is fenced by that lease, so a server
    that lost it (it stalled past the lease and another server took the job) stores nothing
    more. Several servers on one database thus share the jobs; a server that dies loses its
    leases when they expire, and another takes its jobs over, requeues the trials whose
    heartbeats went stale (they stopped with the dead server's renewals) and replays the rest;
    each attempt cut short so is a takeover, not charged to the trial's ``max_attempts`` but
    bounded by ``max_takeovers`` (``workers.jobs.runner``). With a ``blocking`` executor (the
    inline one trains in this thread) a small thread renews the leases while a trial trains.
    """

    def __init__(
        self,
        repo: JobRepository,
        make_executor: ExecutorFactory,
        *,
        max_attempts: int = 3,
        max_takeovers: int = 3,
        poll_seconds: float = 0.5,
        artifacts: Artifacts | None = None,
        lease_seconds: float = 30.0,
        max_jobs: int = 8,
        owner: str | None = None,
    ) -> None:
        self.repo = repo
        self.artifacts = artifacts
        self.make_executor = make_executor
        self.max_attempts = max_attempts
        self.max_takeovers = max_takeovers
        self.poll_seconds = poll_seconds
        self.lease = timedelta(seconds=lease_seconds)
        self.max_jobs = max_jobs
        self.owner = owner or server_id()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._executor: Executor | None = None
        self._pool: JobPool[int] | None = None
        self._active: dict[int, JobRunner] = {}
        self._renew_at = 0.0
        self._claim_at = 0.0
        self.last_error: str | None = None
        self.waiting_for_database = False
        self._backoff = ExponentialBackoff(poll_seconds, MAX_BACKOFF_SECONDS)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def active_jobs(self) -> list[int]:
        """The jobs this server runs now."""
        return sorted(self._active)

    def start(self) -> None:
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._loop, name="nas-scheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the current step: in-flight trials are killed and go back to queued, and
        the leases are let go, so another server (or the next start) takes the jobs at once."""
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
        """A job was cancelled (``JobRepository.cancel``): look now."""
        self._wake.set()

    # ---- the loop -------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._step()
            except Exception as exc:
                self._drop_all()  # the database is the truth: rebuilt from it when back
                if database_unreachable(exc):
                    self._database_lost(exc)
                    continue
                log.exception("scheduler step failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._stopping.wait(self._backoff.next_delay())
        self._let_go()

    def _step(self) -> None:
        """Renew leases when due, claim jobs when there is room, give free slots to the
        running jobs, and hand their completions over."""
        now = time.monotonic()
        if self._active and now >= self._renew_at:
            self._renew()
        if len(self._active) < self.max_jobs and (now >= self._claim_at or self._wake.is_set()):
            self._wake.clear()
            self._claim_at = now + self.poll_seconds
            self._claim()
        if self._active:
            self._check_states()
        if not self._active:
            self._wake.wait(self.poll_seconds)
            return
        pool = self._the_pool()
        pool.fill()
        self._settle(pool)
        if not self._active:
            return
        if pool.executor.in_flight() == 0:
            self._wake.wait(self.poll_seconds)
            return
        until = self._renew_at - time.monotonic()
        if len(self._active) < self.max_jobs:
            until = min(until, self._claim_at - time.monotonic())
        with self._renewing(pool.executor):
            pool.wait(timeout=max(0.05, min(1.0, until)))
        self._settle(pool)

    def _the_pool(self) -> JobPool[int]:
        if self._executor is None:
            self._executor = self.make_executor()
        if self._pool is None:
            self._pool = JobPool[int](self._executor)
        return self._pool

    def _database_lost(self, exc: BaseException) -> None:
        """Note (once) that the database is gone, then wait before the next try."""
        if not self.waiting_for_database:
            log.warning(
                "database unreachable (%s): jobs resume when it is back", type(exc).__name__
            )
        self.waiting_for_database = True
        self.last_error = f"database unreachable: {type(exc).__name__}"
        self._stopping.wait(self._backoff.next_delay())

    # ---- leases ---------------------------------------------------------------------------

    def _claim(self) -> None:
        jobs = self.repo.claim(
            self.owner, self.lease, limit=self.max_jobs - len(self._active), exclude=self._active
        )
        if self.waiting_for_database:
            log.info("database reachable again: resuming")
            self.waiting_for_database = False
        self._backoff.reset()
        if jobs and not self._active:
            self._renew_at = time.monotonic() + self.lease.total_seconds() / 3
        for job in jobs:
            self._start_job(job)

    def _renew(self) -> None:
        held = self.repo.renew(self.owner, list(self._active), self.lease)
        self._renew_at = time.monotonic() + self.lease.total_seconds() / 3
        for job_id in set(self._active) - held:
            log.warning("job %s: lease lost (another server runs it now, or it ended)", job_id)
            self._drop(job_id)

    @contextlib.contextmanager
    def _renewing(self, executor: Executor) -> Iterator[None]:
        """While a ``blocking`` executor holds this thread (the inline executor trains the trial
        inside ``wait``), renew the leases from another thread when due, so a trial longer than
        the lease keeps its job (and its heartbeat): no other server takes it over mid-trial.
        A lease lost meanwhile is seen by the next step's ``_check_states``."""
        if not getattr(executor, "blocking", False):
            yield
            return
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_leases,
            args=(list(self._active), done),
            name="nas-lease-keeper",
            daemon=True,  # like the scheduler's thread: never holds the process up at exit
        )
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def _keep_leases(self, job_ids: list[int], done: threading.Event) -> None:
        """The lease keeper's loop: renew ``job_ids`` every third of the lease until ``done``."""
        while not done.wait(max(0.0, self._renew_at - time.monotonic())):
            self._renew_at = time.monotonic() + self.lease.total_seconds() / 3
            try:
                held = self.repo.renew(self.owner, job_ids, self.lease)
            except Exception as exc:  # the scheduler's own step meets it too, and waits
                log.warning("could not renew the leases of jobs %s: %s", job_ids, exc)
                continue
            job_ids = [job_id for job_id in job_ids if job_id in held]

    def _check_states(self) -> None:
        """Drop the jobs that were cancelled or deleted (on any server), or taken over; give
        the jobs whose budget was extended meanwhile their new budget."""
        states = self.repo.lease_states(list(self._active))
        for job_id, runner in list(self._active.items()):
            now = states.get(job_id)
            if now is None or now.state != "running" or now.owner != self.owner:
                self._drop(job_id)
            elif now.budget != runner.budget:
                log.info("job %s: budget extended to %s", job_id, now.budget.total)
                runner.extend(now.budget)

    def _drop(self, job_id: int) -> None:
        """Stop running a job here: its in-flight trials are cancelled in the executor; the
        database is not touched (the job is another's now, or over)."""
        self._active.pop(job_id, None)
        if self._pool is not None:
            self._pool.remove(job_id)

    def _drop_all(self) -> None:
        for job_id in list(self._active):
            self._drop(job_id)

    def _let_go(self) -> None:
        """Shutting down: stop every job and release the leases."""
        ids = list(self._active)
        self._drop_all()
        try:
            self.repo.release(self.owner, ids)
        except Exception as exc:  # the leases lapse by themselves
            log.warning("could not release the leases of jobs %s: %s", ids, exc)

    # ---- one job --------------------------------------------------------------------------

    def _start_job(self, job: StoredJob) -> None:
        """Set up a claimed job: requeue its stale trials, load its data, add its runner."""
        try:
            store = self.repo.trial_store(job.id, lease_owner=self.owner)
            requeued = store.requeue_stale(self.lease)
            if requeued:
                log.info("job %s: %d stale trials requeued", job.id, len(requeued))
            data = load_dataset(job.spec.dataset)
            pool = self._the_pool()
            executor, trials = self._with_artifacts(job.id, job.spec.keep_weights, store)
            runner = JobRunner(
                job.spec,
                data,
                executor,
                trials,
                max_attempts=self.max_attempts,
                max_takeovers=self.max_takeovers,
            )
        except Exception as exc:
            self._failed(job.id, exc)
            return
        self._active[job.id] = runner
        pool.add(job.id, runner, weight=job.spec.weight, priority=job.spec.priority)

    def _settle(self, pool: JobPool[int]) -> None:
        """Record the jobs that failed and the jobs that are done."""
        for job_id, exc in pool.take_failures():
            self._active.pop(job_id, None)
            self._failed(job_id, exc)
        for job_id in pool.finished():
            runner = self._active[job_id]
            try:
                runner.finish()  # keeps the final budget use
                extended = self.repo.complete(job_id, self.owner, runner.budget)
            except NasError as exc:  # cancelled, deleted or taken over meanwhile
                log.info("job %s not completed here: %s", job_id, exc)
                self._drop(job_id)
                continue
            if extended is not None:  # extended since we last looked: it goes on
                runner.extend(extended)
                continue
            pool.remove(job_id)
            self._active.pop(job_id, None)

    def _failed(self, job_id: int, exc: Exception) -> None:
        """A job's step raised: a lost lease or a vanished job is not its failure; a lost
        database is no one's (raised on: the loop waits for it); anything else fails it (a
        missing dataset, a broken strategy: else it would be claimed again and again)."""
        if isinstance(exc, LeaseLost) or (isinstance(exc, NotFoundError) and exc.field == "job_id"):
            log.info("job %s stopped here: %s", job_id, exc)
            return
        if database_unreachable(exc):
            raise exc
        log.error("job %s failed", job_id, exc_info=exc)
        self.last_error = str(exc)
        with contextlib.suppress(NasError):  # cancelled or taken over meanwhile
            self.repo.set_state(job_id, "failed", error=str(exc)[:2000], owner=self.owner)

    def _with_artifacts(
        self, job_id: int, keep: str, store: SqlTrialStore
    ) -> tuple[Executor, TrialStore]:
        """The executor and store of one job, saving and pruning weights as it asks."""
        executor = self._the_pool().executor
        if self.artifacts is None or keep == "none":
            return executor, store
        executor = SavingExecutor(executor, self.artifacts, job_id)
        if keep != "best":
            return executor, store
        pruning = PruningStore(store, self.repo, self.artifacts)
        pruning.prune()  # left over by a server that stopped between a finish and its prune
        return executor, pruning
