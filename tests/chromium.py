"""Debian's Chromium for Playwright: where it is and how to start it (never a downloaded one)."""

from __future__ import annotations

import shutil
from typing import Any

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def executable() -> str | None:
    return shutil.which("chromium")


def launch(playwright: Any, path: str) -> Any:
    """``playwright.chromium`` started from ``path`` with the flags this machine needs."""
    return playwright.chromium.launch(executable_path=path, args=ARGS)
