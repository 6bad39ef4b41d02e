"""A Ray head node of its own for a test (``ray start --head``), which the test can crash.

``ray start`` runs in a process session of its own, which every process of the head inherits
(workers and actors too, whose command lines Ray rewrites to ``ray::...``), and with
``--temp-dir`` set to a directory unique to this head; ``crash`` SIGKILLs the processes of that
session or naming that directory (as if the machine died), whatever else runs Ray on the
machine. The temp dir is short: Ray's unix socket paths must fit 107 bytes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

from workers.executors.ray_bridge import GCS_RECONNECT_ENV

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def session_of(pid: int) -> int | None:
    """The session id of a process (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[3])  # after comm: state ppid pgrp session


class RayHead:
    """``ray start --head`` on ``port`` with ``num_cpus``; ``crash`` kills it, ``start`` again
    brings a fresh head up on the same port."""

    def __init__(self, num_cpus: int = 2, port: int | None = None) -> None:
        self.num_cpus = num_cpus
        self.port = port or free_port()
        self.temp_dir = tempfile.mkdtemp(prefix="rh", dir="/tmp")
        self.sessions: list[int] = []  # of each ``ray start`` of this head

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    CLIENT_ENV: ClassVar[dict[str, str]] = {
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        GCS_RECONNECT_ENV: "5",
    }
    """What a driver of this head needs: the head runs without token auth (Ray's token would
    otherwise live in ~/.ray/auth_token, shared by every head on the machine); a driver gives
    up on a crashed head after 5 s instead of the bridge's 20 (the tests crash it on purpose)."""

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.CLIENT_ENV}

    def start(self) -> RayHead:
        command = [
            RAY, "start", "--head", f"--port={self.port}", f"--num-cpus={self.num_cpus}",
            "--num-gpus=0", "--include-dashboard=false", "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ]  # fmt: skip
        starting = subprocess.Popen(
            command,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its pid is the session id every head process inherits
        )
        self.sessions.append(starting.pid)
        stdout, stderr = starting.communicate(timeout=120)
        if starting.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{stdout}\n{stderr}")
        return self

    def pids(self) -> list[int]:
        """Processes of this head: of one of its ``ray start`` sessions, or naming its temp
        dir on their command line."""
        mine = os.getpid()
        sessions = set(self.sessions)
        return [
            pid
            for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit())
            if pid != mine and (session_of(pid) in sessions or self.temp_dir in _cmdline(pid))
        ]

    def crash(self) -> int:
        """SIGKILL every process of the head; how many there were."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(pids)

    def stop(self) -> None:
        self.crash()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayHead:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
