"""Trials in a pool of local worker processes (``python -m workers.executors.trial_process``).

Up to ``capacity`` workers, each in its own session, started on demand and reused: a worker
imports torch and loads the job's data once, then serves trial after trial, so the scheduling
overhead of a trial is a few milliseconds, not a process start. A reader thread per worker
parses its stdout (``workers.executors.protocol``) into one queue, and ``wait`` handles the
messages in the caller's thread: progress goes to ``on_progress`` (whose answer is written back), a
result or a reported error completes the trial and frees the worker, and a worker that exits or goes
silent for ``heartbeat_timeout`` seconds while it runs a trial completes that trial as
retryable. Submissions beyond ``capacity`` wait in order for a free worker. A worker is retired
(stdin closed, it exits) after ``max_trials_per_worker`` trials, bounding what it can leak.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from nas.job import DatasetRef
from nas.threads import THREADS_ENV
from nas.trial import TrialRequest
from workers.executors.interface import Assignment, Completion, ProgressCallback
from workers.executors.priority import NICE_ENV
from workers.executors.processes import (
    Child,
    ChildExited,
    StderrTail,
    child_env,
    close_stdin,
    file_size,
    kill_group,
    read_messages,
    read_since,
    write_line,
)
from workers.executors.protocol import Message, TrialJob, decision_line


@dataclass(eq=False)
class _Worker(Child):
    current: Assignment | None = None
    served: int = 0


class LocalExecutor:
    """Runs up to ``capacity`` trials at once in reused worker processes.

    ``env`` is added to the workers' environment. Unless it (or this process) sets
    ``NAS_TORCH_THREADS``, each worker gets ``cores // capacity`` torch threads. ``nice``: the
    workers' OS niceness (``workers.executors.priority``; None: ``NAS_WORKER_NICE`` or its
    default), so training yields the CPU to the server that runs them. ``log_dir``:
    append each worker's stderr to ``log_dir/worker-<pid>.log`` (default: a temporary file,
    quoted in the error of a worker that dies).
    """

    decision_timeout = 30.0  # longest a worker waits for the answer to a progress report

    def __init__(
        self,
        capacity: int = 1,
        heartbeat_timeout: float = 120.0,
        heartbeat_interval: float = 5.0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        max_trials_per_worker: int = 50,
        nice: int | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if max_trials_per_worker < 1:
            raise ValueError(f"max_trials_per_worker must be >= 1, got {max_trials_per_worker}")
        self.capacity = capacity
        self.heartbeat_timeout = heartbeat_timeout
        self.heartbeat_interval = heartbeat_interval
        self.python = python
        self.env = dict(env or {})
        if nice is not None:
            self.env[NICE_ENV] = str(nice)
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.max_trials_per_worker = max_trials_per_worker
        self._workers: list[_Worker] = []
        self._pending: deque[Assignment] = deque()
        self._queue: queue.Queue[tuple[_Worker, Message | ChildExited]] = queue.Queue()

    # ---- Executor protocol ----------------------------------------------------------------

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        """Give the trial to a free worker, or queue it (a running one with its id is killed)."""
        self.cancel(trial_id)
        self._pending.append(Assignment(trial_id, request, dataset, on_progress))
        self._dispatch()

    def wait(self, timeout: float | None = None) -> list[Completion]:
        """Handle the workers' messages until one or more trials complete or ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        completions: list[Completion] = []
        while self.in_flight():
            completions.extend(self._reap_silent())
            if completions:
                block_for = 0.0
            else:
                block_for = self._next_silence_in()
                if deadline is not None:
                    block_for = min(block_for, deadline - time.monotonic())
            try:
                if block_for > 0:
                    worker, item = self._queue.get(timeout=block_for)
                else:
                    worker, item = self._queue.get_nowait()
            except queue.Empty:
                if completions or (deadline is not None and time.monotonic() >= deadline):
                    break
                continue
            completion = self._handle(worker, item)
            if completion is not None:
                completions.append(completion)
                self._dispatch()
        return completions

    def cancel(self, trial_id: int) -> None:
        """Drop the trial (queued) or kill its worker (running): no completion follows."""
        self._pending = deque(a for a in self._pending if a.trial_id != trial_id)
        worker = self._worker_of(trial_id)
        if worker is not None:
            self._discard(worker)
            self._dispatch()

    def in_flight(self) -> int:
        return len(self._pending) + sum(w.current is not None for w in self._workers)

    # ---- extras ---------------------------------------------------------------------------

    def pid(self, trial_id: int) -> int | None:
        """The pid of the worker running ``trial_id`` (None when it is not running here)."""
        worker = self._worker_of(trial_id)
        return worker.process.pid if worker is not None else None

    def workers(self) -> int:
        """Worker processes alive now (busy or idle)."""
        return len(self._workers)

    def shutdown(self) -> None:
        """Kill every worker; nothing completes."""
        self._pending.clear()
        for worker in list(self._workers):
            self._discard(worker)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- internals ------------------------------------------------------------------------

    def _worker_of(self, trial_id: int) -> _Worker | None:
        return next(
            (w for w in self._workers if w.current is not None and w.current.trial_id == trial_id),
            None,
        )

    def _dispatch(self) -> None:
        """Hand queued trials to idle workers, starting workers up to ``capacity``."""
        while self._pending:
            worker = next((w for w in self._workers if w.current is None), None)
            if worker is None:
                if len(self._workers) >= self.capacity:
                    return
                worker = self._spawn()
            assignment = self._pending.popleft()
            worker.current = assignment
            worker.served += 1
            worker.last_seen = time.monotonic()
            worker.log_from = self._log_size(worker)
            job = TrialJob(assignment.trial_id, assignment.request, assignment.dataset)
            write_line(worker.process, job.to_line())

    def _spawn(self) -> _Worker:
        stderr = self._stderr_file()
        process = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=self._worker_env(),
            start_new_session=True,
        )
        worker = _Worker(process, stderr)
        self._workers.append(worker)
        threading.Thread(
            target=read_messages,
            args=(worker, self._queue),
            daemon=True,
            name=f"worker-{process.pid}-reader",
        ).start()
        return worker

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and forget it (its pending messages are ignored)."""
        if worker in self._workers:
            self._workers.remove(worker)
        kill_group(worker.process)
        close_stdin(worker.process)

    def _retire(self, worker: _Worker) -> None:
        """An idle worker that has served its share: closing stdin makes it exit."""
        self._workers.remove(worker)
        close_stdin(worker.process)

    def _command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "workers.executors.trial_process",
            "--heartbeat",
            str(self.heartbeat_interval),
            "--decision-timeout",
            str(self.decision_timeout),
        ]

    def _worker_env(self) -> dict[str, str]:
        env = child_env(self.env)
        if THREADS_ENV not in env:
            cores = len(os.sched_getaffinity(0))
            env[THREADS_ENV] = str(max(1, cores // self.capacity))
        return env

    def _stderr_file(self) -> IO[bytes]:
        if self.log_dir is None:
            return tempfile.TemporaryFile()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"worker-{time.time_ns()}.log", "a+b")

    def _handle(self, worker: _Worker, item: Message | ChildExited) -> Completion | None:
        if worker not in self._workers:
            return None  # killed or retired: whatever it said no longer counts
        current = worker.current
        if isinstance(item, ChildExited):
            self._workers.remove(worker)
            if current is None:
                return None
            error = f"worker exited with code {item.code}"
            if item.stderr:
                error += f"; stderr:\n{item.stderr}"
            return Completion(
                current.trial_id, None, error, retryable=True, log=item.log or item.stderr
            )
        if current is None or item.trial_id not in (None, current.trial_id):
            return None  # heartbeats, and nothing else arrives between trials
        if item.type == "progress" and item.report is not None:
            stop = bool(current.on_progress(item.report))
            if item.report.epoch < current.request.epochs:
                write_line(worker.process, decision_line(current.trial_id, stop, item.report.epoch))
        elif item.type in ("result", "error"):
            worker.current = None
            failed = self._trial_log(worker) if item.type == "error" else None
            if worker.served >= self.max_trials_per_worker:
                self._retire(worker)
            return Completion(current.trial_id, item.result, item.error, log=failed)
        return None

    @staticmethod
    def _log_size(worker: _Worker) -> int:
        return file_size(worker.stderr) if not isinstance(worker.stderr, StderrTail) else 0

    @staticmethod
    def _trial_log(worker: _Worker) -> str | None:
        """What the worker wrote to stderr since its current trial began (bounded)."""
        if isinstance(worker.stderr, StderrTail):
            return None
        return read_since(worker.stderr, worker.log_from) or None

    def _reap_silent(self) -> list[Completion]:
        now = time.monotonic()
        completions = []
        for worker in list(self._workers):
            if now - worker.last_seen <= self.heartbeat_timeout:
                continue
            current = worker.current
            log = self._trial_log(worker)
            self._discard(worker)
            if current is not None:
                error = f"worker silent for {self.heartbeat_timeout:g}s"
                completion = Completion(current.trial_id, None, error, retryable=True, log=log)
                completions.append(completion)
        return completions

    def _next_silence_in(self) -> float:
        """Seconds until the first worker would count as silent (at least a little)."""
        if not self._workers:
            return 0.05  # only queued trials: look again soon
        first = min(worker.last_seen for worker in self._workers)
        return max(0.01, first + self.heartbeat_timeout - time.monotonic() + 0.01)
