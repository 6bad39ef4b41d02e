"""The ``nas`` command line (typer + rich).

Local verbs: ``train``, ``run`` (a whole comparison, no server), ``simulate`` (strategies
replayed against an oracle table), ``serve``. Client verbs talk to a server over HTTP only
(``api.client``): ``submit``, ``watch``, ``jobs``, ``leaderboard`` (``--csv``), ``best``
(``--export DIR``), ``cancel``, ``extend``, ``log``; the server and key come from
``--server`` / ``--api-key`` or ``NAS_SERVER`` / ``NAS_API_KEY``. Exit codes: 0 ok, 1 the
server refused (or the watched job did not complete), 2 bad input here, 3 server unreachable.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nas.errors import NasError

if TYPE_CHECKING:
    from api.client import BudgetUse, Comparison, Job, JobProgress, NasClient, Trial

app = typer.Typer(help="Neural architecture search for strides and scaling.", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


def fail(error: NasError | str, code: int = 2) -> typer.Exit:
    """Print one clear line and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    return typer.Exit(code=code)


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
        if job.warm_start is not None:
            raise fail("warm_start: starts from a job on a server (use nas submit)")
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


FRACTIONS = (0.25, 0.5, 1.0)


@dataclass
class SimulatedStrategy:
    """One strategy's simulated runs, summarised (``nas simulate``; compute in base epochs)."""

    strategy: str
    runs: int
    compute_to_target: dict[str, float | None]  # median, q1, q3; None: not reached
    success_rate: float  # runs that reached the target within the budget
    best_at: dict[str, float | None]  # fraction of the budget -> median true accuracy
    auc: float | None


