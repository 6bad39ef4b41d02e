"""``api.cli.tables.fit``: the columns that fit, least useful dropped first, never a cut cell."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys

import pytest
from rich.console import Console

from api.cli.tables import Col, fit, show

COLUMNS = (
    Col("rank", 100),
    Col("trial", 99),
    Col("strategy", 98, fold=True),
    Col("val acc", 97),
    Col("strides", 90, left=True),
    Col("params", 70),
    Col("MACs", 60),
    Col("architecture", 0, fold=True, wide=True),
)
ROWS = [
    [str(k), str(10_000 + k), f"a-strategy-with-a-long-label-{k}/r{k}", f"9{k}.12%",
     "1-1.63x1.70-2.41-3.00", "25.6M", "4.09G", "resnet:r28:c1:n10:relu:stem_c8:" * 3]
    for k in range(1, 6)
]  # fmt: skip


def printed(width: int, *, wide: bool = False) -> tuple[str, tuple[str, ...]]:
    console = Console(width=width, record=True, file=io.StringIO())
    fitted = fit(COLUMNS, ROWS, width, wide=wide)
    show(console, fitted)
    return console.export_text(), fitted.dropped


@pytest.mark.parametrize("width", [40, 50, 60, 70, 80, 100, 140, 200])
def test_every_width_shows_whole_cells_within_it(width: int) -> None:
    text, dropped = printed(width)
    assert all(len(line) <= width for line in text.splitlines()), text
    assert "…" not in text
    for row in ROWS:
        for col, cell in zip(COLUMNS, row, strict=True):
            if col.header not in dropped and not col.fold:
                assert cell in text, (width, col.header)  # a number is never cut or folded
    assert "architecture" in dropped  # only with --wide
    assert {"rank", "trial", "val acc"}.isdisjoint(dropped)


def test_columns_go_least_useful_first() -> None:
    drops = [set(printed(width)[1]) for width in (200, 80, 60, 50, 40)]
    assert all(a <= b for a, b in itertools.pairwise(drops))  # narrower drops more
    assert drops[-1] - drops[0] == {"MACs", "params", "strides"}  # strides, the most kept, last


def test_wide_keeps_every_column_past_the_edge() -> None:
    text, dropped = printed(80, wide=True)
    assert dropped == ()
    assert ROWS[0][-1] in text and ROWS[0][2] in text  # whole, on one line
    assert max(len(line) for line in text.splitlines()) > 80


def test_the_consoles_follow_the_terminal_after_import() -> None:
    # rich fixes COLUMNS when a console is made; ours are made at import, and a test (or a
    # shell) may set COLUMNS only later: they must read it at every print.
    code = (
        "import os\n"
        "os.environ['COLUMNS'] = '80'\n"
        "from api.cli.shared import console, err_console\n"
        "os.environ['COLUMNS'] = '60'\n"
        "print(console.width, err_console.width)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.split() == ["60", "60"]
