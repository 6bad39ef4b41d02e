"""Two of issue 26's questions, read from their data files for ``scripts/findings.py``:

- **Longer training.** Does the 3-epoch table's ranking of the stride points hold at 15 epochs
  (``data/oracles/resnet3_27_e15.json``, ``bench/oracle.py --table resnet3_27_e15``)? Spearman's
  rho between the two tables' per-point mean scores (``scipy.stats.spearmanr``), whether accuracy
  falls with compute at 15 epochs, and whether the 3-epoch table's pick is distinguishable
  from the 15-epoch best there (Welch's t over their seeds, ``scipy.stats.ttest_ind``).
- **Compound scaling against one dimension** (``data/bench/scaling.jsonl``, ``bench/scaling.py``):
  the bench's own pre-registered comparisons (paired t over seeds, Holm), once every cell has run.

Until a file has what a reading needs, the reading says what is pending and claims nothing.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

from bench.paired import NOT_DISTINGUISHABLE, p_text
from bench.scaling import METHODS, Comparison, ScalingRun, compare
from nas.oracle import OraclePoint, OracleTable
from nas.verdict import ALPHA
from scripts.findings_text import pts, strides
from scripts.findings_text import trend as trend_words

ROOT = Path(__file__).resolve().parent.parent
ORACLES = ROOT / "data" / "oracles"
SHORT_TABLE = ORACLES / "resnet3_27.json"
LONG_TABLE = ORACLES / "resnet3_27_e15.json"
SCALING = ROOT / "data" / "bench" / "scaling.jsonl"


# ---- longer training ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LongTraining:
    """The 3-epoch table against the same space trained longer (``long`` None: not built)."""

    short: OracleTable
    long: OracleTable | None

    def scores(self, table: OracleTable, point: OraclePoint) -> list[float]:
        return point.scores(table.split())

    def mean(self, table: OracleTable, point: OraclePoint) -> float:
        return statistics.fmean(self.scores(table, point))

    def matched(self) -> list[tuple[OraclePoint, OraclePoint]]:
        """(short, long) points with the same strides, in the short table's order."""
        assert self.long is not None
        by_strides = {tuple(p.strides): p for p in self.long.points}
        return [(p, by_strides[tuple(p.strides)]) for p in self.short.points if tuple(p.strides)
                in by_strides]  # fmt: skip

    def rank_agreement(self) -> tuple[float, float]:
        """Spearman's rho (and p) between the two tables' per-point mean scores."""
        assert self.long is not None
        pairs = self.matched()
        found = stats.spearmanr(
            [self.mean(self.short, s) for s, _ in pairs],
            [self.mean(self.long, lo) for _, lo in pairs],
        )
        return float(found.statistic), float(found.pvalue)

    def trend(self) -> tuple[float, float]:
        """Spearman's rho (and p) of the long table's mean scores against MACs."""
        assert self.long is not None
        points = self.long.points
        found = stats.spearmanr([p.macs for p in points], [self.mean(self.long, p) for p in points])
        return float(found.statistic), float(found.pvalue)

    def best(self, table: OracleTable) -> OraclePoint:
        return max(table.points, key=lambda p: self.mean(table, p))

    def pick_against_best(self) -> tuple[OraclePoint, OraclePoint, int, float]:
        """The 3-epoch pick, the long table's best, the pick's rank there (1 = best) and Welch's
        p of the two points' long scores (1.0 when they are one point)."""
        long = self.long
        assert long is not None
        pick = next(lo for s, lo in self.matched() if s is self.best(self.short))
        best = self.best(long)
        ranked = sorted(long.points, key=lambda p: -self.mean(long, p))
        rank = 1 + next(i for i, p in enumerate(ranked) if p.strides == pick.strides)
        if pick.strides == best.strides:
            return pick, best, rank, 1.0
        found = stats.ttest_ind(self.scores(long, best), self.scores(long, pick), equal_var=False)
        return pick, best, rank, float(found.pvalue)


def long_training(short: Path = SHORT_TABLE, long: Path = LONG_TABLE) -> LongTraining:
    return LongTraining(OracleTable.load(short), OracleTable.load(long) if long.exists() else None)


