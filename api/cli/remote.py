"""Client verbs: a server over HTTP only (``api.client``): ``submit``, ``jobs``, ``leaderboard``
(``--csv``), ``best`` (``--export DIR``), ``cancel``, ``log``, ``extend``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.common import (
    ApiKey,
    AsJson,
    Server,
    confirmation_text,
    console,
    err_console,
    fail,
    finished_count,
    open_client,
)
from api.defaults import DEFAULT_SERVER

if TYPE_CHECKING:
    from api.client import Best, Comparison, Trial

app = typer.Typer()


def _read_job_file(path: Path) -> Any:
    """The job description as data (YAML or JSON); the server validates it."""
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text) if path.suffix in {".yaml", ".yml"} else json.loads(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise fail(f"{path} is not valid YAML/JSON: {' '.join(str(exc).split())}") from None


def _fmt(value: float | None, spec: str = ".4f") -> str:
    return format(value, spec) if value is not None else "-"


def _trial_name(trial: Trial) -> str:
    phase = f" ({trial.phase})" if trial.phase else ""
    return f"{trial.strategy}{phase} #{trial.number}"


@app.command()
def submit(
    job_file: Annotated[Path, typer.Argument(help="job description (YAML or JSON)")],
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Submit a job to a server; print its id and leaderboard URL."""
    payload = _read_job_file(job_file)
    with open_client(server, api_key) as client:
        job = client.submit(payload)
        url = client.leaderboard_url(job.id)
    if as_json:
        console.print_json(
            json.dumps({"id": job.id, "name": job.name, "state": job.state, "leaderboard_url": url})
        )
        return
    console.print(f"submitted job {job.id} ({escape(job.name)}, {job.state})", soft_wrap=True)
    console.print(f"leaderboard: {url}", soft_wrap=True, highlight=False)


