"""What every ``nas`` verb shares: the consoles, the one-line error exit, the option types."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Protocol

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Column

from nas.errors import NasError

if TYPE_CHECKING:
    from pydantic import ValidationError

    from api.client import Job, NasClient
    from nas.job import JobSpec


def _following_terminal(found: Console) -> Console:
    """``found``, reading the terminal's width (``COLUMNS`` included) at every print: rich
    fixes ``COLUMNS`` when a console is made, and these are made once, at import."""
    found._width = None
    return found


console = _following_terminal(Console())
err_console = _following_terminal(Console(stderr=True))

AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
Wide = Annotated[
    bool,
    typer.Option(
        "--wide", help="every column (the block strings too), past the terminal's edge if need be"
    ),
]
Server = Annotated[
    str,
    typer.Option("--server", envvar="NAS_SERVER", help="the server's base URL"),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar="NAS_API_KEY", help="API key (for writes)", show_default=False
    ),
]


class ConfirmationView(Protocol):
    """What ``confirmation_text`` reads (the server's summary or the client's view of it)."""

    @property
    def trial_id(self) -> int: ...
    @property
    def search_accuracy(self) -> float: ...
    @property
    def seeds(self) -> int: ...
    @property
    def finished(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def val_mean(self) -> float | None: ...
    @property
    def val_sd(self) -> float | None: ...
    @property
    def test_mean(self) -> float | None: ...
    @property
    def test_sd(self) -> float | None: ...


def strategy_bars(out: Console, amount: str, *, disable: bool = False) -> Progress:
    """A progress bar per strategy that fits the terminal: its name, a short bar, ``amount``
    (a format of the task, e.g. its percentage) and its status, folded rather than cut."""
    return Progress(
        TextColumn("[bold]{task.description}", table_column=Column(overflow="fold", ratio=1)),
        BarColumn(bar_width=16),
        TextColumn(amount, table_column=Column(no_wrap=True)),
        TextColumn("{task.fields[status]}", table_column=Column(overflow="fold", ratio=3)),
        console=out,
        disable=disable,
    )


def _pct(mean: float, sd: float | None) -> str:
    return f"{100 * mean:.2f}%" + (f" +- {100 * sd:.2f}" if sd is not None else "")


def confirmation_text(found: ConfirmationView) -> str:
    """One line: the recommendation's accuracy over its confirmation seeds, next to what its
    search run scored (the luckiest draw of the search)."""
    head = f"confirmed on {found.finished} of {found.seeds} other seeds"
    if found.failed:
        head += f" ({found.failed} failed)"
    if found.val_mean is None:
        return f"{head}: no result yet (search run: val {100 * found.search_accuracy:.2f}%)"
    text = (
        f"{head}: val {_pct(found.val_mean, found.val_sd)} "
        f"(search run: {100 * found.search_accuracy:.2f}%)"
    )
    if found.test_mean is not None:
        text += f", test {_pct(found.test_mean, found.test_sd)}"
    return text


def fail(error: NasError | str, code: int = 2) -> typer.Exit:
    """Print one clear line and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    return typer.Exit(code=code)


def invalid(exc: ValidationError) -> typer.Exit:
    """The first error of a pydantic validation as one line (``field: message``)."""
    first = exc.errors()[0]
    return fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}")


def read_spec(text: str) -> str:
    """A spec argument: the text of a ``.json``/``.txt`` file it names, else itself."""
    path = Path(text)
    if path.suffix in {".json", ".txt"} and path.exists():
        return path.read_text()
    return text


@contextmanager
def open_client(server: str, api_key: str | None) -> Iterator[NasClient]:
    """A client of ``server``; any ``ClientError`` inside becomes one line and its exit code."""
    from api.client import ClientError, NasClient

    try:
        with NasClient(server, api_key) as client:
            yield client
    except ClientError as exc:
        raise fail(exc.message, exc.exit_code) from None


def job_spec(job: Job) -> JobSpec:
    """The job's spec as the server sent it, parsed (``api.specs.stored_spec``, once per
    distinct spec); one that does not parse here is one clear line and exit 1."""
    from api.specs import StoredSpecError, stored_spec

    try:
        return stored_spec(job.spec, job.id)
    except StoredSpecError as exc:
        raise fail(str(exc), 1) from None


def finished_count(counts: dict[str, int]) -> int:
    """Trials in a finished state (``workers.jobs.store.FINISHED_STATES``) among ``counts``."""
    from workers.jobs.store import FINISHED_STATES

    return sum(counts.get(state, 0) for state in FINISHED_STATES)


def ran_text(finished: int, skipped: int) -> str:
    """``16 run, 11 skipped``: a strategy's finished trials, of which ``skipped`` were
    proposals over its budget that never ran."""
    text = f"{finished - skipped} run"
    return text + (f", {skipped} skipped" if skipped else "")
