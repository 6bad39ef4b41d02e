"""Trials in Ray actors: an existing cluster (``NAS_RAY_ADDRESS``) or a local Ray instance.

Trials run in a pool of up to ``capacity`` actors, reused trial after trial (torch imported
and the job's data loaded once per actor); submissions beyond ``capacity`` wait for a free one.
An actor has ``max_concurrency=2``: ``run`` trains on one thread while ``drain_progress`` /
``decide`` answer on the other. It asks for one GPU when the cluster has any, else one CPU; the
trainer picks the device itself. ``wait`` polls the actors for
progress, calls ``on_progress`` in the caller's thread and sends its answer back before the
actor's next epoch, so pruning stops the trial exactly where it was decided (the actor waits at
most ``decision_timeout`` seconds for an answer). A lost actor or worker is a retryable
completion (the actor is replaced); an exception of the trial itself is not.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import ray
import ray.exceptions

from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest
from workers.executors.interface import Completion, ProgressCallback
from workers.executors.priority import lower_priority
from workers.executors.protocol import Message, ProtocolError, TrialJob
from workers.executors.trial_process import DecisionGate, summarize, with_env_threads

ADDRESS_ENV = "NAS_RAY_ADDRESS"
POLL_SECONDS = 0.2  # how often wait() asks running actors for progress
ERROR_LIMIT = 4000

# Ray errors that running the trial again cannot fix; every other RayError means a lost worker.
_FATAL_RAY_ERRORS: tuple[type[BaseException], ...] = (
    ray.exceptions.RayTaskError,
    ray.exceptions.TaskUnschedulableError,
    ray.exceptions.ActorUnschedulableError,
    ray.exceptions.RuntimeEnvSetupError,
)


class TrialActor:
    """Runs trials one at a time; ``run`` on one thread, progress and decisions on the other."""

    def __init__(self, decision_timeout: float = 30.0) -> None:
        self._decision_timeout = decision_timeout
        self._lock = threading.Lock()
        self._trial_id: int | None = None
        self._gate = DecisionGate(decision_timeout)
        self._reports: list[str] = []

    def run(self, job_line: str) -> str:
        """Train the ``TrialJob``; a ``result`` or ``error`` protocol line."""
        try:
            from workers.executors.trial_entry import run_trial

            lower_priority()  # NAS_WORKER_NICE of the node (default 10): below the server
            job = TrialJob.from_line(job_line)
            with self._lock:
                self._trial_id = job.trial_id
                self._gate = gate = DecisionGate(self._decision_timeout)
                self._reports = []
            request = self._threads(with_env_threads(job.request))

            def on_epoch(report: EpochReport) -> bool:
                with self._lock:
                    self._reports.append(report.model_dump_json())
                return gate.wait(report.epoch, last=report.epoch >= request.epochs)

            result = run_trial(request, job.dataset, on_epoch)
        except Exception as exc:  # the trial failed: report it, the actor did its job
            return Message("error", error=summarize(exc)).to_line()
        return Message("result", result=result).to_line()

    def drain_progress(self, trial_id: int) -> list[str]:
        """The epoch reports (JSON) of ``trial_id`` since the last call (none once it ended)."""
        with self._lock:
            if trial_id != self._trial_id:
                return []
            reports, self._reports = self._reports, []
        return reports

    def decide(self, trial_id: int, epoch: int, stop: bool) -> None:
        """The answer to epoch ``epoch``'s report of ``trial_id``: stop there, or go on."""
        with self._lock:
            if trial_id == self._trial_id:
                self._gate.answer(stop, epoch)

    def stop(self) -> None:
        """Stop the running trial after its current epoch."""
        with self._lock:
            self._gate.answer(True)

    @staticmethod
    def _threads(request: TrialRequest) -> TrialRequest:
        """On CPU, as many torch threads as CPUs Ray assigned (unless set otherwise)."""
        if request.options.threads is not None:  # the request's or NAS_TORCH_THREADS
            return request
        context: Any = ray.get_runtime_context()
        cpus = context.get_assigned_resources().get("CPU", 0)
        if cpus < 1:
            return request
        options = request.options.model_copy(update={"threads": int(cpus)})
        return request.model_copy(update={"options": options})


