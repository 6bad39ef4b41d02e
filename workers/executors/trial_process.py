"""A trial worker process: ``python -m workers.executors.trial_process [--heartbeat S]
[--max-trials N]``.

Serves trials one after another (``workers.executors.protocol``): reads a ``TrialJob`` line from
stdin, trains it with ``run_trial`` and writes ``progress`` per epoch then ``result`` or ``error``
to stdout, and ``heartbeat`` every ``--heartbeat`` seconds, busy or idle. The data loaded for one
trial stays cached for the next, and torch is imported once: a warm worker starts a trial in
milliseconds. After each epoch but the last it waits (at most ``--decision-timeout`` seconds)
for the parent's ``continue T N`` / ``stop T N`` line, so a pruning decision applies to the
epoch it was made on. It exits when stdin closes (or after ``--max-trials`` trials). Anything
else the trainer prints goes to stderr: stdout carries only the protocol.

``NAS_TORCH_THREADS`` sets torch's CPU threads unless the request names its own;
``NAS_WORKER_NICE`` the worker's OS niceness (``workers.executors.priority``).
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
import traceback
from typing import IO

from nas.threads import env_threads
from nas.trial import EpochReport, TrialRequest
from workers.executors.priority import lower_priority
from workers.executors.protocol import Message, ProtocolError, TrialJob, is_job_line, parse_decision

BROKEN_PIPE_EXIT = 3  # the parent went away: nobody to report to


class DecisionGate:
    """Pruning decisions made elsewhere (another process, another thread) for a running trial.

    The trainer's ``on_epoch`` calls ``wait(epoch)``, which blocks until ``answer`` covers that
    epoch, ``close`` is called or ``timeout`` passes, and returns whether to stop.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._cond = threading.Condition()
        self._stop = False
        self._answered = 0
        self._closed = False

    def answer(self, stop: bool, epoch: int | None = None) -> None:
        """Record a decision; ``epoch`` None: stop at the next epoch, whichever it is."""
        with self._cond:
            self._stop = self._stop or stop
            if epoch is not None:
                self._answered = max(self._answered, epoch)
            self._cond.notify_all()

    def close(self) -> None:
        """No more answers will come: ``wait`` stops waiting."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def stopped(self) -> bool:
        return self._stop

    def wait(self, epoch: int, last: bool = False) -> bool:
        """Whether to stop after ``epoch``; ``last``: nothing to decide, do not wait."""
        with self._cond:
            if not last:
                self._cond.wait_for(
                    lambda: self._stop or self._closed or self._answered >= epoch, self.timeout
                )
            return self._stop


def with_env_threads(request: TrialRequest) -> TrialRequest:
    """``request`` with ``NAS_TORCH_THREADS`` applied when it names no thread count itself."""
    threads = env_threads()
    if threads is None or request.options.threads is not None:
        return request
    options = request.options.model_copy(update={"threads": threads})
    return request.model_copy(update={"options": options})


def summarize(exc: BaseException) -> str:
    """The trial's traceback summary (``workers.executors.interface.error_summary`` when
    importable)."""
    try:
        from workers.executors.interface import error_summary

        return error_summary(exc)
    except Exception:
        return "".join(traceback.format_exception(exc))[-4000:]


class _Channel:
    """Writes protocol lines; a closed pipe means the parent is gone, so the process exits."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        line = message.to_line()
        with self._lock:
            try:
                self._stream.write(line)
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError):
                os._exit(BROKEN_PIPE_EXIT)


def _protocol_stream() -> IO[str]:
    """A private copy of stdout for the protocol; fd 1 then points at stderr."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def _heartbeat(channel: _Channel, interval: float) -> None:
    while True:
        time.sleep(interval)
        channel.send(Message("heartbeat"))


class TrialInbox:
    """What the parent sends a worker: trial jobs (queued) and decisions (for the running trial).

    ``read(stdin)`` runs on a thread of its own; decisions naming another trial than the one
    running (late answers to a finished trial) are dropped.
    """

    def __init__(self, decision_timeout: float) -> None:
        self.decision_timeout = decision_timeout
        self.jobs: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._current: tuple[int, DecisionGate] | None = None
        self._closed = False

    def begin(self, trial_id: int) -> DecisionGate:
        """A fresh gate for the trial about to run."""
        gate = DecisionGate(self.decision_timeout)
        with self._lock:
            self._current = (trial_id, gate)
            if self._closed:
                gate.close()
        return gate

    def decide(self, trial_id: int, stop: bool, epoch: int | None) -> None:
        with self._lock:
            if self._current is not None and self._current[0] == trial_id:
                self._current[1].answer(stop, epoch)

    def read(self, stdin: IO[str]) -> None:
        for line in stdin:
            if is_job_line(line):
                self.jobs.put(line)
            elif (decision := parse_decision(line)) is not None:
                self.decide(*decision)
        with self._lock:  # stdin closed: no more jobs or answers
            self._closed = True
            if self._current is not None:
                self._current[1].close()
        self.jobs.put(None)


def serve_one(line: str, channel: _Channel, inbox: TrialInbox) -> None:
    """Run one ``TrialJob`` line and report its outcome (a failed trial is reported too)."""
    try:
        job = TrialJob.from_line(line)
    except ProtocolError as exc:
        channel.send(Message("error", error=str(exc)))
        return
    gate = inbox.begin(job.trial_id)
    try:
        from workers.executors.trial_entry import run_trial  # torch: imported after "started"

        request = with_env_threads(job.request)

        def on_epoch(report: EpochReport) -> bool:
            channel.send(Message("progress", job.trial_id, report=report))
            return gate.wait(report.epoch, last=report.epoch >= request.epochs)

        result = run_trial(request, job.dataset, on_epoch)
    except Exception as exc:  # the trial failed: report it, this worker goes on
        # the whole traceback to stderr first: the parent keeps it with the trial's log
        traceback.print_exception(exc, file=sys.stderr)
        sys.stderr.flush()
        channel.send(Message("error", job.trial_id, error=summarize(exc)))
        return
    channel.send(Message("result", job.trial_id, result=result))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.executors.trial_process")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between heartbeats")
    parser.add_argument(
        "--decision-timeout",
        type=float,
        default=30.0,
        help="longest wait for the parent's continue/stop after an epoch",
    )
    parser.add_argument(
        "--max-trials", type=int, default=0, help="exit after this many trials (0: no limit)"
    )
    args = parser.parse_args(argv)

    lower_priority()  # NAS_WORKER_NICE: before any thread starts (they inherit it)
    channel = _Channel(_protocol_stream())
    channel.send(Message("started", pid=os.getpid()))
    if args.heartbeat > 0:
        threading.Thread(
            target=_heartbeat, args=(channel, args.heartbeat), daemon=True, name="heartbeat"
        ).start()
    inbox = TrialInbox(args.decision_timeout)
    threading.Thread(target=inbox.read, args=(sys.stdin,), daemon=True, name="inbox").start()
    served = 0
    while (line := inbox.jobs.get()) is not None:
        serve_one(line, channel, inbox)
        served += 1
        if args.max_trials and served >= args.max_trials:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
