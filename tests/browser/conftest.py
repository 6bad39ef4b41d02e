"""Browser tests: Debian's Chromium driven by Playwright against a real uvicorn server.

The server runs in a thread on a free loopback port over a fresh, migrated SQLite file, with
the scheduler off; tests write trials straight through ``api.store.SqlTrialStore``. Playwright
never downloads a browser: it launches ``chromium`` from the PATH. Without it the tests skip,
except under ``CI=true``, where they fail. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.db.session import upgrade_database
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore
from nas.job import JobSpec
from tests import chromium
from tests.threaded_server import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@dataclass
class Server:
    """A running server: its base URL and the repository over its database."""

    url: str
    repo: JobRepository

    def create_job(self, **overrides: Any) -> int:
        spec: dict[str, Any] = {
            "name": "browser-test",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": {"strides": [[1], [1, 2], [1, 2], [1, 2]]},
            "strategies": ["grid", "random", "diffstride"],
            "budget": {"unit": "trials", "total": 30, "epochs_per_trial": 2},
            "confirm_seeds": 0,
        }
        spec.update(overrides)
        return self.repo.create(JobSpec.parse(spec)).id

    def store(self, job_id: int) -> SqlTrialStore:
        return SqlTrialStore(self.repo.factory, job_id)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(url)
    app = create_app(Settings(database_url=url), scheduler=False)
    with serve_in_thread(app) as base:
        yield Server(url=base, repo=app.state.services.repo)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    executable = chromium.executable()
    if executable is None:
        message = "chromium is not installed (apt-get install chromium chromium-driver)"
        if IN_CI:
            pytest.fail(f"{message}; CI=true needs it", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = chromium.launch(playwright, executable)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.errors = errors
    try:
        yield opened
    finally:
        context.close()


def screenshot(page: Any, name: str) -> Path:
    """Keep a screenshot as a test artifact (``test-artifacts/NAME.png``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