def _median(values: list[float | None]) -> float | None:
    """The median, a missing value counting lowest (None when the median is missing)."""
    ordered = sorted(values, key=lambda v: -math.inf if v is None else v)
    n = len(ordered)
    if not n:
        return None
    middle = ordered[(n - 1) // 2 : n // 2 + 1]
    if any(v is None for v in middle):
        return None
    return statistics.fmean(v for v in middle if v is not None)


@app.command()
def simulate(
    table_file: Annotated[Path, typer.Argument(help="oracle table (JSON, from bench/oracle.py)")],
    job_file: Annotated[Path, typer.Argument(help="job description (YAML or JSON)")],
    repeats: Annotated[
        int, typer.Option(min=1, max=10_000, help="simulated runs of each strategy")
    ] = 10,
    seed: Annotated[int, typer.Option(min=0, help="seed of the table's seed draws")] = 0,
    as_json: AsJson = False,
) -> None:
    """Replay the job's fixed-stride strategies against an oracle table, nothing trained: per
    strategy, compute to target (median, IQR), success within the budget, the best true
    accuracy at 25/50/100% of the budget and the area under the curve."""
    from api.targets import quantile, series_of
    from nas.compare import area_under_curve, best_at, compute_to_target
    from nas.job import JobSpec
    from nas.oracle import OracleTable
    from workers.oracle import simulate as replay

    try:
        oracle = OracleTable.load(table_file)
        job = JobSpec.from_file(job_file)
        base_epoch = oracle.base_epoch_flops()
        repetitions = replay(job, oracle, repeats, seed)
    except NasError as exc:
        raise fail(" ".join(str(exc).split())) from None

    epochs = job.budget.epochs_per_trial
    target = oracle.target(epochs)
    share = job.budget.total / len(job.strategies)
    budget = {"base_epochs": share * base_epoch, "flops": share}.get(job.budget.unit)
    base_keys = [s.key for s in job.strategies]
    groups: dict[str, list[Any]] = {key: [] for key in base_keys}
    for repetition in repetitions:
        for key in job.strategy_keys():
            groups.setdefault(series_of(key, base_keys)[0], []).append(
                repetition.steps.get(key, [])
            )
    spent = [sum(step.cost for step in run) for runs in groups.values() for run in runs]
    horizon = budget if budget is not None else max(spent, default=0.0)
    rows = []
    for key, runs in groups.items():
        reached = [compute_to_target(steps, target) for steps in runs]
        epochs_to = [
            c / base_epoch if c is not None and (budget is None or c <= budget) else math.inf
            for c in reached
        ]
        q1, median, q3 = (quantile(epochs_to, q) for q in (0.25, 0.5, 0.75))
        rows.append(
            SimulatedStrategy(
                strategy=key,
                runs=len(runs),
                compute_to_target={
                    "median": median if math.isfinite(median) else None,
                    "q1": q1 if math.isfinite(q1) else None,
                    "q3": q3 if math.isfinite(q3) else None,
                },
                success_rate=sum(math.isfinite(v) for v in epochs_to) / max(1, len(runs)),
                best_at={
                    str(f): _median([best_at(steps, f * horizon) for steps in runs])
                    for f in FRACTIONS
                },
                auc=statistics.fmean(area_under_curve(steps, horizon) for steps in runs)
                if horizon > 0 and runs
                else None,
            )
        )
    best = oracle.best(epochs)
    summary = {
        "table": oracle.name,
        "job": job.name,
        "repeats": repeats,
        "seed": seed,
        "epochs_per_trial": epochs,
        "target": target,
        "best_mean": best.mean(epochs),
        "best_strides": best.strides,
        "base_epoch_flops": base_epoch,
        "budget_base_epochs": budget / base_epoch if budget is not None else None,
        "strategies": [asdict(row) for row in rows],
    }
    if as_json:
        console.print_json(json.dumps(summary))
        return
    shown_budget = (
        f"{budget / base_epoch:,.2f} base epochs per strategy"
        if budget is not None
        else f"{job.budget.total:g} trials in all (fractions of the most any run spent)"
    )
    console.print(
        f"{escape(oracle.name)}: {escape(job.name)}, {repeats} simulated runs per strategy; target "
        f"{100 * target:.2f}% (best mean {100 * best.mean(epochs):.2f}% at strides "
        f"{'-'.join(map(str, best.strides))}, less max(0.5 points, 2 standard errors)); budget "
        f"{shown_budget}",
        soft_wrap=True,
        highlight=False,
    )
    table = Table(title="compute to target (base epochs)")
    headers = ("strategy", "runs", "median (IQR)", "success", "best at 25/50/100%", "AUC")
    for column in headers:
        table.add_column(column, justify="left" if column == "strategy" else "right")

    def epochs_text(value: float | None) -> str:
        return "not reached" if value is None else f"{value:,.2f}"

    def percent(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.2f}"

    for row in rows:
        c2t = row.compute_to_target
        table.add_row(
            escape(row.strategy),
            str(row.runs),
            f"{epochs_text(c2t['median'])} ({epochs_text(c2t['q1'])}-{epochs_text(c2t['q3'])})",
            f"{100 * row.success_rate:.0f}%",
            " / ".join(percent(v) for v in row.best_at.values()),
            percent(row.auc),
        )
    console.print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default NAS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default NAS_PORT)")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL")] = None,
    executor: Annotated[str | None, typer.Option(help="local | ray | inline")] = None,
    artifact_dir: Annotated[
        Path | None, typer.Option(help="where kept trial weights go (NAS_ARTIFACT_DIR)")
    ] = None,
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
            "artifact_dir": artifact_dir,
            "ray_address": ray_address,
        }.items()
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    try:
        upgrade_database(settings.database_url)
    except Exception as exc:
        raise fail(f"cannot migrate the database: {type(exc).__name__}: {exc}") from None
    from sqlalchemy.engine import make_url

    from api.db.session import make_engine, session_factory
    from api.keys import KeyRepository
    from api.store import JobRepository

    factory = session_factory(make_engine(settings.database_url))
    stored_keys = KeyRepository(factory).any_stored()
    if not settings.auth_enabled and not stored_keys and settings.host not in LOOPBACK_HOSTS:
        err_console.print(
            f"[yellow]no API keys (NAS_API_KEYS or `nas keys create`): binding to 127.0.0.1 "
            f"instead of {settings.host}[/]"
        )
        settings = settings.model_copy(update={"host": "127.0.0.1"})
    elif not settings.auth_enabled and not stored_keys:
        err_console.print("[yellow]no API keys: open to this machine only (127.0.0.1)[/]")
    shown_url = make_url(settings.database_url).render_as_string(hide_password=True)
    err_console.print(
        f"serving on {settings.base_url()} (database {shown_url}, executor {settings.executor})"
    )
    if demo is not None:
        from nas.job import JobSpec

        try:
            job = JobRepository(factory).create(JobSpec.from_file(demo))
        except NasError as exc:
            raise fail(exc) from None
        base = settings.base_url()
        err_console.print(
            f"[bold green]demo job {job.id} submitted[/]\n"
            f"  leaderboard: {base}/jobs/{job.id}\n"
            f"  all jobs:    {base}/\n"
            f"  API docs:    {base}/docs"
        )
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


