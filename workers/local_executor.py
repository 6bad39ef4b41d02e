"""Trials in local subprocesses (``python -m workers.trial_process``): tests and small machines.

Each submission spawns one child in its own session; a reader thread per child parses its
stdout (``workers.protocol``) into one queue, and ``wait`` handles the messages in the caller's
thread: progress goes to ``on_progress`` (whose answer is written back to the child), a result
or a reported error completes the trial, and a child that exits without reporting or goes
silent for ``heartbeat_timeout`` seconds completes it as retryable.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from nas.job import DatasetRef
from nas.trial import TrialRequest
from workers.executor import Completion, ProgressCallback
from workers.protocol import Message, ProtocolError, TrialJob, decision_line
from workers.trial_process import THREADS_ENV

_ROOT = Path(__file__).resolve().parents[1]
STDERR_TAIL = 2000  # characters of the child's stderr quoted when it dies


@dataclass(frozen=True)
class _Exited:
    """The child's stdout closed and it exited with ``code``; ``stderr`` is its tail."""

    code: int
    stderr: str


@dataclass(eq=False)
class _Child:
    trial_id: int
    process: subprocess.Popen[bytes]
    on_progress: ProgressCallback
    epochs: int
    stderr: IO[bytes]
    last_seen: float = field(default_factory=time.monotonic)
    pid: int | None = None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it leads its own session)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _tail(stream: IO[bytes], limit: int = STDERR_TAIL) -> str:
    try:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - limit))
        return stream.read().decode("utf-8", errors="replace").strip()
    except (OSError, ValueError):
        return ""


