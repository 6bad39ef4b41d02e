"""The ``nas`` command line (typer + rich)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nas.errors import NasError

app = typer.Typer(help="Neural architecture search for strides and scaling.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def fail(error: NasError | str) -> typer.Exit:
    """Print one clear line and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=2)


def _read_spec(text: str) -> str:
    path = Path(text)
    if path.suffix in {".json", ".txt"} and path.exists():
        return path.read_text()
    return text


@app.command()
def train(
    spec: Annotated[str, typer.Option(help="block string, JSON file/text, or preset name")],
    data: Annotated[str, typer.Option(help="dataset name or path")] = "fashion-mnist",
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    subset: Annotated[int | None, typer.Option(min=1, help="training images to use")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 128,
    lr: Annotated[float | None, typer.Option(help="learning rate (default per optimizer)")] = None,
    optimizer: Annotated[str, typer.Option(help="sgd or adamw")] = "sgd",
    seed: int = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Train one architecture and print its validation accuracy and cost."""
    from pydantic import ValidationError

    from nas.data import load
    from nas.spec import parse_spec
    from nas.train import train as run_training
    from nas.trial import EpochReport, TrainOptions

    try:
        arch = parse_spec(_read_spec(spec))
        options = TrainOptions.model_validate(
            {"optimizer": optimizer, "lr": lr, "batch_size": batch_size, "seed": seed}
        )
        dataset = load(data, subset=subset, seed=seed)
    except NasError as exc:
        raise fail(exc) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None

    columns = (
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err_console, disable=as_json) as progress:
        task = progress.add_task("train", total=None, status="")

        def on_step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        def on_epoch(report: EpochReport) -> None:
            progress.update(task, status=f"epoch {report.epoch}: val acc {report.val_accuracy:.3f}")

        try:
            result = run_training(
                arch, dataset, epochs, options, on_epoch=on_epoch, on_step=on_step
            )
        except NasError as exc:
            raise fail(exc) from None

    if as_json:
        console.print_json(json.dumps({"spec": arch.to_string(), **result.model_dump()}))
        return
    table = Table(title=arch.to_string(), show_header=True)
    for column in ("val accuracy", "params", "MACs", "seconds", "cost (GFLOPs)"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{result.accuracy:.4f}",
        f"{result.params:,}",
        f"{result.macs:,}",
        f"{result.wall_seconds:.1f}",
        f"{result.cost_flops / 1e9:,.0f}",
    )
    console.print(table)
    if any(s is not None for s in result.learned_strides):
        console.print(f"learned strides: {result.learned_strides}")


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(help="job description (YAML or JSON)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the leaderboard as JSON")] = False,
    top: Annotated[int, typer.Option(min=1, help="rows of the leaderboard to print")] = 15,
) -> None:
    """Run a whole comparison on this machine (no server) and print the leaderboard."""
    from nas.job import JobSpec
    from workers.executor import InlineExecutor
    from workers.leaderboard import best_per_strategy, leaderboard
    from workers.runner import JobRunner, RunEvent
    from workers.store import MemoryTrialStore
    from workers.trial_entry import load_dataset

    try:
        job = JobSpec.from_file(job_file)
        data = load_dataset(job.dataset)
        store = MemoryTrialStore()
        progress = Progress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}% of budget"),
            TextColumn("{task.fields[status]}"),
            console=err_console,
            disable=as_json,
        )
        tasks = {key: progress.add_task(key, total=1.0, status="") for key in job.strategy_keys()}

        def observe(event: RunEvent, runner: JobRunner) -> None:
            state = runner.states[event.strategy]
            fraction = min(1.0, state.committed / state.budget) if state.budget else 1.0
            status = f"{state.trials_done} done"
            if event.kind == "progress" and event.report is not None:
                status += f", trial {event.trial.number if event.trial else '?'} epoch "
                status += f"{event.report.epoch}: {event.report.val_accuracy:.3f}"
            if event.kind == "stopped":
                status = f"{state.trials_done} done ({event.message})"
                fraction = 1.0
            progress.update(tasks[event.strategy], completed=fraction, status=status)

        with progress:
            runner = JobRunner(job, data, InlineExecutor(), store, observer=observe)
            trials = runner.run()
    except NasError as exc:
        raise fail(exc) from None

    rows = leaderboard(trials)
    if as_json:
        console.print_json(json.dumps([r.model_dump() for r in rows]))
        return
    table = Table(title=f"{job.name}: leaderboard ({len(trials)} trials)")
    for column in ("rank", "strategy", "architecture", "val acc", "params", "MACs", "GFLOPs"):
        table.add_column(column, justify="left" if column == "architecture" else "right")
    for row in rows[:top]:
        table.add_row(
            str(row.rank),
            row.strategy + (f" ({row.phase})" if row.phase else ""),
            row.spec,
            f"{row.accuracy:.4f}" if row.accuracy is not None else row.state,
            f"{row.params:,}" if row.params is not None else "-",
            f"{row.macs:,}" if row.macs is not None else "-",
            f"{row.cost_flops / 1e9:,.1f}" if row.cost_flops is not None else "-",
        )
    console.print(table)
    best = Table(title="best per strategy")
    for column in ("strategy", "val acc", "architecture", "trials", "budget used"):
        best.add_column(column)
    winners = best_per_strategy(rows)
    for key, state in runner.states.items():
        winner = winners.get(key)
        best.add_row(
            key,
            f"{winner.accuracy:.4f}" if winner and winner.accuracy is not None else "-",
            winner.spec if winner else "-",
            str(state.trials_done),
            f"{100 * state.spent / state.budget:.0f}%" if state.budget else "-",
        )
    console.print(best)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default NAS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default NAS_PORT)")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL")] = None,
    executor: Annotated[str | None, typer.Option(help="local | ray | inline")] = None,
    ray_address: Annotated[str | None, typer.Option(help="existing Ray cluster")] = None,
    demo: Annotated[
        Path | None, typer.Option(help="submit this job file once the database is ready")
    ] = None,
) -> None:
    """Run the server: migrate the database, then serve the API and run the scheduler."""
    import uvicorn
    from pydantic import ValidationError

    from api.app import create_app
    from api.db.session import upgrade_database
    from api.settings import LOOPBACK_HOSTS, Settings

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "host": host,
            "port": port,
            "database_url": database_url,
            "executor": executor,
            "ray_address": ray_address,
        }.items()
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not settings.auth_enabled and settings.host not in LOOPBACK_HOSTS:
        err_console.print(
            f"[yellow]no API keys set (NAS_API_KEYS): binding to 127.0.0.1 instead of "
            f"{settings.host}[/]"
        )
        settings = settings.model_copy(update={"host": "127.0.0.1"})
    elif not settings.auth_enabled:
        err_console.print("[yellow]no API keys set: open to this machine only (127.0.0.1)[/]")
    try:
        upgrade_database(settings.database_url)
    except Exception as exc:
        raise fail(f"cannot migrate the database: {type(exc).__name__}: {exc}") from None
    from sqlalchemy.engine import make_url

    shown_url = make_url(settings.database_url).render_as_string(hide_password=True)
    err_console.print(
        f"serving on {settings.base_url()} (database {shown_url}, executor {settings.executor})"
    )
    if demo is not None:
        from api.db.session import make_engine, session_factory
        from api.store import JobRepository
        from nas.job import JobSpec

        try:
            job = JobRepository(session_factory(make_engine(settings.database_url))).create(
                JobSpec.from_file(demo)
            )
        except NasError as exc:
            raise fail(exc) from None
        base = settings.base_url()
        err_console.print(
            f"[bold green]demo job {job.id} submitted[/]\n"
            f"  leaderboard: {base}/api/v1/jobs/{job.id}/trials\n"
            f"  job:         {base}/api/v1/jobs/{job.id}\n"
            f"  API docs:    {base}/docs"
        )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")