@dataclass(eq=False)
class _Running:
    trial_id: int
    actor: Any
    run_ref: Any
    on_progress: ProgressCallback
    epochs: int
    drain_ref: Any = None
    drain_sent: float = 0.0
    answered: bool = False  # the actor has answered once: silence counts from then on


def _ray_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]


class RayExecutor:
    """Runs up to ``capacity`` trials at once as Ray actors.

    ``address``: an existing cluster (default ``NAS_RAY_ADDRESS``); without one, a Ray instance
    already initialised in this process is used, else a local one is started with ``num_cpus``
    (and shut down by ``shutdown``). ``capacity`` defaults to the cluster's GPUs, else CPUs.
    An actor that has answered once and then stops answering for ``heartbeat_timeout`` seconds
    is killed and its trial completed as retryable.
    """

    decision_timeout = 30.0

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        capacity: int | None = None,
        heartbeat_timeout: float = 300.0,
    ) -> None:
        if address is None:
            address = os.environ.get(ADDRESS_ENV) or None
        self._owns_ray = False
        if address is not None:
            ray.init(address=address, ignore_reinit_error=True)
        elif not ray.is_initialized():
            ray.init(num_cpus=num_cpus, include_dashboard=False)
            self._owns_ray = True
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self.gpus = int(resources.get("GPU", 0))
        self.capacity = capacity if capacity is not None else self.gpus or int(resources["CPU"])
        self.heartbeat_timeout = heartbeat_timeout
        need = {"num_gpus": 1} if self.gpus > 0 else {"num_cpus": 1}
        self._actor_class: Any = ray.remote(TrialActor).options(max_concurrency=2, **need)
        self._running: dict[int, _Running] = {}
        self._idle: list[Any] = []  # actors that finished a trial and can take the next
        self._pending: deque[tuple[int, TrialRequest, DatasetRef, ProgressCallback]] = deque()

    # ---- Executor protocol ----------------------------------------------------------------

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        """Give the trial to a free actor, or queue it (a running one with its id is killed)."""
        self.cancel(trial_id)
        self._pending.append((trial_id, request, dataset, on_progress))
        self._dispatch()

    def wait(self, timeout: float | None = None) -> list[Completion]:
        """Deliver progress until one or more trials complete or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        completions: list[Completion] = []
        while self._running:
            completions.extend(self._poll_progress())
            self._dispatch()
            refs = {r.run_ref: r for r in self._running.values()}
            if refs:
                block = 0.0 if completions else POLL_SECONDS
                if deadline is not None:
                    block = min(block, deadline - time.monotonic())
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=max(0.0, block))
                if ready:
                    ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=0)
                for ref in ready:
                    running = refs[ref]
                    if self._running.get(running.trial_id) is running:  # not cancelled meanwhile
                        completions.append(self._finish(running))
                self._dispatch()
            if completions or (deadline is not None and time.monotonic() >= deadline):
                break
        return completions

    def cancel(self, trial_id: int) -> None:
        """Drop the trial (queued) or kill its actor (running): no completion follows."""
        self._pending = deque(p for p in self._pending if p[0] != trial_id)
        running = self._running.pop(trial_id, None)
        if running is not None:
            self._kill(running.actor)
            self._dispatch()

    def in_flight(self) -> int:
        return len(self._running) + len(self._pending)

    # ---- extras ---------------------------------------------------------------------------

    def actor(self, trial_id: int) -> Any:
        """The actor handle of a running trial (None when not running here)."""
        running = self._running.get(trial_id)
        return running.actor if running is not None else None

    def shutdown(self) -> None:
        """Kill every actor; shut Ray down if this executor started it."""
        self._pending.clear()
        for trial_id in list(self._running):
            self.cancel(trial_id)
        for actor in self._idle:
            self._kill(actor)
        self._idle.clear()
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- internals ------------------------------------------------------------------------

    def actors(self) -> int:
        """Actors alive now (busy or idle)."""
        return len(self._running) + len(self._idle)

    def _dispatch(self) -> None:
        """Start queued trials on idle actors, creating actors up to ``capacity``."""
        while self._pending and len(self._running) < self.capacity:
            trial_id, request, dataset, on_progress = self._pending.popleft()
            actor = (
                self._idle.pop() if self._idle else self._actor_class.remote(self.decision_timeout)
            )
            run_ref = actor.run.remote(TrialJob(trial_id, request, dataset).to_line())
            running = _Running(trial_id, actor, run_ref, on_progress, request.epochs)
            self._ask_progress(running)
            self._running[trial_id] = running

    def _ask_progress(self, running: _Running) -> None:
        running.drain_ref = running.actor.drain_progress.remote(running.trial_id)
        running.drain_sent = time.monotonic()

    def _poll_progress(self) -> list[Completion]:
        """Deliver the progress of actors that answered; ask again; reap the silent ones."""
        pending = {r.drain_ref: r for r in self._running.values()}
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=0)
        for ref in ready:
            running = pending[ref]
            try:
                lines: list[str] = ray.get(ref)
            except ray.exceptions.RayError:
                continue  # the actor is gone: its run ref says why
            running.answered = True
            self._deliver(running, lines, decide=True)
            if self._running.get(running.trial_id) is running:
                self._ask_progress(running)
        now = time.monotonic()
        silent = [
            r
            for r in self._running.values()
            if r.answered and now - r.drain_sent > self.heartbeat_timeout
        ]
        completions = []
        for running in silent:
            self.cancel(running.trial_id)
            error = f"worker silent for {self.heartbeat_timeout:g}s"
            completions.append(Completion(running.trial_id, None, error, retryable=True))
        return completions

    def _deliver(self, running: _Running, lines: list[str], decide: bool) -> None:
        for line in lines:
            report = EpochReport.model_validate_json(line)
            stop = bool(running.on_progress(report))
            if decide and (stop or report.epoch < running.epochs):
                running.actor.decide.remote(running.trial_id, report.epoch, stop)

    def _finish(self, running: _Running) -> Completion:
        """The completion of a trial whose ``run`` returned (the actor is reused) or failed
        in Ray (the actor is replaced)."""
        self._running.pop(running.trial_id, None)
        trial_id = running.trial_id
        try:
            line: str = ray.get(running.run_ref)
        except _FATAL_RAY_ERRORS as exc:
            self._kill(running.actor)
            return Completion(trial_id, None, _ray_error(exc))
        except ray.exceptions.RayError as exc:
            self._kill(running.actor)
            return Completion(trial_id, None, _ray_error(exc), retryable=True)
        self._drain_rest(running)
        self._idle.append(running.actor)
        try:
            message = Message.from_line(line)
        except ProtocolError as exc:
            return Completion(trial_id, None, str(exc))
        return Completion(trial_id, message.result, message.error)

    def _drain_rest(self, running: _Running) -> None:
        """The reports not delivered yet: the outstanding drain's first, then the rest."""
        try:
            self._deliver(running, ray.get(running.drain_ref, timeout=30), decide=False)
            final = running.actor.drain_progress.remote(running.trial_id)
            self._deliver(running, ray.get(final, timeout=30), decide=False)
        except ray.exceptions.RayError:
            pass  # the reports are also in the result's history

    @staticmethod
    def _kill(actor: Any) -> None:
        with contextlib.suppress(ray.exceptions.RayError, ValueError):
            ray.kill(actor, no_restart=True)