class LocalExecutor:
    """Runs up to ``capacity`` trials at once, each in its own Python subprocess.

    ``env`` is added to the children's environment. Unless it (or this process) sets
    ``NAS_TORCH_THREADS``, each child gets ``cores // capacity`` torch threads. ``log_dir``:
    append each child's stderr to ``log_dir/trial-<id>.log`` (default: a temporary file, quoted
    in the error of a child that dies).
    """

    decision_timeout = 30.0  # longest a child waits for the answer to a progress report

    def __init__(
        self,
        capacity: int = 1,
        heartbeat_timeout: float = 120.0,
        heartbeat_interval: float = 5.0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.heartbeat_timeout = heartbeat_timeout
        self.heartbeat_interval = heartbeat_interval
        self.python = python
        self.env = dict(env or {})
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self._children: dict[int, _Child] = {}
        self._queue: queue.Queue[tuple[_Child, Message | _Exited]] = queue.Queue()

    # ---- Executor protocol ----------------------------------------------------------------

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        """Start a child for the trial (a running one with the same id is killed first)."""
        self.cancel(trial_id)
        stderr = self._stderr_file(trial_id)
        process = subprocess.Popen(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=self._child_env(),
            start_new_session=True,
        )
        child = _Child(trial_id, process, on_progress, request.epochs, stderr)
        self._children[trial_id] = child
        threading.Thread(
            target=self._read, args=(child,), daemon=True, name=f"trial-{trial_id}-reader"
        ).start()
        self._send(child, TrialJob(trial_id, request, dataset).to_line())

    def wait(self, timeout: float | None = None) -> list[Completion]:
        """Handle the children's messages until one or more trials complete or ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        completions: list[Completion] = []
        while self._children:
            completions.extend(self._reap_silent())
            if completions:
                block_for = 0.0
            else:
                block_for = self._next_silence_in()
                if deadline is not None:
                    block_for = min(block_for, deadline - time.monotonic())
            try:
                if block_for > 0:
                    child, item = self._queue.get(timeout=block_for)
                else:
                    child, item = self._queue.get_nowait()
            except queue.Empty:
                if completions or (deadline is not None and time.monotonic() >= deadline):
                    break
                continue
            completion = self._handle(child, item)
            if completion is not None:
                completions.append(completion)
        return completions

    def cancel(self, trial_id: int) -> None:
        """Kill the trial's child and forget it: no completion follows."""
        child = self._children.pop(trial_id, None)
        if child is not None:
            _kill_group(child.process)
            self._close_stdin(child)

    def in_flight(self) -> int:
        return len(self._children)

    # ---- extras ---------------------------------------------------------------------------

    def pid(self, trial_id: int) -> int | None:
        """The child's pid of a running trial (None when not running here)."""
        child = self._children.get(trial_id)
        return child.process.pid if child is not None else None

    def shutdown(self) -> None:
        """Kill every child; nothing completes."""
        for trial_id in list(self._children):
            self.cancel(trial_id)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ---- internals ------------------------------------------------------------------------

    def _command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "workers.trial_process",
            "--heartbeat",
            str(self.heartbeat_interval),
            "--decision-timeout",
            str(self.decision_timeout),
        ]

    def _child_env(self) -> dict[str, str]:
        env = {**os.environ, **self.env}
        path = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(_ROOT) if not path else f"{_ROOT}{os.pathsep}{path}"
        if THREADS_ENV not in env:
            cores = len(os.sched_getaffinity(0))
            env[THREADS_ENV] = str(max(1, cores // self.capacity))
        return env

    def _stderr_file(self, trial_id: int) -> IO[bytes]:
        if self.log_dir is None:
            return tempfile.TemporaryFile()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return open(self.log_dir / f"trial-{trial_id}.log", "a+b")

    def _read(self, child: _Child) -> None:
        """Reader thread: parse stdout lines into the queue; then the exit code."""
        stdout = child.process.stdout
        assert stdout is not None
        with stdout:
            for line in stdout:
                child.last_seen = time.monotonic()
                try:
                    message = Message.from_line(line)
                except ProtocolError:
                    continue  # a stray line is a sign of life, nothing more
                self._queue.put((child, message))
        code = child.process.wait()
        with child.stderr:
            tail = _tail(child.stderr)
        self._queue.put((child, _Exited(code, tail)))

    def _handle(self, child: _Child, item: Message | _Exited) -> Completion | None:
        if self._children.get(child.trial_id) is not child:
            return None  # cancelled, already completed or superseded by a resubmission
        if isinstance(item, _Exited):
            del self._children[child.trial_id]
            error = f"worker exited with code {item.code}"
            if item.stderr:
                error += f"; stderr:\n{item.stderr}"
            return Completion(child.trial_id, None, error, retryable=True)
        if item.type == "started":
            child.pid = item.pid
        elif item.type == "progress" and item.report is not None:
            stop = bool(child.on_progress(item.report))
            if item.report.epoch < child.epochs or stop:
                self._send(child, decision_line(stop, item.report.epoch))
        elif item.type in ("result", "error"):
            del self._children[child.trial_id]
            self._close_stdin(child)
            return Completion(child.trial_id, item.result, item.error)
        return None

    def _reap_silent(self) -> list[Completion]:
        now = time.monotonic()
        completions = []
        for child in list(self._children.values()):
            if now - child.last_seen > self.heartbeat_timeout:
                self.cancel(child.trial_id)
                error = f"worker silent for {self.heartbeat_timeout:g}s"
                completions.append(Completion(child.trial_id, None, error, retryable=True))
        return completions

    def _next_silence_in(self) -> float:
        """Seconds until the first child would count as silent (at least a little)."""
        if not self._children:
            return 0.0
        first = min(child.last_seen for child in self._children.values())
        return max(0.01, first + self.heartbeat_timeout - time.monotonic() + 0.01)

    @staticmethod
    def _send(child: _Child, line: str) -> None:
        stdin = child.process.stdin
        if stdin is None:
            return
        try:
            stdin.write(line.encode("utf-8"))
            stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass  # the child is gone: its exit is reported by the reader thread

    @staticmethod
    def _close_stdin(child: _Child) -> None:
        stdin = child.process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.close()
