"""The leaderboard as the CLI prints it: ranked trials, skipped proposals, what is not ranked.

One row shape (``BoardRow``) from the server's trials (``nas leaderboard``, ``nas best``) or from
a local run's ranked rows (``nas run``), in human units (91.23%, 701k params, 19.1M MACs,
214G FLOPs) and with the strides instead of the block string (that one only with ``--wide``);
``api.cli.tables.fit`` picks the columns that fit the terminal. Which trials are ranked is
``workers.jobs.ranking.is_ranked``'s rule, the page's: confirmation runs and skipped proposals
are counted under the table, never ranked; ``--skipped`` lists the skipped proposals with the
reason each did not fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.cli.tables import Col, Fitted, fit
from api.strides import strides_text
from nas.job import CONFIRM
from workers.jobs.units import count, si

if TYPE_CHECKING:
    from api.client import Trial
    from workers.jobs.ranking import LeaderboardRow


@dataclass(frozen=True)
class BoardRow:
    """One trial as the CLI's tables show it."""

    trial: int
    strategy: str
    number: int
    spec: str
    state: str
    rank: int | None = None
    phase: str | None = None
    base_from: str | None = None
    strides: str | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    macs: int | None = None
    cost_flops: float | None = None
    wall_seconds: float | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        """``grid/r1``, ``diffstride (retrain)`` or, started from another strategy's
        recommendation, ``after (grid, from diffstride #1)``."""
        notes = [n for n in (self.phase, self.base_from and f"from {self.base_from}") if n]
        return self.strategy + (f" ({', '.join(notes)})" if notes else "")


def of_trial(trial: Trial, rank: int | None = None) -> BoardRow:
    """A row from the server's view of a trial."""
    return BoardRow(
        trial=trial.id,
        strategy=trial.strategy,
        number=trial.number,
        spec=trial.spec,
        state=trial.state,
        rank=rank,
        phase=trial.phase,
        base_from=trial.base_from,
        strides=trial.strides,
        accuracy=trial.accuracy,
        test_accuracy=trial.test_accuracy,
        params=trial.n_params,
        macs=trial.macs,
        cost_flops=trial.cost_flops,
        wall_seconds=trial.wall_seconds,
        error=trial.error,
    )


def of_ranked(row: LeaderboardRow) -> BoardRow:
    """A row from a local run's ranked row (``workers.jobs.ranking.leaderboard``)."""
    return BoardRow(
        trial=row.trial_id,
        strategy=row.strategy,
        number=row.number,
        spec=row.spec,
        state=row.state,
        rank=row.rank,
        phase=row.phase,
        base_from=row.base_from,
        strides=strides_text(row.spec, row.learned_strides),
        accuracy=row.accuracy,
        test_accuracy=row.test_accuracy,
        params=row.params,
        macs=row.macs,
        cost_flops=row.cost_flops,
        wall_seconds=row.wall_seconds,
    )


# ---- cells ---------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    """``91.23%``; ``-`` for none."""
    return "-" if value is None else f"{100 * value:.2f}%"


def human(value: float | None) -> str:
    """``701k``, ``19.1M``; ``-`` for none."""
    return "-" if value is None else si(value)


def secs(value: float | None) -> str:
    """``12.3s``, ``4m 05s``, ``2h 10m``."""
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes = int(value // 60)
    if minutes < 60:
        return f"{minutes}m {int(value % 60):02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


# ---- tables --------------------------------------------------------------------------------

RANKED = (
    Col("rank", 100),
    Col("trial", 99),
    Col("strategy", 98, fold=True),
    Col("#", 10),
    Col("val acc", 97),
    Col("test acc", 40),
    Col("strides", 90, left=True),
    Col("params", 70),
    Col("MACs", 65),
    Col("FLOPs", 50),
    Col("wall", 20),
    Col("architecture", 0, fold=True, wide=True),
)
"""The ranked trials' columns; ``FLOPs``: what the trial was charged (FLOPs x samples seen)."""


def ranked_table(rows: Sequence[BoardRow], width: int, *, wide: bool = False) -> Fitted:
    """The ranked trials in ``width`` characters (``wide``: every column, the block string
    too); a column no row has a value in (test accuracy without a test split) is left out."""
    cells = [
        [
            str(r.rank) if r.rank is not None else "",
            str(r.trial),
            r.name,
            str(r.number),
            pct(r.accuracy),
            pct(r.test_accuracy),
            r.strides or "-",
            human(r.params),
            human(r.macs),
            human(r.cost_flops),
            secs(r.wall_seconds),
            r.spec,
        ]
        for r in rows
    ]
    empty = {"test acc"} if all(r.test_accuracy is None for r in rows) else set()
    if rows and all(r.rank is None for r in rows):
        empty.add("rank")
    keep = [j for j, col in enumerate(RANKED) if col.header not in empty]
    return fit(
        [RANKED[j] for j in keep], [[row[j] for j in keep] for row in cells], width, wide=wide
    )


SKIPPED = (
    Col("trial", 100),
    Col("strategy", 98, fold=True),
    Col("#", 10),
    Col("strides", 90, left=True),
    Col("why it did not run", 99, fold=True),  # the point of this table: it widens first
    Col("architecture", 0, fold=True, wide=True),
)


def skipped_table(rows: Sequence[BoardRow], width: int, *, wide: bool = False) -> Fitted:
    """The skipped proposals and why each did not fit its strategy's budget."""
    cells = [
        [str(r.trial), r.name, str(r.number), r.strides or "-", r.error or "-", r.spec]
        for r in rows
    ]
    return fit(SKIPPED, cells, width, wide=wide)


# ---- what is not ranked --------------------------------------------------------------------


def ranked_heading(shown: int, ranked: int, whose: str | None = None) -> str:
    """``the 15 most accurate of 17 ranked trials``, or ``17 ranked trials`` when all show;
    ``whose``: a strategy's (``grid's 17 ranked trials``)."""
    of = f"{whose}'s " if whose else ""
    if shown < ranked:
        return f"the {shown} most accurate of {of}{ranked} ranked trials"
    return f"{of}{count(ranked, 'ranked trial')}"


def census(
    states: Mapping[str, int],
    strategies: Mapping[str, Mapping[str, int]],
    ranked: int,
    *,
    listed: bool,
    job_id: int | None = None,
) -> str:
    """``61 trials: 17 ranked; not ranked: 41 skipped proposals (over budget, never run;
    --skipped lists them), 3 confirmation runs, 1 failed``, from the trial counts per state
    (``states``) and per strategy; ``listed``: the skipped proposals are listed below."""
    confirm = strategies.get(CONFIRM, {})
    confirmations = sum(n for state, n in confirm.items() if state != "total")

    def search(state: str) -> int:
        return states.get(state, 0) - confirm.get(state, 0)

    total = sum(states.values())
    parts = []
    skipped = search("skipped")
    if skipped:
        where = "listed below" if listed else "--skipped lists them"
        parts.append(f"{count(skipped, 'skipped proposal')} (over budget, never run; {where})")
    if confirmations:
        parts.append(f"{count(confirmations, 'confirmation run')} (nas best sums them up)")
    for state in ("pruned", "failed", "running", "queued"):
        if search(state):
            note = f" (nas log {job_id} TRIAL says why)" if state == "failed" and job_id else ""
            parts.append(f"{search(state)} {state}{note}")
    head = f"{count(total, 'trial')}: {ranked} ranked"
    return head + (f"; not ranked: {', '.join(parts)}" if parts else "")
