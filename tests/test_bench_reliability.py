"""bench/reliability.py's load rows: written into the results section in place of the old ones."""

from __future__ import annotations

from typing import Any

from bench.reliability import LOAD_ROW, PAGES_ROW, with_load_rows


def run(pages: bool, p99: float) -> dict[str, Any]:
    return {
        "pages": pages,
        "clients": 50,
        "seconds": 60.0,
        "requests": 3000,
        "rate": 50.0,
        "p50": 10.0,
        "p99": p99,
        "max": 400.0,
        "errors": 0,
        "trials_during": 7,
        "nice": 10,
        "load_before": 2.0,
        "load_after": 3.0,
    }


OLD = """Machine: somewhere.

| what | how much | outcome |
|---|---|---|
| fuzz (schemathesis) | 3,000 requests | 0 failures |
| load on loopback while a job runs | 50 clients | p99 504.7 ms |

The load row: an older note that must go."""


def test_both_rows_replace_the_old_one_and_its_note() -> None:
    body = with_load_rows(OLD, [run(False, 321.5), run(True, 42.25)])
    lines = body.splitlines()
    assert "| fuzz (schemathesis) | 3,000 requests | 0 failures |" in lines
    saturated = [line for line in lines if line.startswith(f"| {LOAD_ROW}")]
    pages = [line for line in lines if line.startswith(f"| {PAGES_ROW}")]
    assert len(saturated) == len(pages) == 1
    assert "p99 321.5 ms" in saturated[0] and "p99 42.2 ms" in pages[0]
    assert "504.7" not in body and "an older note" not in body
    notes = [line for line in lines if line.startswith("The load rows:")]
    assert len(notes) == 1 and "after the pages run" in notes[0]
    # the rows stay in the table: no blank line between the table and them
    table = lines.index("| fuzz (schemathesis) | 3,000 requests | 0 failures |")
    assert lines[table + 1].startswith(f"| {LOAD_ROW}")


def test_writing_twice_changes_nothing_more() -> None:
    runs = [run(False, 300.0), run(True, 40.0)]
    once = with_load_rows(OLD, runs)
    assert with_load_rows(once, runs) == once
