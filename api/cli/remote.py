"""Client verbs: a server over HTTP only (``api.client``): ``submit``, ``jobs``, ``leaderboard``
(``--csv``), ``best`` (``--export DIR``), ``cancel``, ``trial``, ``log``, ``extend``."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from api.cli.board import (
    census,
    human,
    of_trial,
    pct,
    ranked_heading,
    ranked_table,
    skipped_table,
)
from api.cli.shared import (
    ApiKey,
    AsJson,
    Server,
    Wide,
    confirmation_text,
    console,
    err_console,
    fail,
    finished_count,
    job_spec,
    open_client,
)
from api.cli.tables import Col, fit, say, show
from api.defaults import DEFAULT_SERVER

if TYPE_CHECKING:
    from api.client import (
        Best,
        Comparison,
        Job,
        JobProgress,
        NasClient,
        Page,
        Trial,
        TrialDetail,
        TrialLog,
    )

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
    wide: Wide = False,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """List the server's jobs, newest first."""
    with open_client(server, api_key) as client:
        page = client.jobs(state=state, limit=limit)
    if as_json:
        console.print_json(json.dumps([j.model_dump(mode="json") for j in page.items]))
        return
    rows = []
    for job in page.items:
        counts = job.trial_counts
        strategies = [config.key for config in job_spec(job).strategies]
        rows.append(
            [
                str(job.id),
                job.name,
                job.state,
                f"{finished_count(counts)}/{sum(counts.values())}",
                ", ".join(map(str, strategies)),
                job.created_at.strftime("%Y-%m-%d %H:%M"),
            ]
        )
    show(
        console,
        fit(JOB_COLUMNS, rows, console.width, wide=wide),
        f"jobs ({len(rows)} of {page.total})",
    )


JOB_COLUMNS = (
    Col("id", 100),
    Col("name", 90, fold=True),
    Col("state", 95, left=True),
    Col("trials done", 80),
    Col("strategies", 30, fold=True),
    Col("created", 20, left=True),
)


@app.command()
def leaderboard(
    job_id: Annotated[int, typer.Argument(help="job id")],
    top: Annotated[int, typer.Option(min=1, max=200, help="rows to show")] = 15,
    strategy: Annotated[str | None, typer.Option(help="only this strategy's trials")] = None,
    skipped: Annotated[
        bool, typer.Option("--skipped", help="also list the skipped proposals (over budget)")
    ] = False,
    wide: Wide = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="every trial of the job as CSV (to stdout, or --out)")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="with --csv: write the CSV to this file")] = None,
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """A job's ranked trials across strategies, most accurate first (confirmation runs and
    skipped proposals are counted, not ranked), and each strategy's compute to target; with
    --csv every trial as spreadsheet-safe CSV; --json: the ranked trials, then (--skipped) the
    skipped proposals."""
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
        page = client.trials(job_id, limit=top, strategy=strategy, ranked=True)
        unranked = _skipped(client, job_id, strategy) if skipped else []
        if as_json:
            rows = [t.model_dump(mode="json") for t in (*page.items, *unranked)]
            console.print_json(json.dumps(rows))
            return
        board = Board(job, page, client.progress(job_id), client.comparison(job_id), unranked)
        print_board(console, board, strategy=strategy, listed=skipped, wide=wide)
        say(console, f"leaderboard: {client.leaderboard_url(job.id)}")


def _skipped(client: NasClient, job_id: int, strategy: str | None) -> list[Trial]:
    """Every skipped proposal of the job (of ``strategy``), oldest first."""
    found: list[Trial] = []
    while True:
        page = client.trials(
            job_id,
            limit=200,
            offset=len(found),
            strategy=strategy,
            state="skipped",
            sort="id",
            order="asc",
        )
        found.extend(page.items)
        if not page.items or len(found) >= page.total:
            return found


@dataclass(frozen=True)
class Board:
    """What ``nas leaderboard`` shows of a job: its ranked trials (a page), its trial counts,
    its compute to target and (``--skipped``) its skipped proposals."""

    job: Job
    ranked: Page[Trial]
    progress: JobProgress
    comparison: Comparison
    skipped: list[Trial]


def print_board(
    out: Console, board: Board, *, strategy: str | None, listed: bool, wide: bool
) -> None:
    """The ranked table, what is not ranked, the skipped proposals (``listed``) and compute
    to target, in ``out``'s width (``wide``: every column)."""
    job, page = board.job, board.ranked
    rows = [of_trial(t, rank) for rank, t in enumerate(page.items, start=1)]
    heading = f"job {job.id} {job.name} ({job.state}): "
    heading += ranked_heading(len(rows), page.total, strategy)
    show(out, ranked_table(rows, out.width, wide=wide), heading)
    progress = board.progress
    if strategy is None:
        states, per = progress.states, progress.strategies
    else:
        states, per = progress.strategies.get(strategy, {}), {}
        states = {k: n for k, n in states.items() if k != "total"}
    say(out, census(states, per, page.total, listed=listed, job_id=job.id))
    if listed and board.skipped:
        skipped = [of_trial(t) for t in board.skipped]
        show(out, skipped_table(skipped, out.width, wide=wide), "skipped proposals")
    print_comparison(out, board.comparison, wide=wide)


