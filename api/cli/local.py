"""Local verbs, no server: ``train`` one architecture, ``run`` a whole comparison."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from api.cli.board import (
    BoardRow,
    census,
    human,
    of_ranked,
    pct,
    ranked_heading,
    ranked_table,
    secs,
    skipped_table,
)
from api.cli.shared import (
    Wide,
    confirmation_text,
    console,
    err_console,
    fail,
    invalid,
    ran_text,
    read_spec,
    strategy_bars,
)
from api.cli.tables import Col, fit, say, show
from nas.errors import NasError

if TYPE_CHECKING:
    from nas.job import JobSpec
    from nas.trial import TrialResult
    from workers.jobs.ranking import LeaderboardRow
    from workers.jobs.runner import JobRunner, RunEvent
    from workers.jobs.store import StoredTrial

app = typer.Typer()


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
    from nas.presets import parse_spec
    from nas.train import train as run_training
    from nas.trial import EpochReport, TrainOptions

    try:
        arch = parse_spec(read_spec(spec))
        options = TrainOptions.model_validate(
            {"optimizer": optimizer, "lr": lr, "batch_size": batch_size, "seed": seed}
        )
        dataset = load(data, subset=subset, seed=seed)
    except NasError as exc:
        raise fail(exc) from None
    except ValidationError as exc:
        raise invalid(exc) from None

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
    _print_trained(arch.to_string(), result)


TRAINED = (
    Col("val acc", 100),
    Col("params", 90),
    Col("MACs", 80),
    Col("wall", 60),
    Col("FLOPs", 70),
)


def _print_trained(spec: str, result: TrialResult) -> None:
    row = [
        pct(result.accuracy),
        human(result.params),
        human(result.macs),
        secs(result.wall_seconds),
        human(result.cost_flops),
    ]
    console.print(Text(spec, overflow="fold"), highlight=False)
    show(console, fit(TRAINED, [row], console.width))
    if any(s is not None for s in result.learned_strides):
        say(console, f"learned strides: {result.learned_strides}")


@app.command()
def run(
    job_file: Annotated[Path, typer.Argument(help="job description (YAML or JSON)")],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="print the leaderboard and the confirmation as one JSON object"
        ),
    ] = False,
    top: Annotated[int, typer.Option(min=1, help="rows of the leaderboard to print")] = 15,
    skipped: Annotated[
        bool, typer.Option("--skipped", help="also list the skipped proposals (over budget)")
    ] = False,
    wide: Wide = False,
) -> None:
    """Run a whole comparison on this machine (no server) and print the leaderboard."""
    from nas.job import CONFIRM, JobSpec
    from workers.executors.interface import InlineExecutor
    from workers.executors.trial_entry import load_dataset
    from workers.jobs.confirm import is_confirmation, recommendation, summarize
    from workers.jobs.ranking import leaderboard
    from workers.jobs.runner import JobRunner
    from workers.jobs.store import MemoryTrialStore

    try:
        job = JobSpec.from_file(job_file)
        if job.warm_start is not None:
            raise fail("warm_start: starts from a job on a server (use nas submit)")
        data = load_dataset(job.dataset)
        store = MemoryTrialStore()
        progress = strategy_bars(err_console, "{task.percentage:>3.0f}%", disable=as_json)
        tasks = {  # a chained strategy waits for its source first
            run.key: progress.add_task(
                escape(run.key), total=1.0, status=f"waiting for {run.source}" if run.source else ""
            )
            for run in job.runs()
        }
        if job.confirm_seeds:
            tasks[CONFIRM] = progress.add_task(CONFIRM, total=job.confirm_seeds, status="")

        def observe(event: RunEvent, runner: JobRunner) -> None:
            _show_event(progress, tasks, event, runner)

        with progress:
            runner = JobRunner(job, data, InlineExecutor(), store, observer=observe)
            trials = runner.run()
    except NasError as exc:
        raise fail(exc) from None

    rows = leaderboard(trials)
    target = recommendation(trials)
    found = (
        summarize(target, filter(is_confirmation, trials), job.confirm_seeds)
        if job.confirm_seeds and target is not None
        else None
    )
    if as_json:
        body = {
            "leaderboard": [r.model_dump() for r in rows],
            "confirmation": found.model_dump() if found is not None else None,
        }
        console.print_json(json.dumps(body))
        return
    print_run(console, job, trials, rows, runner, top=top, listed=skipped, wide=wide)
    if found is not None:
        say(
            console,
            f"recommended: trial {found.trial_id} ({found.strategy}), {confirmation_text(found)}",
        )


def _show_event(
    progress: Progress, tasks: dict[str, TaskID], event: RunEvent, runner: JobRunner
) -> None:
    """One strategy's bar after an event of the run: its share of the budget and its status
    (the confirmation's bar: its runs finished)."""
    state = runner.states.get(event.strategy)
    if state is None:  # a confirmation run
        if event.kind == "finished" and event.trial is not None:
            target = event.trial.request.params.get("confirms")
            progress.update(tasks[event.strategy], advance=1, status=f"of trial {target}")
        return
    fraction = min(1.0, state.committed / state.budget) if state.budget else 1.0
    status = ran_text(state.trials_done, state.skipped)
    if event.kind == "progress" and event.report is not None:
        status += f", trial {event.trial.number if event.trial else '?'} epoch "
        status += f"{event.report.epoch}: {event.report.val_accuracy:.3f}"
    if event.kind == "stopped":
        status = f"{ran_text(state.trials_done, state.skipped)} ({event.message})"
        fraction = 1.0
    progress.update(tasks[event.strategy], completed=fraction, status=status)


BEST = (
    Col("strategy", 100, fold=True),
    Col("best", 95),
    Col("strides", 80, left=True),
    Col("run", 70),
    Col("budget used", 60),
    Col("stopped", 90, fold=True),
    Col("architecture", 0, fold=True, wide=True),
)


def print_run(
    out: Console,
    job: JobSpec,
    trials: list[StoredTrial],
    rows: list[LeaderboardRow],
    runner: JobRunner,
    *,
    top: int,
    listed: bool,
    wide: bool,
) -> None:
    """The leaderboard of a finished ``nas run`` (its ranked rows, what is not ranked, the
    skipped proposals when ``listed``) and each strategy's best and why it stopped."""
    from collections import Counter

    from api.strides import strides_text
    from nas.strategies.chained import base_origin
    from workers.jobs.ranking import best_per_strategy
    from workers.jobs.store import TrialState

    ranked = [of_ranked(row) for row in rows[:top]]
    heading = f"{job.name}: {ranked_heading(len(ranked), len(rows))}"
    show(out, ranked_table(ranked, out.width, wide=wide), heading)
    states = Counter(t.state.value for t in trials)
    per = {
        key: Counter(t.state.value for t in trials if t.strategy == key)
        for key in {t.strategy for t in trials}
    }
    say(out, census(states, per, len(rows), listed=listed))
    if listed:
        skipped = [
            BoardRow(
                trial=t.id,
                strategy=t.strategy,
                number=t.number,
                spec=t.request.spec.to_string(),
                state=t.state,
                phase=t.request.params.get("phase"),
                base_from=base_origin(t.request.params),
                strides=strides_text(t.request.spec.to_string()),
                error=t.error,
            )
            for t in trials
            if t.state == TrialState.SKIPPED
        ]
        if skipped:
            show(out, skipped_table(skipped, out.width, wide=wide), "skipped proposals")
    winners = best_per_strategy(rows)
    table = []
    for key, state in runner.states.items():
        winner = winners.get(key)
        table.append(
            [
                key,
                pct(winner.accuracy) if winner else "-",
                (strides_text(winner.spec, winner.learned_strides) or "-") if winner else "-",
                str(state.trials_done - state.skipped),
                f"{100 * state.spent / state.budget:.0f}%" if state.budget else "-",
                state.stopped or "-",
                winner.spec if winner else "-",
            ]
        )
    show(out, fit(BEST, table, out.width, wide=wide), "best per strategy")
