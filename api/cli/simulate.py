"""``nas simulate``: a job's fixed-stride strategies replayed against an oracle table."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.shared import AsJson, console, fail
from nas.errors import NasError

if TYPE_CHECKING:
    from nas.compare import Step
    from nas.job import JobSpec
    from nas.oracle import OracleTable
    from workers.jobs.simulation import Repetition

app = typer.Typer()
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
    from nas.job import JobSpec
    from nas.oracle import OracleTable
    from workers.jobs.simulation import simulate as replay

    try:
        oracle = OracleTable.load(table_file)
        job = JobSpec.from_file(job_file)
        base_epoch = oracle.base_epoch_flops()
        repetitions = replay(job, oracle, repeats, seed)
    except NasError as exc:
        raise fail(" ".join(str(exc).split())) from None

    summary, rows = _summarise(job, oracle, base_epoch, repetitions, repeats, seed)
    if as_json:
        console.print_json(json.dumps(summary))
        return
    _print_simulation(summary, rows, job.budget.total)


def _summarise(
    job: JobSpec,
    oracle: OracleTable,
    base_epoch: float,
    repetitions: list[Repetition],
    repeats: int,
    seed: int,
) -> tuple[dict[str, Any], list[SimulatedStrategy]]:
    """The simulation's summary (``--json``) and its rows, one per strategy."""
    from nas.verdict import verdict

    epochs = job.budget.epochs_per_trial
    target = oracle.target(epochs)
    share = job.share()
    budget = {"base_epochs": share * base_epoch, "flops": share}.get(job.budget.unit)
    groups: dict[str, list[Any]] = {config.key: [] for config in job.strategies}
    for repetition in repetitions:
        for key, run in job.run_keys().items():
            groups[run.strategy].append(repetition.steps.get(key, []))
    spent = [sum(step.cost for step in run) for runs in groups.values() for run in runs]
    horizon = budget if budget is not None else max(spent, default=0.0)
    rows = [
        _strategy_row(key, runs, target, base_epoch, budget, horizon)
        for key, runs in groups.items()
    ]
    best = oracle.best(epochs)
    summary = {
        "table": oracle.name,
        "job": job.name,
        "repeats": repeats,
        "seed": seed,
        "epochs_per_trial": epochs,
        # what recommendations are scored on, held out from the seed the strategy saw
        "split": oracle.split(epochs),
        "target": target,
        "best_mean": statistics.fmean(best.scores(oracle.split(epochs), epochs)),
        "best_strides": best.strides,
        "base_epoch_flops": base_epoch,
        "budget_base_epochs": budget / base_epoch if budget is not None else None,
        "strategies": [asdict(row) for row in rows],
        # the runs compared at equal compute (FLOPs), tested (nas.verdict)
        "verdict": verdict(groups).model_dump(mode="json"),
    }
    return summary, rows


def _strategy_row(
    key: str,
    runs: list[list[Step]],
    target: float,
    base_epoch: float,
    budget: float | None,
    horizon: float,
) -> SimulatedStrategy:
    """One strategy's runs: compute to target (base epochs), success, best at, AUC."""
    from nas.compare import area_under_curve, best_at, compute_to_target, quartiles

    reached = [compute_to_target(steps, target) for steps in runs]
    epochs_to = [
        c / base_epoch if c is not None and (budget is None or c <= budget) else None
        for c in reached
    ]
    q1, median, q3 = quartiles(epochs_to)
    return SimulatedStrategy(
        strategy=key,
        runs=len(runs),
        compute_to_target={"median": median, "q1": q1, "q3": q3},
        success_rate=sum(v is not None for v in epochs_to) / max(1, len(runs)),
        best_at={
            str(f): _median([best_at(steps, f * horizon) for steps in runs]) for f in FRACTIONS
        },
        auc=statistics.fmean(area_under_curve(steps, horizon) for steps in runs)
        if horizon > 0 and runs
        else None,
    )


def _print_simulation(
    summary: dict[str, Any], rows: list[SimulatedStrategy], total_budget: float
) -> None:
    """The human form: one line on the target and budget, then a row per strategy."""
    budget = summary["budget_base_epochs"]
    shown_budget = (
        f"{budget:,.2f} base epochs per strategy"
        if budget is not None
        else f"{total_budget:g} trials in all (fractions of the most any run spent)"
    )
    console.print(
        f"{escape(summary['table'])}: {escape(summary['job'])}, {summary['repeats']} simulated "
        f"runs per strategy, selecting on one seed's validation accuracy and scored on the "
        f"{summary['split']} split over the table's other seeds; target "
        f"{100 * summary['target']:.2f}% (best {summary['split']} mean "
        f"{100 * summary['best_mean']:.2f}% at strides "
        f"{'-'.join(map(str, summary['best_strides']))}, less max(0.5 points, 2 standard "
        f"errors)); budget {shown_budget}",
        soft_wrap=True,
        highlight=False,
    )
    table = Table(title=f"compute to target (base epochs); accuracies on {summary['split']}")
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
    console.print(f"verdict: {escape(summary['verdict']['says'])}", soft_wrap=True, highlight=False)
