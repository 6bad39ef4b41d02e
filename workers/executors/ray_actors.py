"""Trials in Ray actors: an existing cluster (``NAS_RAY_ADDRESS``) or a local Ray instance.

Trials run in a pool of up to ``capacity`` actors, reused trial after trial (torch imported
and the job's data loaded once per actor); submissions beyond ``capacity`` wait for a free one.
An actor has ``max_concurrency=2``: ``run`` trains on one thread while ``drain_progress`` /
``decide`` answer on the other. What an actor asks for is its trial's ``Shape``
(``workers.executors.ray_resources``: the request's GPUs, else one GPU when the cluster has any,
else one CPU); idle actors are reused by trials of the same shape. ``capacity`` follows the
cluster (looked at every few seconds: nodes that join or die), unless it was given. A trial
that no node of the cluster could host waits in Ray for one to join, and ``waiting`` says so
("a node with 0.25 GPU"). The result names the node that ran the trial. ``wait`` polls the
actors for
progress, calls ``on_progress`` in the caller's thread and sends its answer back before the
actor's next epoch, so pruning stops the trial exactly where it was decided (the actor waits at
most ``decision_timeout`` seconds for an answer). A lost actor or worker is a retryable
completion (the actor is replaced); an exception of the trial itself is not.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import ray
import ray.exceptions

from nas.job import DatasetRef
from nas.trial import EpochReport, TrialRequest
from workers.executors.host import NODE_ENV
from workers.executors.interface import Completion, ProgressCallback
from workers.executors.priority import lower_priority
from workers.executors.protocol import Message, ProtocolError, TrialJob
from workers.executors.ray_resources import (
    CPU,
    GPU,
    Shape,
    offered,
    shape_of,
    slots,
    waiting_notice,
)
from workers.executors.ray_resources import (
    gpu_resource as configured_gpu_resource,
)
from workers.executors.trial_process import DecisionGate, summarize, with_env_threads

ADDRESS_ENV = "NAS_RAY_ADDRESS"
POLL_SECONDS = 0.2  # how often wait() asks running actors for progress
CLUSTER_SECONDS = 2.0  # how often the cluster's nodes and resources are looked at again
PLACEMENT_GRACE = 3.0  # seconds an actor may wait to be placed before idle actors make room
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

            result = run_trial(
                request, job.dataset, on_epoch, node=self._node(), gpu_stand_in=self._stand_in()
            )
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
    def _node() -> str:
        """``NAS_NODE_NAME`` as the node's ``ray start`` had it, else the host and Ray's id of
        the node (several nodes may share a host)."""
        named = os.environ.get(NODE_ENV)
        if named:
            return named
        context: Any = ray.get_runtime_context()
        return f"{socket.gethostname()} ({context.get_node_id()[:8]})"

    @staticmethod
    def _stand_in() -> bool:
        """Whether this actor holds no real GPU (its trial's GPUs were a stand-in resource)."""
        context: Any = ray.get_runtime_context()
        return float(context.get_assigned_resources().get(GPU, 0)) <= 0

    @staticmethod
    def _threads(request: TrialRequest) -> TrialRequest:
        """On CPU, as many torch threads as CPUs Ray assigned (unless set otherwise)."""
        if request.options.threads is not None:  # the request's or NAS_TORCH_THREADS
            return request
        context: Any = ray.get_runtime_context()
        cpus = context.get_assigned_resources().get(CPU, 0)
        if cpus < 1:
            return request
        options = request.options.model_copy(update={"threads": int(cpus)})
        return request.model_copy(update={"options": options})


@dataclass(eq=False)
class _Running:
    trial_id: int
    actor: Any
    shape: Shape
    run_ref: Any
    on_progress: ProgressCallback
    epochs: int
    drain_ref: Any = None
    drain_sent: float = 0.0
    answered: bool = False  # the actor has answered once: silence counts from then on
    dispatched: float = field(default_factory=time.monotonic)


def _ray_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_LIMIT]


