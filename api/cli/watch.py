"""``nas watch``: a job's live progress per strategy, polled over HTTP, until it ends."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, TaskID

from api.cli.shared import (
    ApiKey,
    Server,
    console,
    err_console,
    finished_count,
    job_spec,
    open_client,
    ran_text,
    strategy_bars,
)
from api.cli.tables import say
from api.defaults import DEFAULT_SERVER
from api.live_targets import job_unit
from workers.jobs.units import si

if TYPE_CHECKING:
    from api.client import BudgetUse, Job, JobProgress, NasClient

app = typer.Typer()


def _expected_trials(job: Job) -> int | None:
    """Trials each strategy run may run when the budget counts trials (its share, at most its
    trial limit); else unknown."""
    spec = job_spec(job)
    if spec.budget.unit != "trials":
        return None
    return max(1, min(int(spec.share()), spec.budget.max_trials_per_strategy))


def _fractions(job: Job, progress: JobProgress) -> dict[str, float | None]:
    """Per strategy, how far along it is (0..1), None when unknown."""
    if job.finished:
        return dict.fromkeys(progress.strategies, 1.0)
    if progress.budget_used is not None:
        return {k: progress.budget_used.get(k) for k in progress.strategies}
    expected = _expected_trials(job)
    out: dict[str, float | None] = {}
    for key, counts in progress.strategies.items():
        done = finished_count(counts)
        out[key] = min(1.0, done / expected) if expected else None
    return out


@app.command()
def watch(
    job_id: Annotated[int, typer.Argument(help="job id")],
    interval: Annotated[float, typer.Option(min=0.05, help="seconds between polls")] = 1.0,
    patience: Annotated[
        float, typer.Option(min=0, help="seconds to keep retrying an unreachable server")
    ] = 30.0,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Live progress per strategy until the job ends; exit 0 when it completed, 1 otherwise."""
    from api.client import EXIT_UNREACHABLE, ClientError

    bars = strategy_bars(err_console, "{task.percentage:>5.1f}%")
    tasks: dict[str, TaskID] = {}
    best_of: dict[str, tuple[int, float | None]] = {}  # strategy -> (trials done, best accuracy)
    with open_client(server, api_key) as client:
        last_ok = time.monotonic()
        with bars:
            while True:
                try:
                    job = _poll(client, job_id, bars, tasks, best_of)
                    last_ok = time.monotonic()
                except ClientError as exc:
                    if exc.exit_code != EXIT_UNREACHABLE or time.monotonic() - last_ok > patience:
                        raise
                    time.sleep(interval)
                    continue
                if job.finished:
                    break
                time.sleep(interval)
        print_ended(console, job, client.progress(job.id), client.leaderboard_url(job.id))
    if job.state != "completed":
        raise typer.Exit(code=1)


def _poll(
    client: NasClient,
    job_id: int,
    bars: Progress,
    tasks: dict[str, TaskID],
    best_of: dict[str, tuple[int, float | None]],
) -> Job:
    """One look at the job: each strategy's bar brought up to date (its best accuracy fetched
    only when it finished more trials since the last look)."""
    job = client.job(job_id)
    progress = client.progress(job_id)
    fractions = _fractions(job, progress)
    for key, counts in progress.strategies.items():
        done = finished_count(counts)
        if best_of.get(key, (-1, None))[0] != done:
            top = client.trials(job_id, strategy=key, ranked=True, limit=1)
            accuracy = top.items[0].accuracy if top.items else None
            best_of[key] = (done, accuracy)
        status = bar_status(counts, best_of[key][1], (progress.budget or {}).get(key))
        if key not in tasks:
            tasks[key] = bars.add_task(escape(key), total=None, status="")
        fraction = fractions.get(key)
        bars.update(
            tasks[key],
            total=None if fraction is None else 1.0,
            completed=fraction or 0.0,
            status=status,
        )
    return job


def print_ended(out: Console, job: Job, progress: JobProgress, url: str) -> None:
    """The ended job: its trials by state, its error, each strategy's budget use and why it
    stopped (in the job's unit)."""
    counts = job.trial_counts
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()) if n)
    say(out, f"job {job.id} ({job.name}) {job.state}: {summary or 'no trials'}")
    if job.error:
        say(out, f"  error: {job.error}")
    budget = progress.budget or {}
    unit = job_unit(job_spec(job), {k: use.model_dump() for k, use in budget.items()})
    for key, use in budget.items():
        say(out, f"  {key}: {budget_text(use, unit)}")
    say(out, f"leaderboard: {url}")


def bar_status(counts: dict[str, int], best: float | None, use: BudgetUse | None = None) -> str:
    """A strategy's bar: ``22 run, 5 skipped, 1 running, best 66.67%`` (its trials by state);
    a strategy that starts from another's recommendation: ``waiting for diffstride`` until it
    starts, then ``..., from diffstride #1`` (its base); trials no worker can take: ``...,
    waiting for a node with 0.25 GPU``."""
    if use is not None and use.waiting_for and not use.stopped:
        return f"waiting for {use.waiting_for}"
    status = f"{ran_text(finished_count(counts), counts.get('skipped', 0))}, "
    status += f"{counts.get('running', 0)} running"
    status += f", best {100 * best:.2f}%" if best is not None else ""
    status += f", from {use.base_from}" if use is not None and use.base_from else ""
    return status + (f", waiting for {use.waiting}" if use is not None and use.waiting else "")


def budget_text(use: BudgetUse, unit: tuple[str, float] = ("flops", 1.0)) -> str:
    """``budget 84% (4.20 of 5.00 base epochs, 6 run, 2 skipped), stopped: budget spent``; in
    base epochs when the job's budget counts them (``unit``: its name and FLOPs in one)."""
    share = min(1.0, use.spent / use.budget) if use.budget > 0 else 0.0
    if use.unit == "trials":
        amount = f"{use.spent:g} of {use.budget:g} trials"
    elif unit[0] == "base_epochs":
        amount = f"{use.spent / unit[1]:,.2f} of {use.budget / unit[1]:,.2f} base epochs"
    else:
        amount = f"{si(use.spent)} of {si(use.budget, 'FLOPs')}"
    text = f"budget {100 * share:.0f}% ({amount}, {ran_text(use.trials, use.skipped)})"
    text += f", from {use.base_from}" if use.base_from else ""
    text += f", waiting for {use.waiting}" if use.waiting else ""
    if use.waiting_for and not use.stopped:
        return f"{text}, waiting for {use.waiting_for}"
    return text + (f", stopped: {use.stopped}" if use.stopped else "")
