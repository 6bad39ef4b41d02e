"""Child processes the executors start: environment, stderr tail, killing the whole group."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

from workers.executors.protocol import Message, ProtocolError

ROOT = Path(__file__).resolve().parents[1]
STDERR_TAIL = 2000  # characters of a child's stderr quoted when it dies
LOG_LIMIT = 64 * 1024
"""Most bytes (UTF-8) of a failed trial's log: its worker's stderr tail and its traceback."""


class StderrTail:
    """A child's stderr pipe, drained by a thread that keeps only its last ``keep`` bytes: for
    a long-lived child (the Ray bridge, which gets every Ray worker's log lines) a file would
    grow without end."""

    def __init__(self, pipe: IO[bytes], keep: int = 8 * STDERR_TAIL) -> None:
        self.keep = keep
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._drain, args=(pipe,), daemon=True, name="stderr-tail"
        )
        self._thread.start()

    def _drain(self, pipe: IO[bytes]) -> None:
        with pipe:
            while chunk := pipe.read1(65536):  # type: ignore[attr-defined]
                with self._lock:
                    self._buffer += chunk
                    if len(self._buffer) > 2 * self.keep:
                        del self._buffer[: -self.keep]

    def text(self, limit: int = STDERR_TAIL, wait: float = 1.0) -> str:
        """The last ``limit`` characters (after up to ``wait`` s for the pipe to end)."""
        self._thread.join(wait)
        with self._lock:
            data = bytes(self._buffer[-limit:])
        return data.decode("utf-8", errors="replace").strip()


@dataclass(eq=False)
class Child:
    """A child process speaking ``workers.executors.protocol`` on stdout, its stderr going to a
    file or to a bounded ``StderrTail``."""

    process: subprocess.Popen[bytes]
    stderr: IO[bytes] | StderrTail
    last_seen: float = field(default_factory=time.monotonic)  # its last line, any line
    log_from: int = 0  # where the current trial's share of a stderr file starts


@dataclass(frozen=True)
class ChildExited:
    """The child's stdout closed and it exited with ``code``; ``stderr`` is its tail, ``log``
    what it wrote to a stderr file since ``Child.log_from`` (bounded)."""

    code: int
    stderr: str
    log: str = ""


ChildT = TypeVar("ChildT", bound=Child)


def read_messages(child: ChildT, events: queue.Queue[tuple[ChildT, Message | ChildExited]]) -> None:
    """Reader thread: the child's protocol messages into ``events``, then its exit."""
    stdout = child.process.stdout
    assert stdout is not None
    with stdout:
        for line in stdout:
            child.last_seen = time.monotonic()
            try:
                message = Message.from_line(line)
            except ProtocolError:
                continue  # a stray line is a sign of life, nothing more
            events.put((child, message))
    code = child.process.wait()
    log = ""
    if isinstance(child.stderr, StderrTail):
        tail = child.stderr.text()
    else:
        with child.stderr:
            tail = stderr_tail(child.stderr)
            log = read_since(child.stderr, child.log_from)
    events.put((child, ChildExited(code, tail, log)))


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``extra``, with the project on ``PYTHONPATH``."""
    env = {**os.environ, **(extra or {})}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) if not path else f"{ROOT}{os.pathsep}{path}"
    return env


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's process group (it leads its own session)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def stderr_tail(stream: IO[bytes], limit: int = STDERR_TAIL) -> str:
    """The last ``limit`` characters written to a child's stderr file."""
    try:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        stream.seek(max(0, size - limit))
        return stream.read().decode("utf-8", errors="replace").strip()
    except (OSError, ValueError):
        return ""


def bounded_log(text: str, limit: int = LOG_LIMIT) -> str:
    """``text``, or its end when longer than ``limit`` bytes of UTF-8 (cut at a line, with a
    note of how much was left out): the end is where a traceback and the last words are."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    return _tail(data, len(data), limit)


def _tail(data: bytes, total: int, limit: int) -> str:
    """The end of ``data`` (the last bytes of ``total``) in at most ``limit`` bytes."""
    note = "[... {} bytes before this ...]\n"
    room = limit - len(note.format(total).encode())
    kept = data[-room:]
    cut = kept.find(b"\n")
    if 0 <= cut < len(kept) - 1:
        kept = kept[cut + 1 :]  # from a line start
    text = kept.decode("utf-8", errors="ignore")  # a split character at the start goes
    return note.format(total - len(text.encode())) + text


def file_size(stream: IO[bytes]) -> int:
    """Bytes written to a child's stderr file so far (by the child, through its own fd)."""
    try:
        return os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return 0


def read_since(stream: IO[bytes], start: int, limit: int = LOG_LIMIT) -> str:
    """What a child wrote to its stderr file from byte ``start`` on, at most ``limit`` bytes of
    it (the end): a trial's own share of a worker that serves trial after trial."""
    end = file_size(stream)
    if end <= start:
        return ""
    first = max(start, end - limit)
    try:
        data = os.pread(stream.fileno(), end - first, first)
    except (OSError, ValueError):
        return ""
    if first == start:
        return data.decode("utf-8", errors="replace")
    return _tail(data, end - start, limit)


def write_line(process: subprocess.Popen[bytes], line: str) -> None:
    """Write one protocol line to the child's stdin; a child that is gone is ignored here
    (its reader thread reports the exit)."""
    stdin = process.stdin
    if stdin is None:
        return
    try:
        stdin.write(line.encode("utf-8"))
        stdin.flush()
    except (BrokenPipeError, OSError, ValueError):
        pass


def close_stdin(process: subprocess.Popen[bytes]) -> None:
    """Close the child's stdin: end of input tells it to exit."""
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
