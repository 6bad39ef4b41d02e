"""A real server for the client verbs: uvicorn on a free loopback port, in a thread.

Fresh migrated SQLite database, the inline executor (trials train in the server's scheduler
thread), its own artifact directory, and one API key (``KEY``) that writes need.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from api.db.session import upgrade_database
from api.settings import Settings

KEY = "cli-test-key"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningServer:
    url: str
    settings: Settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("server")
    database_url = f"sqlite:///{root / 'nas.db'}"
    upgrade_database(database_url)
    settings = Settings(
        database_url=database_url,
        executor="inline",
        api_keys=[KEY],
        artifact_dir=root / "artifacts",
        port=free_port(),
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning"
    )
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, name="test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not served.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield RunningServer(f"http://127.0.0.1:{settings.port}", settings)
    finally:
        served.should_exit = True
        thread.join(60)


@pytest.fixture
def artifact_root(server: RunningServer) -> Path:
    return server.settings.artifact_dir
