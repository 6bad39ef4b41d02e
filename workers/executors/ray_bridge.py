"""The Ray driver in a process of its own: ``python -m workers.executors.ray_bridge``.

A Ray driver does not outlive its cluster: when the GCS stays unreachable the core worker ends
the driver's process. So the server hosts no driver; ``SupervisedRayExecutor`` starts this
bridge, which hosts a ``RayExecutor`` and speaks ``workers.executors.protocol`` lines, and starts a
new one when it dies.

stdin: ``TrialJob`` lines (run it), decision lines (the answer to a progress report),
``cancel T``; end of input: kill the actors and exit.
stdout: ``started`` (pid, capacity) once Ray answers, a ``heartbeat`` at least every
``--heartbeat`` seconds from the main loop (silence means the bridge hangs), per trial
``progress`` lines and then ``result`` or ``error`` (``retryable`` when the worker was lost);
``capacity`` when nodes joining or dying change it, ``waiting`` when a trial waits for a node
that can host it (and again, without a notice, when it no longer does).
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from nas.trial import EpochReport
from workers.executors.interface import Completion, ProgressCallback
from workers.executors.protocol import (
    Message,
    ProtocolError,
    TrialJob,
    is_job_line,
    parse_cancel,
    parse_decision,
)

if TYPE_CHECKING:
    from workers.executors.ray_actors import RayExecutor

# Seconds the core worker keeps retrying an unreachable GCS before it ends this process
# (Ray's default is 60); the supervisor notices the exit and waits for the cluster.
GCS_RECONNECT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"
GCS_RECONNECT_SECONDS = "20"
WAIT_SECONDS = 0.2  # one RayExecutor.wait while trials run


class Bridge:
    """Feeds stdin commands to a ``RayExecutor`` and writes its events to stdout."""

    def __init__(
        self,
        executor: RayExecutor,
        out: TextIO,
        heartbeat: float = 2.0,
        decision_timeout: float = 30.0,
    ) -> None:
        self.executor = executor
        self.out = out
        self.heartbeat = heartbeat
        self.decision_timeout = decision_timeout
        self.commands: queue.Queue[str | None] = queue.Queue()
        self._backlog: list[str] = []  # commands that arrived while a decision was awaited
        self._closed = False
        self._last_sent = 0.0
        self._epochs: dict[int, int] = {}  # trial id -> epochs it asked for
        self._capacity = executor.capacity  # as last sent
        self._waiting: dict[int, str] = {}  # trial id -> its notice, as last sent

    def send(self, message: Message) -> None:
        self.out.write(message.to_line())
        self.out.flush()
        self._last_sent = time.monotonic()

    def read_stdin(self, stream: TextIO) -> None:
        """Reader thread: stdin lines into ``commands``; None at the end of input."""
        for line in stream:
            self.commands.put(line)
        self.commands.put(None)

    def serve(self) -> None:
        """Run until stdin closes; then cancel everything left."""
        self.send(Message("started", pid=os.getpid(), capacity=self.executor.capacity))
        while not self._closed:
            self._handle_commands(block=self.executor.in_flight() == 0)
            if self.executor.in_flight():
                for completion in self.executor.wait(timeout=WAIT_SECONDS):
                    self._complete(completion)
            self._report_cluster()
            if time.monotonic() - self._last_sent >= self.heartbeat:
                self.send(Message("heartbeat"))
        self.executor.shutdown()

    def _report_cluster(self) -> None:
        """Tell the parent what changed: the capacity (nodes joined or died), and the trials
        that wait for a node that can host them (or no longer do)."""
        self.executor.look_at_cluster()
        capacity = self.executor.capacity
        if capacity != self._capacity:
            self._capacity = capacity
            self.send(Message("capacity", capacity=capacity))
        waiting = self.executor.waiting()
        for trial_id, notice in waiting.items():
            if self._waiting.get(trial_id) != notice:
                self.send(Message("waiting", trial_id, notice=notice))
        for trial_id in self._waiting.keys() - waiting.keys():
            if trial_id in self._epochs:  # still in flight: it waits no more
                self.send(Message("waiting", trial_id))
        self._waiting = waiting

    # ---- commands -------------------------------------------------------------------------

    def _handle_commands(self, block: bool) -> None:
        """Handle the commands put aside and all that wait; with ``block`` and none put aside,
        wait up to a heartbeat for the first."""
        lines, self._backlog = self._backlog, []
        wait = block and not lines
        while not self._closed:
            try:
                line = (
                    self.commands.get(timeout=self.heartbeat)
                    if wait
                    else self.commands.get_nowait()
                )
            except queue.Empty:
                break
            wait = False
            if line is None:
                self._closed = True
            else:
                lines.append(line)
        for line in lines:
            self._handle(line)

    def _handle(self, line: str) -> None:
        if not line.strip():
            return
        if is_job_line(line):
            try:
                job = TrialJob.from_line(line)
            except ProtocolError as exc:
                print(f"ray bridge: {exc}", file=sys.stderr)
                return
            self._epochs[job.trial_id] = job.request.epochs
            self.executor.submit(
                job.trial_id, job.request, job.dataset, self._progress_of(job.trial_id)
            )
            return
        cancelled = parse_cancel(line)
        if cancelled is not None:
            self._epochs.pop(cancelled, None)
            self.executor.cancel(cancelled)
        # a decision arriving here answers a report nobody waits for any more: dropped

    def _complete(self, completion: Completion) -> None:
        self._epochs.pop(completion.trial_id, None)
        if completion.error is not None:
            message = Message(
                "error", completion.trial_id, error=completion.error, retryable=completion.retryable
            )
        else:
            message = Message("result", completion.trial_id, result=completion.result)
        self.send(message)

    # ---- progress -------------------------------------------------------------------------

    def _progress_of(self, trial_id: int) -> ProgressCallback:
        def on_progress(report: EpochReport) -> bool:
            self.send(Message("progress", trial_id, report=report))
            if report.epoch >= self._epochs.get(trial_id, 0):
                return False  # the last epoch: the parent does not answer it
            return self._await_decision(trial_id, report.epoch)

        return on_progress

    def _await_decision(self, trial_id: int, epoch: int) -> bool:
        """The parent's answer to ``trial_id``'s report of ``epoch`` (go on if none comes)."""
        deadline = time.monotonic() + self.decision_timeout
        while not self._closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                line = self.commands.get(timeout=left)
            except queue.Empty:
                return False
            if line is None:
                self._closed = True
                return True
            decision = parse_decision(line)
            if decision is None:
                self._backlog.append(line)
            elif decision[0] == trial_id and decision[2] in (None, epoch):
                return decision[1]
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default=None, help="an existing Ray cluster")
    parser.add_argument("--num-cpus", type=int, default=None, help="a local Ray's CPUs")
    parser.add_argument("--capacity", type=int, default=None)
    parser.add_argument("--heartbeat-timeout", type=float, default=300.0)
    parser.add_argument("--heartbeat", type=float, default=2.0)
    parser.add_argument(
        "--gpu-resource", default=None, help="the Ray resource trials' GPUs are asked as"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault(GCS_RECONNECT_ENV, GCS_RECONNECT_SECONDS)
    # Protocol lines get the original stdout to themselves; whatever else prints (Ray's
    # forwarded worker logs, C++ code writing to fd 1) goes to stderr.
    protocol_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from workers.executors.ray_actors import RayExecutor

    executor = RayExecutor(
        address=args.address,
        num_cpus=args.num_cpus,
        capacity=args.capacity,
        heartbeat_timeout=args.heartbeat_timeout,
        gpu_resource=args.gpu_resource,
    )
    bridge = Bridge(executor, protocol_out, heartbeat=args.heartbeat)
    threading.Thread(
        target=bridge.read_stdin, args=(sys.stdin,), daemon=True, name="bridge-stdin"
    ).start()
    bridge.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