COMPARISON = (
    Col("strategy", 100, fold=True),
    Col("runs", 60),
    Col("to target", 90),
    Col("reached", 80),
    Col("AUC", 70),
)


def print_comparison(out: Console, found: Comparison, *, wide: bool = False) -> None:
    """The target (or why there is none) and each strategy's compute to it."""
    target = found.target
    unit = "base epochs" if found.unit == "base_epochs" else "FLOPs"

    def amount(value: float | None) -> str:
        if value is None:
            return "not reached"
        return f"{value:,.2f}" if found.unit == "base_epochs" else human(value)

    if target.value is None or target.best is None or target.margin is None:
        say(out, f"no target: {target.reason or 'no completed trial yet'}")
        if target.best is None:
            return
        columns = [COMPARISON[0], COMPARISON[1], COMPARISON[4]]
        rows = [
            [series.strategy, str(series.runs), pct(series.auc) if series.auc is not None else "-"]
            for series in found.series
        ]
        show(out, fit(columns, rows, out.width, wide=wide), "area under the best-so-far curve")
        return
    n_val = f"{target.n_val:,} validation images" if target.n_val else "an unknown validation size"
    say(
        out,
        f"target {pct(target.value)}: the best, {pct(target.best)} (trial {target.best_trial}), "
        f"less {100 * target.margin:.2f} points (the larger of 0.5 points and 2 standard errors "
        f"on {n_val})",
    )
    rows = []
    for series in found.series:
        spread = ""
        if series.runs > 1 and series.compute_to_target is not None:
            spread = f" (IQR {amount(series.q1)}-{amount(series.q3)})"
        rows.append(
            [
                series.strategy,
                str(series.runs),
                amount(series.compute_to_target) + spread,
                f"{series.reached}/{series.runs}",
                pct(series.auc) if series.auc is not None else "-",
            ]
        )
    show(out, fit(COMPARISON, rows, out.width, wide=wide), f"compute to target, in {unit}")


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
    wide: Wide = False,
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
    print_best(console, job_id, found.best, found, wide=wide)
    if export is not None and record is not None:
        _print_export(export, record)


def print_best(out: Console, job_id: int, top: Trial, found: Best, *, wide: bool = False) -> None:
    """The best trial (``top``, ``found.best``), its confirmation and the Pareto front."""
    strides = f", strides {top.strides}" if top.strides else ""
    say(
        out,
        f"best of job {job_id}: trial {top.id} ({_trial_name(top)}), val acc {pct(top.accuracy)}, "
        f"{human(top.n_params)} params, {human(top.macs)} MACs{strides}",
    )
    out.print(Text("  " + top.spec, overflow="fold"), highlight=False)
    if found.confirmation is not None:
        say(out, f"  {confirmation_text(found.confirmation)}")
    if found.pareto:
        rows = [of_trial(point) for point in found.pareto]
        show(out, ranked_table(rows, out.width, wide=wide), f"Pareto front ({found.objective})")


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


@app.command("trial")
def show_trial(
    job_id: Annotated[int, typer.Argument(help="job id")],
    trial_id: Annotated[
        int, typer.Argument(help="trial id (the 'trial' column of nas leaderboard)")
    ],
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """One trial: its state, accuracy and strides, the node it ran on and its device."""
    with open_client(server, api_key) as client:
        found = client.trial(job_id, trial_id)
    if as_json:
        console.print_json(json.dumps(found.model_dump(mode="json")))
        return
    lines = [
        f"trial {found.id} ({_trial_name(found)}) of job {job_id}: {found.state} after "
        f"{_attempts(found)}",
        f"spec: {found.spec}",
        f"strides: {found.strides or '-'}",
        f"accuracy: {pct(found.accuracy)}",
        f"node: {found.node or '-'}",
        f"device: {found.device or '-'}",
    ]
    if found.error:
        lines.append(f"error: {found.error}")
    for line in lines:
        typer.echo(line)


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
    typer.echo(
        f"trial {found.trial} ({found.strategy} #{found.number}) of job {found.job_id}: "
        f"{found.state} after {_attempts(found)}"
    )
    typer.echo("reason:")
    typer.echo(found.error or "(none recorded)")
    typer.echo("log (its worker's stderr and the traceback):")
    typer.echo(found.log or "(no log kept for this trial)")


def _attempts(found: TrialLog | TrialDetail) -> str:
    """'4 attempts (2 taken over when its server died, 1 free retry; not charged)': the
    attempts, and those not charged to the trial's retries when it had any."""
    parts = []
    if found.takeovers:
        parts.append(f"{found.takeovers} taken over when its server died")
    if found.free_retries:
        parts.append(f"{found.free_retries} free retr{'y' if found.free_retries == 1 else 'ies'}")
    uncharged = f" ({', '.join(parts)}; not charged)" if parts else ""
    return f"{found.attempts} attempt{'s' if found.attempts != 1 else ''}{uncharged}"


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
    now = job_spec(job).budget
    console.print(
        f"job {job.id} ({escape(job.name)}) {job.state}: budget now {now.total} {now.unit}",
        soft_wrap=True,
    )