def long_training_bullet(facts: LongTraining) -> str:
    if facts.long is None:
        return (
            f"- **Longer training.** The {facts.short.epochs}-epoch tables rank the stride points "
            "by how much they downsample. The 15-epoch table (`resnet3_27_e15`, `bench/oracle.py`, "
            "about 5 hours here) is not built yet: whether that ranking holds when the networks "
            "train longer is not measured."
        )
    long, short = facts.long, facts.short
    rho, rho_p = facts.rank_agreement()
    trend, trend_p = facts.trend()
    pick, best, rank, p = facts.pick_against_best()
    if pick.strides == best.strides:
        verdict = "it is the best there too"
    elif p >= ALPHA:
        verdict = f"{NOT_DISTINGUISHABLE} from it (Welch's t over seeds, p = {p_text(p)})"
    else:
        verdict = f"behind it (Welch's t over seeds, p = {p_text(p)})"
    return (
        f"- **Longer training.** At {long.epochs} epochs (`{long.name}`, {len(long.seeds)} seeds, "
        f"{long.split()} split), the ranking of the {len(facts.matched())} stride points agrees "
        f"with the {short.epochs}-epoch table's with Spearman's rho {rho:+.2f} "
        f"(p = {p_text(rho_p)}); against MACs rho is {trend:+.2f} (p = {p_text(trend_p)}): "
        f"{trend_words(trend, trend_p)}. The {short.epochs}-epoch best "
        f"{strides(pick.strides)} scores "
        f"{pts(facts.mean(long, pick))}% there (rank {rank} of {len(long.points)}); "
        f"the {long.epochs}-epoch best is "
        f"{strides(best.strides)} at {pts(facts.mean(long, best))}%: the pick is {verdict}."
    )


# ---- compound scaling --------------------------------------------------------------------------

ARM = re.compile(r"(?P<method>\w+)@(?P<size>[\d.]+)x$")


@dataclass(frozen=True)
class Scaling:
    """bench/scaling.py's runs: its settings, and its comparisons once every cell has run."""

    header: dict[str, object]
    runs: list[ScalingRun]
    sizes: list[float]
    comparisons: list[Comparison] | None
    pending: str | None


def scaling(path: Path = SCALING) -> Scaling:
    if not path.exists():
        return Scaling({}, [], [], None, "no runs yet")
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    header = json.loads(lines[0])["header"]
    runs = []
    for line in lines[1:]:
        try:
            runs.append(ScalingRun.model_validate_json(line))
        except ValueError:
            continue  # a line cut short by a kill (the bench trains that run again)
    cells: dict[tuple[str, float], list[ScalingRun]] = defaultdict(list)
    for run in runs:
        found = ARM.match(run.arm)
        if found:
            cells[(found["method"], float(found["size"]))].append(run)
    sizes = sorted({size for _, size in cells})
    seeds = {r.seed for r in runs if r.arm == "base"}
    complete = len(seeds) >= 2 and all(
        {r.seed for r in cells.get((m, s), [])} >= seeds for m in METHODS for s in sizes
    )
    if not sizes or not complete:
        done = sum(len(v) for v in cells.values())
        return Scaling(header, runs, sizes, None, f"{done} of its scaled runs done so far")
    return Scaling(header, runs, sizes, compare(dict(cells), sizes), None)


def scaling_bullet(facts: Scaling) -> str:
    head = "- **Compound scaling against one dimension at equal MACs.**"
    if facts.comparisons is None:
        return (
            f"{head} Not measured yet ({facts.pending}; `bench/scaling.py`, about 2 hours here): "
            "no claim either way."
        )
    seeds = len({r.seed for r in facts.runs if r.arm == "base"})
    ahead = [c for c in facts.comparisons if c.says == "compound ahead"]
    behind = [c for c in facts.comparisons if c.says not in ("compound ahead", NOT_DISTINGUISHABLE)]
    per = "; ".join(
        f"{c.size:g}x vs {c.method} {100 * c.compound_minus:+.2f} points (Holm p = "
        f"{p_text(c.p_holm)})"
        for c in facts.comparisons
    )
    n = len(facts.comparisons)
    if ahead and not behind:
        says = (
            f"compound is ahead in {len(ahead)} of the {n} comparisons, "
            f"{NOT_DISTINGUISHABLE} in the rest"
        )
    elif behind:
        says = (
            f"compound is ahead in {len(ahead)} and behind in {len(behind)} of the {n} comparisons"
        )
    else:
        says = f"{NOT_DISTINGUISHABLE} in all {n} comparisons: the paper's claim is not shown here"
    return (
        f"{head} Compound minus each single dimension, {facts.header.get('epochs')} epochs, "
        f"{seeds} seeds, test split (paired t over seeds, Holm over the {n}): {per}. So "
        f"{says}."
    )
