"""``nas verdict JOB``: which strategy finds a good architecture for the least compute, tested
(``GET /api/v1/jobs/{id}/verdict``; the test is ``nas.verdict``'s). Fits 80 columns."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.shared import ApiKey, AsJson, Server, console, open_client
from api.client import Verdict, VerdictPair
from api.defaults import DEFAULT_SERVER

app = typer.Typer()


# ---- the verb --------------------------------------------------------------------------------


@app.command("verdict")
def show_verdict(
    job_id: Annotated[int, typer.Argument(help="job id")],
    server: Server = DEFAULT_SERVER,
    api_key: ApiKey = None,
    as_json: AsJson = False,
) -> None:
    """Which strategy finds a good architecture for the least compute: every pair compared at
    equal compute over the job's repeats, a permutation test corrected for the pairs (Holm),
    the median difference in accuracy with its 95% interval; "not distinguishable" unless
    p < 0.05. A job with one run per strategy gets no claim."""
    with open_client(server, api_key) as client:
        found = client.verdict(job_id)
    if as_json:
        console.print_json(found.model_dump_json())
        return
    print_verdict(found)


def _points(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.2f}"


def pair_lines(pair: VerdictPair) -> tuple[str, str]:
    """A pair in two lines: who is ahead, then the numbers (rich markup, escaped)."""
    says = f"[bold]{escape(pair.ahead)} ahead[/]" if pair.ahead else "not distinguishable"
    if pair.trade_off is not None:  # the test cannot tell them apart, the interval can
        found = pair.trade_off
        says += f": {escape(found.sooner)} sooner, {escape(found.better)} better (a trade-off)"
    numbers = (
        f"  U {pair.statistic:+d}/{pair.bound}, p {pair.p:.2g}, Holm p {pair.p_holm:.2g}; "
        + (
            f"a - b {_points(pair.effect)} points (95%: {_points(pair.effect_low)} to "
            f"{_points(pair.effect_high)})"
            if pair.effect is not None
            else "a - b: no comparison with a result on both sides"
        )
    )
    return f"{escape(pair.a)} vs {escape(pair.b)}: {says}", numbers


def print_verdict(found: Verdict) -> None:
    """The verdict's line, its strategies, its pairs and the test, each within 80 columns."""
    runs = sorted({s.runs for s in found.strategies})
    counts = " or ".join(map(str, runs)) if runs else "no"
    plural = "run" if runs == [1] else "runs"
    head = f"job {found.job_id} ({found.state}): {counts} {plural} per strategy"
    if not found.final:
        head += "; provisional while the job runs (repeats not started are left out)"
    console.print(escape(head), highlight=False)
    console.print(f"[bold]{escape(found.says)}[/]", highlight=False)
    unit, scale = (
        ("base epochs", found.unit_flops) if found.unit == "base_epochs" else ("GFLOPs", 1e9)
    )
    table = Table(title=None)
    table.add_column("strategy", overflow="fold")
    for column in ("runs", f"median cost ({unit})", "median accuracy"):
        table.add_column(column, justify="right", no_wrap=True)
    for s in found.strategies:
        table.add_row(
            escape(s.strategy),
            str(s.runs),
            "-" if s.cost is None else f"{s.cost / scale:,.2f}",
            "-" if s.value is None else f"{100 * s.value:.2f}%",
        )
    console.print(table)
    for pair in found.pairs:
        for line in pair_lines(pair):
            console.print(line, highlight=False, overflow="fold")
    if found.claim:
        console.print(f"[dim]test: {escape(found.test)}[/]", highlight=False)
