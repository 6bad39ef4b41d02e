"""The ``nas`` command line (typer + rich)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

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