@app.command("jobs")
def list_jobs(
    state: Annotated[str | None, typer.Option(help="only jobs in this state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="newest first, at most")] = 20,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List the server's jobs, newest first."""
    from nas.job import strategy_key

    with open_client(server, api_key) as client:
        page = client.jobs(state=state, limit=limit)
    if as_json:
        console.print_json(json.dumps([j.model_dump(mode="json") for j in page.items]))
        return
    table = Table(title=f"jobs ({len(page.items)} of {page.total})")
    for column in ("id", "name", "state", "trials done", "strategies", "created"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for job in page.items:
        counts = job.trial_counts
        done = finished_count(counts)
        strategies = [
            s if isinstance(s, str) else strategy_key(s) for s in job.spec.get("strategies", [])
        ]
        table.add_row(
            str(job.id),
            escape(job.name),
            job.state,
            f"{done}/{sum(counts.values())}",
            escape(", ".join(map(str, strategies))),
            job.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@app.command()
def leaderboard(
    job_id: Annotated[int, typer.Argument(help="job id")],
    top: Annotated[int, typer.Option(min=1, max=200, help="rows to show")] = 15,
    strategy: Annotated[str | None, typer.Option(help="only this strategy's trials")] = None,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="every trial of the job as CSV (to stdout, or --out)")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="with --csv: write the CSV to this file")] = None,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """A job's trials across strategies, most accurate first, and each strategy's compute to
    target; with --csv every trial as spreadsheet-safe CSV."""
    if out is not None and not as_csv:
        raise fail("--out goes with --csv")
    if as_csv and as_json:
        raise fail("choose --csv or --json")
    if as_csv:
        with open_client(server, api_key) as client:
            body = client.trials_csv(job_id, out)
        if out is not None:
            err_console.print(f"wrote {escape(str(out))}", soft_wrap=True, highlight=False)
        else:
            sys.stdout.write((body or b"").decode())
            sys.stdout.flush()
        return
    with open_client(server, api_key) as client:
        job = client.job(job_id)
        page = client.trials(job_id, limit=top, strategy=strategy)
        found = None if as_json else client.comparison(job_id)
    if as_json:
        console.print_json(json.dumps([t.model_dump(mode="json") for t in page.items]))
        return
    table = Table(title=f"job {job.id} {escape(job.name)} ({job.state}): {page.total} trials")
    columns = ("rank", "trial", "strategy", "state", "val acc", "params", "MACs", "GFLOPs")
    for column in (*columns, "architecture"):
        left = column in {"strategy", "state", "architecture"}
        table.add_column(column, justify="left" if left else "right")
    for rank, trial in enumerate(page.items, start=1):
        table.add_row(
            str(rank),
            str(trial.id),
            escape(_trial_name(trial)),
            trial.state,
            _fmt(trial.accuracy),
            _fmt(trial.n_params, ","),
            _fmt(trial.macs, ","),
            _fmt(trial.cost_flops / 1e9 if trial.cost_flops is not None else None, ",.1f"),
            trial.spec,
        )
    console.print(table)
    if found is not None:
        _print_comparison(found)
    console.print(f"leaderboard: {client.leaderboard_url(job.id)}", soft_wrap=True, highlight=False)


def _print_comparison(found: Comparison) -> None:
    """The target and each strategy's compute to it (``nas leaderboard``)."""
    target = found.target
    unit = "base epochs" if found.unit == "base_epochs" else "GFLOPs"
    scale = 1.0 if found.unit == "base_epochs" else 1e9

    def amount(value: float | None) -> str:
        return "not reached" if value is None else f"{value / scale:,.2f}"

    if target.value is None or target.best is None or target.margin is None:
        console.print("compute to target: no completed trial yet", soft_wrap=True)
        return
    n_val = f"{target.n_val} validation images" if target.n_val else "an unknown validation size"
    console.print(
        f"target {100 * target.value:.2f}%: the best, {100 * target.best:.2f}% (trial "
        f"{target.best_trial}), less {100 * target.margin:.2f} points (the larger of 0.5 points "
        f"and 2 standard errors on {n_val})",
        soft_wrap=True,
        highlight=False,
    )
    table = Table(title="compute to target")
    for column in ("strategy", "runs", f"to target ({unit})", "reached", "AUC"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for series in found.series:
        spread = ""
        if series.runs > 1 and series.compute_to_target is not None:
            spread = f" (IQR {amount(series.q1)}-{amount(series.q3)})"
        table.add_row(
            escape(series.strategy),
            str(series.runs),
            amount(series.compute_to_target) + spread,
            f"{series.reached}/{series.runs}",
            f"{100 * series.auc:.2f}%" if series.auc is not None else "-",
        )
    console.print(table)


@app.command()
def best(
    job_id: Annotated[int, typer.Argument(help="job id")],
    objective: Annotated[
        str | None, typer.Option(help="accuracy | pareto (default: pareto when the job has two)")
    ] = None,
    export: Annotated[
        Path | None, typer.Option(help="unpack the best trial's export (spec, weights, ...) here")
    ] = None,
    trial: Annotated[
        int | None, typer.Option(help="with --export: this trial instead of the best")
    ] = None,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """A job's best trial (and its Pareto set); with --export DIR, its model."""
    record: dict[str, Any] | None = None
    with open_client(server, api_key) as client:
        found = client.best(job_id, objective)
        if export is not None:
            client.export(job_id, export, trial=trial)
            record = json.loads((export / "record.json").read_text())
    if as_json:
        payload: dict[str, Any] = found.model_dump(mode="json")
        if export is not None:
            payload["export"] = {"dir": str(export), "record": record}
        console.print_json(json.dumps(payload))
        return
    if found.best is None:
        raise fail(f"job {job_id} has no completed trial yet", 1)
    _print_best(job_id, found.best, found)
    if export is not None and record is not None:
        _print_export(export, record)


def _print_best(job_id: int, top: Trial, found: Best) -> None:
    """The best trial (``top``, ``found.best``) and the Pareto front (``nas best``)."""
    console.print(
        f"best of job {job_id}: trial {top.id} ({escape(_trial_name(top))}), "
        f"val acc {_fmt(top.accuracy)}, {_fmt(top.n_params, ',')} params, "
        f"{_fmt(top.macs, ',')} MACs",
        soft_wrap=True,
    )
    console.print(f"  {top.spec}", soft_wrap=True, highlight=False)
    if found.confirmation is not None:
        console.print(f"  {confirmation_text(found.confirmation)}", soft_wrap=True)
    if found.pareto:
        table = Table(title=f"Pareto front ({found.objective})")
        for column in ("trial", "strategy", "val acc", "params", "MACs", "architecture"):
            table.add_column(column)
        for point in found.pareto:
            table.add_row(
                str(point.id),
                escape(_trial_name(point)),
                _fmt(point.accuracy),
                _fmt(point.n_params, ","),
                _fmt(point.macs, ","),
                point.spec,
            )
        console.print(table)


def _print_export(export: Path, record: dict[str, Any]) -> None:
    """What ``best --export`` unpacked, and how to load it."""
    program = record.get("program", {})
    exported = record.get("trial", {})
    console.print(
        f"exported trial {exported.get('id')} to {export}: " + ", ".join(record.get("files", [])),
        soft_wrap=True,
        highlight=False,
    )
    if program.get("file") is None:
        console.print(
            f"  no torch.export program: {escape(str(program.get('note')))}", soft_wrap=True
        )
    console.print(
        f"  load it with: nas.export.load({str(export)!r})", soft_wrap=True, highlight=False
    )


@app.command()
def cancel(
    job_id: Annotated[int, typer.Argument(help="job id")],
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Cancel a queued or running job."""
    with open_client(server, api_key) as client:
        job = client.cancel(job_id)
    console.print(f"job {job.id} ({escape(job.name)}) {job.state}", soft_wrap=True)


@app.command("log")
def trial_log(
    job_id: Annotated[int, typer.Argument(help="job id")],
    trial_id: Annotated[
        int, typer.Argument(help="trial id (the 'trial' column of nas leaderboard)")
    ],
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Why a trial failed: the reason, and its worker's stderr tail with the traceback."""
    with open_client(server, api_key) as client:
        found = client.trial_log(job_id, trial_id)
    if as_json:
        console.print_json(json.dumps(found.model_dump(mode="json")))
        return
    attempts = f"{found.attempts} attempt{'s' if found.attempts != 1 else ''}"
    typer.echo(
        f"trial {found.trial} ({found.strategy} #{found.number}) of job {found.job_id}: "
        f"{found.state} after {attempts}"
    )
    typer.echo("reason:")
    typer.echo(found.error or "(none recorded)")
    typer.echo("log (its worker's stderr and the traceback):")
    typer.echo(found.log or "(no log kept for this trial)")


def _positive(value: float) -> float:
    if not value > 0:
        raise typer.BadParameter("must be more than 0")
    return value


@app.command()
def extend(
    job_id: Annotated[int, typer.Argument(help="job id")],
    budget: Annotated[
        float, typer.Option(callback=_positive, help="budget to add, in the job's unit")
    ],
    max_trials_per_strategy: Annotated[
        int | None, typer.Option(min=1, help="raise the job's trials per strategy")
    ] = None,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Give a job more budget; a finished or cancelled job continues where it stopped."""
    with open_client(server, api_key) as client:
        job = client.extend(job_id, budget, max_trials_per_strategy)
    total = job.spec.get("budget", {})
    console.print(
        f"job {job.id} ({escape(job.name)}) {job.state}: budget now {total.get('total')} "
        f"{total.get('unit', '')}",
        soft_wrap=True,
    )
