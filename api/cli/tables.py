"""Tables that fit the terminal: the columns that fit, least useful dropped first, no cut cell.

Every verb's table is a list of ``Col`` (a header, how long it stays, whether it may fold onto
more lines) and rows of plain strings. ``fit`` keeps the columns whose cells fit ``width`` whole:
a number or a strides text is never cut (its column is exactly as wide as its widest cell and
never wraps); a text column that may fold (a strategy, a name, a reason) takes at least
``FOLD_MIN`` characters and folds onto more lines rather than ending in an ellipsis. Columns go,
lowest ``keep`` first, until the rest fit; ``wide`` keeps all of them at their natural widths
(``show`` prints such a table past the terminal's edge rather than squeezing it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment, Segments
from rich.table import Table
from rich.text import Text

FOLD_MIN = 12
"""The fewest characters a folding column is given (a header may need more)."""
GAP = 2
"""Characters between two columns."""


@dataclass(frozen=True)
class Col:
    """One column: its ``header``; ``keep``: the higher, the later it is dropped (columns of
    equal ``keep`` go right to left); ``fold``: text that may fold onto more lines (else its
    cells are shown whole on one line); ``left``: left-justified (numbers are right-justified);
    ``wide``: only with ``--wide``."""

    header: str
    keep: int
    fold: bool = False
    left: bool = False
    wide: bool = False


@dataclass(frozen=True)
class Fitted:
    """The table to print and the width it takes."""

    table: Table
    width: int
    dropped: tuple[str, ...]


def _natural(col: Col, cells: Sequence[str]) -> int:
    return max([cell_len(col.header), *(cell_len(c) for c in cells)])


def _least(col: Col, natural: int) -> int:
    """The fewest characters ``col`` can show its cells in, whole or folded."""
    return min(natural, max(FOLD_MIN, cell_len(col.header))) if col.fold else natural


def _span(widths: Sequence[int]) -> int:
    return sum(widths) + GAP * max(0, len(widths) - 1)


def fit(
    columns: Sequence[Col], rows: Sequence[Sequence[str]], width: int, *, wide: bool = False
) -> Fitted:
    """A table of ``rows`` (one string per column) in at most ``width`` characters (``wide``:
    every column at its natural width)."""
    naturals = [_natural(col, [row[j] for row in rows]) for j, col in enumerate(columns)]
    kept = [j for j, col in enumerate(columns) if wide or not col.wide]
    if not wide:
        # least useful first; of equal keep, the rightmost first
        for j in sorted(kept, key=lambda j: (columns[j].keep, -j)):
            if _span([_least(columns[k], naturals[k]) for k in kept]) <= width:
                break
            if len(kept) > 1:
                kept.remove(j)
    widths = {j: naturals[j] if wide else _least(columns[j], naturals[j]) for j in kept}
    room = width - _span(list(widths.values()))
    for j in sorted(kept, key=lambda j: -columns[j].keep):  # folded text widens, most kept first
        if not wide and columns[j].fold and room > 0:
            more = min(room, naturals[j] - widths[j])
            widths[j] += more
            room -= more
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, GAP - 1, 0, 0),
        collapse_padding=False,
    )
    for j in kept:
        col = columns[j]
        table.add_column(
            col.header,
            justify="left" if col.left or col.fold else "right",
            width=widths[j],
            no_wrap=not col.fold,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(Text(row[j]) for j in kept))
    dropped = tuple(columns[j].header for j in range(len(columns)) if j not in kept)
    return Fitted(table, _span(list(widths.values())), dropped)


def show(console: Console, fitted: Fitted, heading: str | None = None) -> None:
    """Print ``heading`` (wrapped to the terminal) and the table; a table wider than the
    terminal (``--wide``) is printed whole, past its edge."""
    if heading is not None:
        console.print(Text(heading), highlight=False)
    if fitted.width <= console.width:
        console.print(fitted.table)
        return
    options = console.options.update_width(fitted.width)
    lines = console.render_lines(fitted.table, options, pad=False)
    console.print(Segments([s for line in lines for s in (*line, Segment.line())]), crop=False)


def say(console: Console, text: str) -> None:
    """One line of prose, wrapped at words to the terminal (never cut)."""
    console.print(Text(text), highlight=False)