class RayExecutor:
    """Runs up to ``capacity`` trials at once as Ray actors.

    ``address``: an existing cluster (default ``NAS_RAY_ADDRESS``); without one, a Ray instance
    already initialised in this process is used, else a local one is started with ``num_cpus``
    (and shut down by ``shutdown``). ``capacity`` defaults to what the cluster holds of the
    shapes in use (``ray_resources.slots``: its GPUs, else CPUs, before any trial), and follows
    it as nodes join or die. ``gpu_resource``: the Ray resource a trial's GPUs are asked as
    (default ``NAS_RAY_GPU_RESOURCE``, else ``GPU``). An actor that has answered once and then
    stops answering for ``heartbeat_timeout`` seconds is killed and its trial completed as
    retryable.
    """

    decision_timeout = 30.0

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        capacity: int | None = None,
        heartbeat_timeout: float = 300.0,
        gpu_resource: str | None = None,
    ) -> None:
        if address is None:
            address = os.environ.get(ADDRESS_ENV) or None
        self._owns_ray = False
        if address is not None:
            ray.init(address=address, ignore_reinit_error=True)
        elif not ray.is_initialized():
            ray.init(num_cpus=num_cpus, include_dashboard=False)
            self._owns_ray = True
        self.gpu_resource = gpu_resource or configured_gpu_resource()
        self.requested_capacity = capacity
        self.heartbeat_timeout = heartbeat_timeout
        self.gpus = 0.0  # the cluster's GPUs (of ``gpu_resource``) when last looked at
        self.capacity = capacity or 1
        self._nodes: list[dict[str, float]] = []  # alive nodes' total resources
        self._looked_at = 0.0
        self._shapes: set[Shape] = set()  # shapes of the trials submitted so far
        self._classes: dict[Shape, Any] = {}
        self._running: dict[int, _Running] = {}
        self._idle: dict[Shape, list[Any]] = {}  # actors that finished a trial, by shape
        self._pending: deque[tuple[int, TrialRequest, DatasetRef, ProgressCallback]] = deque()
        self.look_at_cluster(force=True)

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
        self._shapes.add(self._shape(request))
        self.look_at_cluster(force=len(self._shapes) == 1)
        self._pending.append((trial_id, request, dataset, on_progress))
        self._dispatch()

    def wait(self, timeout: float | None = None) -> list[Completion]:
        """Deliver progress until one or more trials complete or ``timeout`` passes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        completions: list[Completion] = []
        self.look_at_cluster()
        while self._running:
            completions.extend(self._poll_progress())
            self._make_room()
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

    def waiting(self) -> dict[int, str]:
        """Trials whose actor no node of the cluster can host, with what they wait for ("a node
        with 0.25 GPU"); they run once such a node joins."""
        return {
            r.trial_id: waiting_notice(r.shape)
            for r in self._running.values()
            if not r.answered and not offered(r.shape, self._nodes)
        }

    def actor(self, trial_id: int) -> Any:
        """The actor handle of a running trial (None when not running here)."""
        running = self._running.get(trial_id)
        return running.actor if running is not None else None

    def shutdown(self) -> None:
        """Kill every actor; shut Ray down if this executor started it."""
        self._pending.clear()
        for trial_id in list(self._running):
            self.cancel(trial_id)
        for actors in self._idle.values():
            for actor in actors:
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
        return len(self._running) + sum(len(actors) for actors in self._idle.values())

    def _shape(self, request: TrialRequest) -> Shape:
        return shape_of(request.gpus, self.gpu_resource, self.gpus)

    def look_at_cluster(self, force: bool = False) -> None:
        """Every ``CLUSTER_SECONDS`` (or now): the alive nodes' resources, the cluster's GPUs,
        and the capacity they give the shapes in use (unless a capacity was given)."""
        now = time.monotonic()
        if not force and now - self._looked_at < CLUSTER_SECONDS:
            return
        self._looked_at = now
        nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
        self._nodes = [dict(n.get("Resources") or {}) for n in nodes if n.get("Alive")]
        totals: dict[str, float] = {}
        for node in self._nodes:
            for name, amount in node.items():
                totals[name] = totals.get(name, 0.0) + float(amount)
        self.gpus = totals.get(self.gpu_resource, 0.0)
        if self.requested_capacity is None:
            shapes = self._shapes or {shape_of(None, self.gpu_resource, self.gpus)}
            self.capacity = slots(shapes, totals)

    def _actor(self, shape: Shape) -> Any:
        """An idle actor of ``shape``, else a new one."""
        idle = self._idle.get(shape)
        if idle:
            return idle.pop()
        cls = self._classes.get(shape)
        if cls is None:
            options = shape.options()
            cls = self._classes[shape] = ray.remote(TrialActor).options(
                max_concurrency=2, **options
            )
        return cls.remote(self.decision_timeout)

    def _dispatch(self) -> None:
        """Start queued trials on idle actors, creating actors up to ``capacity``."""
        while self._pending and len(self._running) < self.capacity:
            trial_id, request, dataset, on_progress = self._pending.popleft()
            shape = self._shape(request)
            actor = self._actor(shape)
            run_ref = actor.run.remote(TrialJob(trial_id, request, dataset).to_line())
            running = _Running(trial_id, actor, shape, run_ref, on_progress, request.epochs)
            self._ask_progress(running)
            self._running[trial_id] = running

    def _make_room(self) -> None:
        """Idle actors hold their nodes' resources: when an actor that some node could host
        has waited to be placed for ``PLACEMENT_GRACE``, they go. (A trial given back when its
        node died gets a new actor while the cluster still counts the dead node; that actor
        must not wait forever behind an idle one once the survivors finish their trials. One
        that waits for a node to join keeps the idle actors.)"""
        if not self._idle:
            return
        now = time.monotonic()
        if any(
            not r.answered
            and now - r.dispatched > PLACEMENT_GRACE
            and offered(r.shape, self._nodes)
            for r in self._running.values()
        ):
            for actors in self._idle.values():
                for actor in actors:
                    self._kill(actor)
            self._idle.clear()

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
        self._idle.setdefault(running.shape, []).append(running.actor)
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
