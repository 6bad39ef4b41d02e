"""Shared by the benchmarks: machine description and docs/results.md sections."""

from __future__ import annotations

import os
import platform
import re
from datetime import UTC, datetime
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results.md"
HEADER = (
    "# Measured results\n\n"
    "Every table here is written by a script under `bench/`; rerun it to refresh.\n"
)


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cores = len(os.sched_getaffinity(0))
    return (
        f"{cpu}, {cores} cores, {gpu}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; {datetime.now(UTC):%Y-%m-%d}"
    )


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def section_block(name: str, body: str) -> str:
    """``body`` between the markers of section ``name`` (sections may nest)."""
    start, end = _markers(name)
    return f"{start}\n{body.rstrip()}\n{end}"


def read_section(name: str) -> str | None:
    """The body of section ``name`` of docs/results.md, None when it has none."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    start, end = _markers(name)
    found = re.search(re.escape(start) + r"\n(.*?)\n" + re.escape(end), text, re.S)
    return found.group(1) if found else None


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/results.md with ``body``."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    start, end = _markers(name)
    block = section_block(name, body)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    RESULTS.write_text(text)


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
