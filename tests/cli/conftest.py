"""A real server for the client verbs: uvicorn on a free loopback port, in a thread.

Fresh migrated SQLite database, the inline executor (trials train in the server's scheduler
thread), its own artifact directory, and one API key (``KEY``) that writes need.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.app import create_app
from api.db.session import upgrade_database
from api.settings import Settings
from tests.threaded_server import free_port, serve_in_thread

KEY = "cli-test-key"


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
    with serve_in_thread(create_app(settings), port=settings.port) as base:
        yield RunningServer(base, settings)


@pytest.fixture
def artifact_root(server: RunningServer) -> Path:
    return server.settings.artifact_dir
