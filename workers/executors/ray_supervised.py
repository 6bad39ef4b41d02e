"""Trials on Ray through a supervised bridge process, so the server outlives its Ray cluster.

``SupervisedRayExecutor`` starts ``python -m workers.executors.ray_bridge`` (the Ray driver,
hosting a
``RayExecutor``) and forwards trials to it over ``workers.executors.protocol`` lines. When the
bridge exits, never starts, or goes silent (the cluster is gone and the driver with it), its running
trials complete as retryable ("Ray cluster lost: ..."), and the executor waits: ``problem`` says
why, submissions queue here, and a new bridge is started with backoff (1 s doubling up to
``max_backoff``) until one connects; then the queue goes on. Nothing that finished is lost:
completions reach the runner (and the database) as they arrive.

The bridge's ``capacity`` follows the cluster (nodes joining or dying), and so does this
executor's unless one was given; ``waiting`` names the trials that wait for a node that can host
them, with what they wait for ("a node with 0.25 GPU").
"""

from __future__ import annotations

import contextlib
import logging
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from nas.job import DatasetRef
from nas.trial import TrialRequest
from workers.executors.backoff import ExponentialBackoff
from workers.executors.interface import Assignment, Completion, ProgressCallback
from workers.executors.processes import (
    Child,
    ChildExited,
    StderrTail,
    child_env,
    close_stdin,
    kill_group,
    read_messages,
    write_line,
)
from workers.executors.protocol import Message, TrialJob, cancel_line, decision_line

log = logging.getLogger("nas.ray")
POLL_SECONDS = 0.2
PROBLEM_LIMIT = 300  # characters of the reason kept in ``problem``


