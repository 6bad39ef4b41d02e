"""One trial in a subprocess: ``python -m workers.trial_process [--heartbeat S]``.

Reads a ``TrialJob`` from stdin's first line, trains it with ``run_trial`` and writes JSON lines
(``workers.protocol``) to stdout: ``started``, ``progress`` per epoch, ``heartbeat`` every
``--heartbeat`` seconds, then ``result`` or ``error``. Exits 0 once it has reported, also a
failed trial. After each epoch but the last it waits (at most ``--decision-timeout`` seconds)
for the parent's ``continue N`` / ``stop N`` line, so a pruning decision applies to the epoch it
was made on. Anything else the trainer prints goes to stderr: stdout carries only the protocol.

``NAS_TORCH_THREADS`` sets torch's CPU threads unless the request names its own.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import traceback
from typing import IO

from nas.trial import EpochReport, TrialRequest
from workers.protocol import Message, ProtocolError, TrialJob, parse_decision

THREADS_ENV = "NAS_TORCH_THREADS"
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
    value = os.environ.get(THREADS_ENV, "").strip()
    if not value or request.options.threads is not None:
        return request
    threads = max(1, int(value))
    options = request.options.model_copy(update={"threads": threads})
    return request.model_copy(update={"options": options})


def summarize(exc: BaseException) -> str:
    """The trial's traceback summary (``workers.executor.error_summary`` when importable)."""
    try:
        from workers.executor import error_summary

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


def _read_decisions(stdin: IO[str], gate: DecisionGate) -> None:
    for line in stdin:
        decision = parse_decision(line)
        if decision is not None:
            gate.answer(*decision)
    gate.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.trial_process")
    parser.add_argument("--heartbeat", type=float, default=5.0, help="seconds between heartbeats")
    parser.add_argument(
        "--decision-timeout",
        type=float,
        default=30.0,
        help="longest wait for the parent's continue/stop after an epoch",
    )
    args = parser.parse_args(argv)

    channel = _Channel(_protocol_stream())
    channel.send(Message("started", pid=os.getpid()))
    if args.heartbeat > 0:
        threading.Thread(
            target=_heartbeat, args=(channel, args.heartbeat), daemon=True, name="heartbeat"
        ).start()

    line = sys.stdin.readline()
    if not line:
        return 2  # no job: the parent closed stdin before writing
    try:
        job = TrialJob.from_line(line)
    except ProtocolError as exc:
        channel.send(Message("error", error=str(exc)))
        return 0
    gate = DecisionGate(args.decision_timeout)
    threading.Thread(
        target=_read_decisions, args=(sys.stdin, gate), daemon=True, name="decisions"
    ).start()

    try:
        from workers.trial_entry import run_trial  # torch: imported after "started"

        request = with_env_threads(job.request)

        def on_epoch(report: EpochReport) -> bool:
            channel.send(Message("progress", report=report))
            return gate.wait(report.epoch, last=report.epoch >= request.epochs)

        result = run_trial(request, job.dataset, on_epoch)
    except Exception as exc:  # the trial failed: report it, this process did its job
        channel.send(Message("error", error=summarize(exc)))
        return 0
    channel.send(Message("result", result=result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