# ---- API keys in the database (an admin's verbs: they open the database, not a server) --------

keys_app = typer.Typer(help="API keys stored (hashed) in the server's database.")
app.add_typer(keys_app, name="keys")
DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL (default NAS_DATABASE_URL)", show_default=False)
]


@contextmanager
def _key_repository(database_url: str | None) -> Iterator[Any]:
    from api.db.session import make_engine, session_factory, upgrade_database
    from api.keys import KeyRepository
    from api.settings import Settings

    url = database_url or Settings().database_url
    try:
        upgrade_database(url)
    except Exception as exc:
        raise fail(f"cannot open the database: {type(exc).__name__}: {exc}") from None
    engine = make_engine(url)
    try:
        yield KeyRepository(session_factory(engine))
    except NasError as exc:
        raise fail(exc, code=1) from None
    finally:
        engine.dispose()


@keys_app.command("create")
def keys_create(name: str, database_url: DatabaseUrl = None) -> None:
    """Make a new key; it is printed once (only its SHA-256 digest is stored)."""
    with _key_repository(database_url) as keys:
        key = keys.create(name)
    err_console.print(f"key {escape(name)!r} created; it is shown only now:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(database_url: DatabaseUrl = None) -> None:
    """The stored keys (names and dates, never the keys)."""
    with _key_repository(database_url) as keys:
        infos = keys.infos()
    table = Table("name", "created", "revoked")
    for info in infos:
        revoked = f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "-"
        table.add_row(escape(info.name), f"{info.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(name: str, database_url: DatabaseUrl = None) -> None:
    """Stop a key (within a few seconds on running servers)."""
    with _key_repository(database_url) as keys:
        keys.revoke(name)
    err_console.print(f"key {escape(name)!r} revoked")


# ---- client verbs: a server over HTTP ---------------------------------------------------------

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
AsJson = Annotated[bool, typer.Option("--json", help="print JSON")]
DEFAULT_SERVER = "http://127.0.0.1:8000"  # as api.client's (not imported: httpx stays lazy)
FINISHED_TRIAL_STATES = ("completed", "pruned", "skipped", "failed")  # as workers.store's


@contextmanager
def _client(server: str, api_key: str | None) -> Iterator[NasClient]:
    """A client of ``server``; any ``ClientError`` inside becomes one line and its exit code."""
    from api.client import ClientError, NasClient

    try:
        with NasClient(server, api_key) as client:
            yield client
    except ClientError as exc:
        raise fail(exc.message, exc.exit_code) from None


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
    with _client(server, api_key) as client:
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
    with _client(server, api_key) as client:
        page = client.jobs(state=state, limit=limit)
    if as_json:
        console.print_json(json.dumps([j.model_dump(mode="json") for j in page.items]))
        return
    table = Table(title=f"jobs ({len(page.items)} of {page.total})")
    for column in ("id", "name", "state", "trials done", "strategies", "created"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for job in page.items:
        counts = job.trial_counts
        done = sum(counts.get(s, 0) for s in FINISHED_TRIAL_STATES)
        strategies = [
            s if isinstance(s, str) else s.get("label") or s.get("name", "?")
            for s in job.spec.get("strategies", [])
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
        with _client(server, api_key) as client:
            body = client.trials_csv(job_id, out)
        if out is not None:
            err_console.print(f"wrote {escape(str(out))}", soft_wrap=True, highlight=False)
        else:
            sys.stdout.write((body or b"").decode())
            sys.stdout.flush()
        return
    with _client(server, api_key) as client:
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
    with _client(server, api_key) as client:
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
    top = found.best
    console.print(
        f"best of job {job_id}: trial {top.id} ({escape(_trial_name(top))}), "
        f"val acc {_fmt(top.accuracy)}, {_fmt(top.n_params, ',')} params, "
        f"{_fmt(top.macs, ',')} MACs",
        soft_wrap=True,
    )
    console.print(f"  {top.spec}", soft_wrap=True, highlight=False)
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
    if export is not None and record is not None:
        program = record.get("program", {})
        exported = record.get("trial", {})
        console.print(
            f"exported trial {exported.get('id')} to {export}: "
            + ", ".join(record.get("files", [])),
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
    with _client(server, api_key) as client:
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
    with _client(server, api_key) as client:
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
    with _client(server, api_key) as client:
        job = client.extend(job_id, budget, max_trials_per_strategy)
    total = job.spec.get("budget", {})
    console.print(
        f"job {job.id} ({escape(job.name)}) {job.state}: budget now {total.get('total')} "
        f"{total.get('unit', '')}",
        soft_wrap=True,
    )


def _expected_trials(job: Job, strategies: int) -> int | None:
    """Trials each strategy may run when the budget counts trials; else unknown."""
    budget = job.spec.get("budget", {})
    if budget.get("unit") != "trials" or strategies < 1:
        return None
    share = int(float(budget.get("total", 0)) // strategies)
    return max(1, min(share, int(budget.get("max_trials_per_strategy", share))))


def _fractions(job: Job, progress: JobProgress) -> dict[str, float | None]:
    """Per strategy, how far along it is (0..1), None when unknown."""
    if job.finished:
        return dict.fromkeys(progress.strategies, 1.0)
    if progress.budget_used is not None:
        return {k: progress.budget_used.get(k) for k in progress.strategies}
    expected = _expected_trials(job, len(progress.strategies))
    out: dict[str, float | None] = {}
    for key, counts in progress.strategies.items():
        done = sum(counts.get(s, 0) for s in FINISHED_TRIAL_STATES)
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

    bars = Progress(
        TextColumn("[bold]{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[status]}"),
        console=err_console,
    )
    tasks: dict[str, Any] = {}
    best_of: dict[str, tuple[int, float | None]] = {}  # strategy -> (trials done, best accuracy)
    with _client(server, api_key) as client:
        last_ok = time.monotonic()
        with bars:
            while True:
                try:
                    job = client.job(job_id)
                    progress = client.progress(job_id)
                    fractions = _fractions(job, progress)
                    for key, counts in progress.strategies.items():
                        done = sum(counts.get(s, 0) for s in FINISHED_TRIAL_STATES)
                        if best_of.get(key, (-1, None))[0] != done:
                            top = client.trials(job_id, strategy=key, state="completed", limit=1)
                            accuracy = top.items[0].accuracy if top.items else None
                            best_of[key] = (done, accuracy)
                        status = f"{done} done, {counts.get('running', 0)} running"
                        if best_of[key][1] is not None:
                            status += f", best {best_of[key][1]:.4f}"
                        if key not in tasks:
                            tasks[key] = bars.add_task(escape(key), total=None, status="")
                        fraction = fractions.get(key)
                        bars.update(
                            tasks[key],
                            total=None if fraction is None else 1.0,
                            completed=fraction or 0.0,
                            status=status,
                        )
                    last_ok = time.monotonic()
                except ClientError as exc:
                    if exc.exit_code != EXIT_UNREACHABLE or time.monotonic() - last_ok > patience:
                        raise
                    time.sleep(interval)
                    continue
                if job.finished:
                    break
                time.sleep(interval)
        counts = job.trial_counts
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()) if n)
        console.print(
            f"job {job.id} ({escape(job.name)}) {job.state}: {summary or 'no trials'}",
            soft_wrap=True,
        )
        if job.error:
            console.print(f"  error: {escape(job.error)}", soft_wrap=True)
        for key, use in (client.progress(job_id).budget or {}).items():
            console.print(f"  {escape(key)}: {_budget_text(use)}", soft_wrap=True, highlight=False)
        console.print(
            f"leaderboard: {client.leaderboard_url(job.id)}", soft_wrap=True, highlight=False
        )
    if job.state != "completed":
        raise typer.Exit(code=1)


def _budget_text(use: BudgetUse) -> str:
    """``budget 84% (4.2 of 5 GFLOPs), stopped: budget spent``."""
    share = min(1.0, use.spent / use.budget) if use.budget > 0 else 0.0
    if use.unit == "trials":
        amount = f"{use.spent:g} of {use.budget:g} trials"
    else:
        amount = f"{use.spent / 1e9:,.1f} of {use.budget / 1e9:,.1f} GFLOPs"
    text = f"budget {100 * share:.0f}% ({amount}, {use.trials} trials done)"
    return text + (f", stopped: {use.stopped}" if use.stopped else "")