@dataclass(eq=False)
class _Bridge(Child):
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class SupervisedRayExecutor:
    """Runs trials on Ray (``address``, else a local instance with ``num_cpus``) from a child
    process that is restarted whenever it dies.

    ``capacity`` defaults to what the bridge reports (the cluster's GPUs, else CPUs); until a
    bridge has answered it is ``capacity`` or 1. The constructor waits up to ``start_timeout``
    for the first bridge and, failing that, starts in the waiting state instead of raising.
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        capacity: int | None = None,
        heartbeat_timeout: float = 300.0,
        *,
        gpu_resource: str | None = None,
        start_timeout: float = 120.0,
        silence_timeout: float = 90.0,
        max_backoff: float = 30.0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.requested_capacity = capacity
        self.capacity = capacity or 1
        self.heartbeat_timeout = heartbeat_timeout
        self.gpu_resource = gpu_resource
        self.start_timeout = start_timeout
        self.silence_timeout = silence_timeout
        self.max_backoff = max_backoff
        self.python = python
        self.env = dict(env or {})
        self.problem: str | None = None
        """Why no bridge is connected now (None while one is, or the first is starting)."""
        self.restarts = 0
        self._bridge: _Bridge | None = None
        self._backoff = ExponentialBackoff(1.0, max_backoff)
        self._next_start = 0.0
        self._queue: deque[Assignment] = deque()
        self._sent: dict[int, Assignment] = {}
        self._waiting: dict[int, str] = {}  # trial id -> what it waits for (bridge's notice)
        self._events: queue.Queue[tuple[_Bridge, Message | ChildExited]] = queue.Queue()
        self._start_bridge()
        self._await_first(start_timeout)

    # ---- Executor protocol ----------------------------------------------------------------

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        """Queue the trial; it is sent as soon as a connected bridge has room."""
        self.cancel(trial_id)
        self._queue.append(Assignment(trial_id, request, dataset, on_progress))
        self._dispatch()

    def wait(self, timeout: float | None = None) -> list[Completion]:
        """Handle the bridge's messages until trials complete or ``timeout`` passes; keep a
        bridge running (restarting a lost one) meanwhile."""
        deadline = None if timeout is None else time.monotonic() + timeout
        completions: list[Completion] = []
        while self.in_flight():
            completions.extend(self._supervise())
            block = 0.0 if completions else POLL_SECONDS
            if deadline is not None:
                block = min(block, deadline - time.monotonic())
            try:
                bridge, item = self._events.get(timeout=max(0.0, block))
            except queue.Empty:
                if completions or (deadline is not None and time.monotonic() >= deadline):
                    break
                continue
            completions.extend(self._handle(bridge, item))
        return completions

    def cancel(self, trial_id: int) -> None:
        """Drop the trial, queued or running: no completion follows."""
        self._queue = deque(a for a in self._queue if a.trial_id != trial_id)
        self._waiting.pop(trial_id, None)
        if self._sent.pop(trial_id, None) is not None and self._bridge is not None:
            write_line(self._bridge.process, cancel_line(trial_id))
            self._dispatch()

    def in_flight(self) -> int:
        return len(self._queue) + len(self._sent)

    # ---- extras ---------------------------------------------------------------------------

    def waiting(self) -> dict[int, str]:
        """Trials sent to the bridge that wait for a node able to host them, with what they wait
        for ("a node with 0.25 GPU")."""
        return dict(self._waiting)

    @property
    def connected(self) -> bool:
        return self._bridge is not None and self._bridge.ready

    def bridge_pid(self) -> int | None:
        """The pid of the bridge process (None while there is none)."""
        return self._bridge.process.pid if self._bridge is not None else None

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stop the bridge (it kills its actors and a Ray it started); nothing completes."""
        self._queue.clear()
        self._sent.clear()
        self._waiting.clear()
        bridge, self._bridge = self._bridge, None
        if bridge is None:
            return
        close_stdin(bridge.process)
        with contextlib.suppress(subprocess.TimeoutExpired):
            bridge.process.wait(timeout)
        kill_group(bridge.process)

    def __enter__(self) -> SupervisedRayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- the bridge -----------------------------------------------------------------------

    def _command(self) -> list[str]:
        command = [self.python, "-m", "workers.executors.ray_bridge"]
        command += ["--heartbeat-timeout", str(self.heartbeat_timeout)]
        if self.address is not None:
            command += ["--address", self.address]
        if self.num_cpus is not None:
            command += ["--num-cpus", str(self.num_cpus)]
        if self.requested_capacity is not None:
            command += ["--capacity", str(self.requested_capacity)]
        if self.gpu_resource is not None:
            command += ["--gpu-resource", self.gpu_resource]
        return command

    def _start_bridge(self) -> None:
        process = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(self.env),
            start_new_session=True,
        )
        assert process.stderr is not None
        bridge = _Bridge(process, StderrTail(process.stderr))
        self._bridge = bridge
        threading.Thread(
            target=read_messages,
            args=(bridge, self._events),
            daemon=True,
            name=f"ray-bridge-{process.pid}",
        ).start()

    def _await_first(self, timeout: float) -> None:
        """Handle the first bridge's messages until it is ready, is lost, or ``timeout``."""
        deadline = time.monotonic() + timeout
        while self._bridge is not None and not self._bridge.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                self._lose(f"the Ray bridge did not start within {self.start_timeout:g}s")
                return
            try:
                bridge, item = self._events.get(timeout=left)
            except queue.Empty:
                continue
            self._handle(bridge, item)

    def _supervise(self) -> list[Completion]:
        """Start a bridge when none runs and the backoff has passed; give up on one that does
        not start or has gone silent."""
        now = time.monotonic()
        bridge = self._bridge
        if bridge is None:
            if now >= self._next_start:
                self.restarts += 1
                log.info("starting a new Ray bridge (restart %d)", self.restarts)
                self._start_bridge()
            return []
        if not bridge.ready and now - bridge.started_at > self.start_timeout:
            return self._lose(f"the Ray bridge did not start within {self.start_timeout:g}s")
        if bridge.ready and now - bridge.last_seen > self.silence_timeout:
            return self._lose(f"the Ray bridge was silent for {self.silence_timeout:g}s")
        return []

    def _handle(self, bridge: _Bridge, item: Message | ChildExited) -> list[Completion]:
        if bridge is not self._bridge:
            return []  # a bridge already given up on
        if isinstance(item, ChildExited):
            detail = _last_line(item.stderr)
            reason = f"the Ray bridge exited with code {item.code}"
            return self._lose(f"{reason}: {detail}" if detail else reason, item.stderr)
        if item.type == "started":
            bridge.ready = True
            if item.capacity is not None:
                self.capacity = item.capacity
            if self.problem is not None:
                log.warning("Ray is back (bridge pid %s): resuming", item.pid)
            self.problem = None
            self._backoff.reset()
            self._dispatch()
            return []
        if item.type == "capacity" and item.capacity is not None:
            if self.requested_capacity is None:
                self.capacity = item.capacity
                self._dispatch()
            return []
        assignment = self._sent.get(item.trial_id) if item.trial_id is not None else None
        if assignment is None:
            return []  # heartbeats, and the words of cancelled trials
        if item.type == "progress" and item.report is not None:
            stop = bool(assignment.on_progress(item.report))
            if item.report.epoch < assignment.request.epochs:
                decision = decision_line(assignment.trial_id, stop, item.report.epoch)
                write_line(bridge.process, decision)
            return []
        if item.type == "waiting":
            if item.notice is None:
                self._waiting.pop(assignment.trial_id, None)
            else:
                self._waiting[assignment.trial_id] = item.notice
            return []
        if item.type in ("result", "error"):
            del self._sent[assignment.trial_id]
            self._waiting.pop(assignment.trial_id, None)
            self._dispatch()
            return [Completion(assignment.trial_id, item.result, item.error, item.retryable)]
        return []

    def _lose(self, reason: str, stderr: str = "") -> list[Completion]:
        """Give up on the current bridge: its trials complete as retryable; wait, then retry."""
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            kill_group(bridge.process)
            close_stdin(bridge.process)
        first = self.problem is None
        self.problem = f"Ray cluster unreachable: {reason}"[:PROBLEM_LIMIT]
        if first:
            log.warning("%s; trials wait until Ray answers again", self.problem)
        self._next_start = time.monotonic() + self._backoff.next_delay()
        error = f"Ray cluster lost: {reason}"
        if stderr:
            error += f"; bridge stderr:\n{stderr}"
        lost = [Completion(t, None, error, retryable=True, charged=False) for t in self._sent]
        self._sent.clear()
        self._waiting.clear()
        return lost

    def _dispatch(self) -> None:
        bridge = self._bridge
        if bridge is None or not bridge.ready:
            return
        while self._queue and len(self._sent) < self.capacity:
            assignment = self._queue.popleft()
            self._sent[assignment.trial_id] = assignment
            job = TrialJob(assignment.trial_id, assignment.request, assignment.dataset)
            write_line(bridge.process, job.to_line())
