"""A Ray cluster of several nodes on this machine, for tests and benchmarks: a head and worker
nodes, each started by ``ray start`` in a process session of its own, with its own CPUs,
resources, temp dir and ports.

Every process of a node (its raylet, agents and log monitor, the head's GCS, and the workers
its raylet forks, actors included) carries the session of the ``ray start`` that began it, so
``kill`` SIGKILLs exactly that node, as if its machine died, whatever else runs Ray here; and
``stop`` ends every node of this cluster only (never a global ``ray stop``). Each node names
itself in trial results through ``NAS_NODE_NAME`` (its raylet's environment, which its workers
inherit) and has a resource ``node_<name>: 1``. Temp dirs are short (under the checkout's
``tmp/`` when its path is short, else ``/tmp``): Ray's unix socket paths must fit 107 bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from tests.ray_head import session_of
from tests.threaded_server import free_port
from workers.executors.host import NODE_ENV
from workers.executors.ray_bridge import GCS_RECONNECT_ENV

RAY = str(Path(sys.executable).with_name("ray"))
CHECKOUT_TMP = Path(__file__).resolve().parents[1] / "tmp"
OBJECT_STORE_BYTES = 100_000_000  # Ray's floor is 75 MB; the default takes 30% of the RAM
HEAD_ENV = {
    # A node whose raylet stopped answering is declared dead after about 5 s (Ray's default:
    # about 15 s); its actors' trials are already given back when their connections drop.
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "2000",
    "RAY_health_check_failure_threshold": "5",
}


def short_root() -> Path:
    """Where the cluster's temp dirs go: the checkout's ``tmp/`` if its path is short."""
    if len(str(CHECKOUT_TMP)) <= 30:
        CHECKOUT_TMP.mkdir(exist_ok=True)
        return CHECKOUT_TMP
    return Path(tempfile.gettempdir())


@dataclass
class RayNode:
    """One ``ray start`` of the cluster; ``session`` is its session id once started."""

    name: str
    command: list[str]
    env: dict[str, str]
    temp_dir: Path
    session: int | None = None
    _starting: subprocess.Popen[str] | None = field(default=None, repr=False)

    def begin(self) -> None:
        """Run ``ray start`` in a new session (``finish`` waits for it)."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._starting = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.session = self._starting.pid

    @property
    def starting(self) -> bool:
        """Whether its ``ray start`` is still running."""
        return self._starting is not None and self._starting.poll() is None

    def finish(self, timeout: float = 180.0) -> RayNode:
        """Wait until ``ray start`` has brought the node up; RuntimeError if it failed."""
        assert self._starting is not None, "begin() first"
        try:
            out, _ = self._starting.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise RuntimeError(f"ray start of node {self.name} took over {timeout:g}s") from None
        if self._starting.returncode != 0:
            self.kill()
            raise RuntimeError(f"ray start of node {self.name} failed:\n{out[-3000:]}")
        return self

    def pids(self) -> list[int]:
        """The processes of this node: those in its session."""
        if self.session is None:
            return []
        mine = os.getpid()
        return [
            int(entry)
            for entry in os.listdir("/proc")
            if entry.isdigit() and int(entry) != mine and session_of(int(entry)) == self.session
        ]

    def hosts(self, title: str) -> bool:
        """Whether a worker process of this node runs ``title`` (Ray sets the process title
        of an actor's worker to ``ray::ClassName``, ``ray::ClassName.method`` while busy)."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title.encode()):
                    return True
        return False

    def kill(self, sig: signal.Signals = signal.SIGKILL, wait: float = 15.0) -> int:
        """Send ``sig`` to every process of the node and wait until they are gone; how many
        there were."""
        pids = self.pids()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(pids)


class RayCluster:
    """A head (no CPUs: it runs no trials) and worker nodes, on one machine.

    ``start(a=1, b=1)`` starts the head and workers ``a`` and ``b`` with one CPU each; ``add``
    a node later (joins the running cluster), ``kill`` one (SIGKILL, no goodbye), ``stop``
    them all. A context manager: the cluster is stopped however the block ends.
    """

    CLIENT_ENV: ClassVar[dict[str, str]] = {
        "RAY_AUTH_MODE": "disabled",
        "RAY_USAGE_STATS_ENABLED": "0",
        GCS_RECONNECT_ENV: "5",
    }
    """What a driver of this cluster needs (``tests.ray_head.RayHead.CLIENT_ENV``)."""

    def __init__(self, root: Path | None = None) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="rc", dir=root or short_root()))
        self.nodes: dict[str, RayNode] = {}

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _env(self, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            **os.environ,
            **self.CLIENT_ENV,
            NODE_ENV: name,
            "NAS_TORCH_THREADS": "1",
            **(extra or {}),
        }

    def _node(self, name: str, cpus: int, resources: dict[str, float]) -> RayNode:
        if name in self.nodes:
            raise ValueError(f"node {name!r} is already in the cluster")
        temp_dir = self.root / name
        common = [
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--resources={json.dumps({f'node_{name}': 1, **resources})}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--temp-dir={temp_dir}",
            f"--dashboard-agent-listen-port={free_port()}",
            "--disable-usage-stats",
        ]
        if not self.nodes:
            command = [RAY, "start", "--head", f"--port={self.port}", "--include-dashboard=false"]
            env = self._env(name, HEAD_ENV)
        else:
            command = [RAY, "start", f"--address={self.address}"]
            env = self._env(name)
        node = RayNode(name, command + common, env, temp_dir)
        self.nodes[name] = node
        return node

    def start(self, **workers: int) -> RayCluster:
        """The head, then the ``workers`` (name=CPUs) side by side."""
        self._node("head", 0, {}).begin()
        self.nodes["head"].finish()
        started = [self._node(name, cpus, {}) for name, cpus in workers.items()]
        for node in started:
            node.begin()
        for node in started:
            node.finish()
        return self

    def add(
        self,
        name: str,
        cpus: int = 1,
        resources: dict[str, float] | None = None,
        *,
        wait: bool = True,
    ) -> RayNode:
        """A node joins the running cluster (``wait=False``: its ``ray start`` is running, see
        ``RayNode.starting`` and ``finish``)."""
        node = self._node(name, cpus, resources or {})
        node.begin()
        return node.finish() if wait else node

    def kill(self, name: str) -> int:
        """SIGKILL every process of node ``name`` (its raylet and its workers); how many."""
        return self.nodes[name].kill()

    def stop(self) -> None:
        """End every node of this cluster (SIGTERM, then SIGKILL what is left after a few
        seconds) and remove the temp dirs."""
        nodes = list(self.nodes.values())
        for node in nodes:
            node.kill(signal.SIGTERM, wait=0)
        deadline = time.monotonic() + 5
        while any(node.pids() for node in nodes) and time.monotonic() < deadline:
            time.sleep(0.1)
        for node in nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RayCluster:
        try:
            return self.start(a=1, b=1)
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
