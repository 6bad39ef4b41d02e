"""Write the findings from the data files: no number in them is typed by hand.

Rewrites, between markers, README.md's "What it has found so far" (``findings``) and the
readings of docs/results.md (``reading-strategies-<table>``, ``reading-robustness``,
``reading-engine``), from:

- data/oracles/*.json (``bench/oracle.py``): seed noise (the median over points of the SD over
  seeds), whether accuracy falls with compute (Spearman's rho of a point's mean accuracy
  against its MACs, ``scipy.stats.spearmanr``), the best and worst points;
- data/bench/strategies_<table>.summary.json (``bench/strategies.py``): the strategies at equal
  compute and the verdict; a table whose summary is missing, or was computed from another
  version of the table file, reads "rerun pending" instead of older numbers;
- data/bench/robustness.jsonl (``bench/robustness.py``): paired comparisons over (init, seed)
  pairs, ``scipy.stats.ttest_rel`` and ``scipy.stats.wilcoxon``;
- data/bench/engine.json (``bench/engine.py``): `nas run` against the plain loop.

Data made before the engine's fixes (``ENGINE_FIXED``) is marked so.

    python scripts/findings.py           # rewrite the marked sections
    python scripts/findings.py --check   # exit 1 and print a diff where the committed text differs
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import statistics
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scipy import stats

from bench.engine import LOOP, PRODUCT, EngineRecord
from bench.engine import RECORD as ENGINE_RECORD
from bench.paired import NOT_DISTINGUISHABLE, Paired, holm_corrected, p_text, paired, signed
from bench.robustness import (
    ARMS,
    INITS,
    PAPER_INITS,
    CellRun,
    Init,
    missing,
    preregistered,
    rounded,
    variant,
)
from bench.strategies import AFTER, AGAINST, COMPOUND, DIFFSTRIDE, TABLES, Summary, file_sha256
from nas.errors import SpecError
from nas.oracle import OraclePoint, OracleTable
from nas.presets import parse_spec
from nas.verdict import ALPHA, PairVerdict, trade_off
from scripts.findings_questions import (
    LongTraining,
    Scaling,
    long_training,
    long_training_bullet,
    scaling,
    scaling_bullet,
)
from scripts.findings_text import pts, strides, trend
from workers.jobs.units import si

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "docs" / "results.md"
BENCH = ROOT / "data" / "bench"
ROBUSTNESS = BENCH / "robustness.jsonl"
ROBUSTNESS_BEFORE = BENCH / "robustness-2026-12-05.jsonl"
"""The runs made before the engine's fixes, read until the rerun has a run of its own."""


def robustness_file(bench: Path = BENCH) -> Path:
    """The robustness runs to read: the rerun's once it has one, else the earlier runs."""
    current = bench / ROBUSTNESS.name
    if current.exists() and len(current.read_text().splitlines()) > 1:
        return current
    return bench / ROBUSTNESS_BEFORE.name


ENGINE_FIXED = "2026-12-07"
"""The day the engine's fixes landed (channels-last batches, 8ad9383; PyTorch's default classifier
init, d2bb173; average-pool subsampling, 070149a): data made before it is marked."""
SEARCHES = ("grid", "random", "tpe+median", "tpe+hyperband", "cmaes", "nsga2")
"""The fixed-stride searches (the baselines apart)."""


# ---- numbers as text ---------------------------------------------------------------------------


def date_of(machine: str) -> str:
    """The date at the end of ``bench.results.machine()``'s line."""
    found = re.search(r"(\d{4}-\d{2}-\d{2})\s*$", machine)
    return found.group(1) if found else "an unknown day"


def made(date: str) -> str:
    """When data was made, and whether by the engine before its fixes."""
    if date < ENGINE_FIXED:
        return f"made {date}, before the engine's fixes of {ENGINE_FIXED}, not yet rerun"
    return f"made {date}"


def join(items: Sequence[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# ---- oracle tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFacts:
    path: Path
    table: OracleTable
    split: str
    seed_sd: float
    """Median over points of the SD over seeds, on the scoring split."""
    seed_sd_val: float
    """The same on validation."""
    rho: float
    rho_p: float
    best: OraclePoint
    worst: OraclePoint

    @property
    def name(self) -> str:
        return self.table.name

    def mean(self, point: OraclePoint) -> float:
        return statistics.fmean(point.scores("test" if self.split == "test" else "validation"))

    def describe(self) -> str:
        t = self.table
        base = t.lookup(parse_spec(t.base))
        params = f"{si(base.params)}-parameter " if base is not None else ""
        return (
            f"`{t.name}`: {len(t.points)} stride points of a {params}{len(t.strides)}-stage "
            f"ResNet, {t.epochs} epochs on {t.num_train:,} Fashion-MNIST training images, "
            f"{len(t.seeds)} seeds; {made(t.created)}"
        )

    def trend(self) -> str:
        """What Spearman's test says of accuracy against compute."""
        return trend(self.rho, self.rho_p)

    def rho_text(self) -> str:
        return (
            f"Spearman's rho of a point's mean {self.split} accuracy against its MACs "
            f"{self.rho:+.2f}, p = {p_text(self.rho_p)}"
        )

    def extremes(self) -> str:
        ratio = self.worst.macs / self.best.macs
        return (
            f"best {strides(self.best.strides)} {pts(self.mean(self.best))}%, worst "
            f"{strides(self.worst.strides)} {pts(self.mean(self.worst))}% at {ratio:.1f}x the "
            "best's MACs"
        )


def table_facts(path: Path) -> TableFacts:
    table = OracleTable.load(path)
    split = table.split()
    scored = [p.scores(split) for p in table.points]
    sds = [statistics.stdev(s) for s in scored if len(s) > 1]
    sds_val = [statistics.stdev(p.final()) for p in table.points if len(p.runs) > 1]
    means = [statistics.fmean(s) for s in scored]
    found = stats.spearmanr([p.macs for p in table.points], means)
    order = sorted(range(len(means)), key=lambda i: means[i])
    return TableFacts(
        path=path,
        table=table,
        split=split,
        seed_sd=statistics.median(sds) if sds else math.nan,
        seed_sd_val=statistics.median(sds_val) if sds_val else math.nan,
        rho=float(found.statistic),
        rho_p=float(found.pvalue),
        best=table.points[order[-1]],
        worst=table.points[order[0]],
    )


# ---- the strategies' summaries -----------------------------------------------------------------


@dataclass(frozen=True)
class StrategyFacts:
    table: TableFacts
    summary: Summary | None
    pending: str | None
    """Why there is no summary to read (None: there is)."""

    def strategy(self, name: str) -> Any:
        assert self.summary is not None
        return next((s for s in self.summary.strategies if s.strategy == name), None)

    def pair(self, a: str, b: str) -> dict[str, Any] | None:
        assert self.summary is not None
        return next((p for p in self.summary.verdict["pairs"] if {p["a"], p["b"]} == {a, b}), None)


def strategy_facts(table: TableFacts, bench: Path = BENCH) -> StrategyFacts:
    path = bench / f"strategies_{table.name}.summary.json"
    if not path.exists():
        return StrategyFacts(table, None, "no summary from bench/strategies.py yet")
    found = Summary.model_validate_json(path.read_text())
    if found.table.sha256 != file_sha256(table.path):
        why = f"its summary was computed from another version of the table ({found.table.created})"
        return StrategyFacts(table, None, why)
    return StrategyFacts(table, found, None)


def pair_text(pair: dict[str, Any], first: str, facts: StrategyFacts) -> str:
    """A verdict pair from ``first``'s side: what it says, Holm's p and the effect; and, where
    the test finds no difference but the effect's interval excludes 0, why: one strategy
    answers sooner, the other better (U counts a run with nothing yet as behind)."""
    sign = 1 if pair["a"] == first else -1
    other = pair["b"] if pair["a"] == first else pair["a"]
    trade = ""
    if pair["effect"] is None:
        effect = "no comparison with a result on both sides"
    else:
        low, high = sorted((sign * pair["effect_low"], sign * pair["effect_high"]))
        effect = (
            f"{signed(sign * pair['effect'])} points of test accuracy, 95% interval "
            f"{signed(low)} to {signed(high)}"
        )
        found = trade_off(
            PairVerdict.model_validate(pair),
            {name: facts.strategy(name).cost for name in (pair["a"], pair["b"])},
        )
        if found is not None:
            sooner, better = found.sooner, found.better
            trade = (
                f": a trade-off, not a tie: the test counts a run with no recommendation "
                f"yet as behind, and {sooner} finishes after {facts.strategy(sooner).cost:.1f} "
                f"base epochs (median compute of {better}'s runs: "
                f"{facts.strategy(better).cost:.1f}); where both have a recommendation, "
                f"{better} leads (the effect)"
            )
    runs = (pair["runs_a"], pair["runs_b"])[::sign]
    return (
        f"against {other}: {pair['says']} (Holm p = {p_text(pair['p_holm'])}; {effect}; "
        f"{runs[0]} runs against {runs[1]}){trade}"
    )


def differing(facts: StrategyFacts, names: Sequence[str]) -> tuple[list[str], int]:
    """The pairs among ``names`` that the verdict tells apart, and how many pairs there are."""
    assert facts.summary is not None
    pairs = [p for p in facts.summary.verdict["pairs"] if p["a"] in names and p["b"] in names]
    return [f"{p['says']} (Holm p = {p_text(p['p_holm'])})" for p in pairs if p["ahead"]], len(
        pairs
    )


def searches_text(facts: StrategyFacts) -> str:
    found, total = differing(facts, SEARCHES)
    if not found:
        return (
            f"the fixed-stride searches ({', '.join(SEARCHES)}) are {NOT_DISTINGUISHABLE}: "
            f"none of their {total} pairs differs at Holm-corrected p < {ALPHA:g}"
        )
    return f"among the fixed-stride searches {len(found)} of {total} pairs differ: " + "; ".join(
        found
    )


def stand_text(facts: StrategyFacts) -> str:
    """DiffStride at its median compute, against the baselines."""
    found = facts.summary
    assert found is not None
    if found.stand is None:
        return "DiffStride has no real runs in this summary."
    rows = {s.strategy: s for s in found.stand.strategies}
    ds = rows[DIFFSTRIDE]
    values = [f"{name} {pts(rows[name].value.median)}%" for name in AGAINST if name in rows]
    pairs = [
        pair_text(p, DIFFSTRIDE, facts) for name in AGAINST if (p := facts.pair(DIFFSTRIDE, name))
    ]
    return (
        f"At DiffStride's median compute ({found.stand.compute:.1f} base epochs, its search and "
        f"retrain) its recommendation's held-out test accuracy is {pts(ds.value.median)}% "
        f"(median of {ds.runs}), against {join(values)} (medians). Over whole runs at equal "
        f"compute, DiffStride {'; '.join(pairs)}."
    )


def chained_text(facts: StrategyFacts) -> str | None:
    """Strides first, then size: compound scaling of DiffStride's recommendation against
    compound scaling of the base's strides (None: no such pair in the verdict)."""
    pair = facts.pair(AFTER, COMPOUND)
    if pair is None:
        return None
    total = len(facts.summary.verdict["pairs"]) if facts.summary is not None else 0
    return (
        f"{AFTER} (one job of both, charged both) {pair_text(pair, AFTER, facts)}; the "
        f"smallest p that {pair['runs_a']} runs against "
        f"{pair['runs_b']} allow is {p_text(pair['smallest_p'])}, before Holm's correction over "
        f"{total} pairs"
    )


# ---- robustness --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Robustness:
    source: str
    """The runs file's name."""
    header: dict[str, Any]
    date: str
    seeds: list[int]
    cells: dict[tuple[str, Init], dict[int, CellRun]]
    primary: list[Paired]
    """The comparisons stated before the runs (``bench.robustness.PREREGISTERED``), Holm."""
    not_run: list[str]
    """Those of them an arm of which has not run yet."""
    secondary: list[Paired]
    spread: dict[str, float]
    """Per arm: max - min over inits of the mean test accuracy over seeds."""
    untrainable: int
    """DiffStride runs whose rounding by S leaves less than a pixel."""


def test_of(run: CellRun) -> float:
    return run.result.test_accuracy or 0.0


def robustness(path: Path | None = None) -> Robustness:
    """The robustness bench's runs, matched to its arms, inits and seeds."""
    path = path or robustness_file()
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])["header"]
    by_key = {
        (run.spec, run.seed): run
        for run in (CellRun.model_validate_json(line) for line in lines[1:] if line.strip())
    }
    seeds = sorted({seed for _, seed in by_key})
    cells: dict[tuple[str, Init], dict[int, CellRun]] = {}
    for arm in ARMS:
        for init in PAPER_INITS if arm.key == "paper" else INITS:
            spec = variant(arm.kind, init, arm.layer).to_string()
            found = {s: by_key[spec, s] for s in seeds if (spec, s) in by_key}
            if found:
                cells[arm.key, init] = found
    label = {arm.key: arm.label for arm in ARMS}

    def compare(a: str, b: str) -> Paired:
        keys = [
            (init, s)
            for (arm, init), runs in cells.items()
            if arm == a and (b, init) in cells
            for s in runs
            if s in cells[b, init]
        ]
        x = [test_of(cells[a, init][s]) for init, s in keys]
        y = [test_of(cells[b, init][s]) for init, s in keys]
        return paired(label[a], label[b], "(init, seed) pairs", x, y)

    retrained: list[float] = []
    network: list[float] = []
    untrainable = 0
    for (key, _), runs in cells.items():
        if key != "diffstride":
            continue
        for seed, run in runs.items():
            try:
                retrain = variant("strided", rounded(run.result.stride_readout, "stride"))
            except SpecError:
                untrainable += 1
                continue
            if (retrain.to_string(), seed) in by_key:
                retrained.append(test_of(by_key[retrain.to_string(), seed]))
                network.append(test_of(run))
    secondary = [
        compare("spectral", "strided"),
        compare("paper", "strided"),
        paired(
            "readout (b) (the strided retrain, rounded by S)",
            "readout (a) (the DiffStride network)",
            "DiffStride runs",
            retrained,
            network,
        ),
    ]
    secondary = holm_corrected(secondary)
    spread = {}
    for arm in ARMS:
        means = [
            statistics.fmean(test_of(r) for r in runs.values())
            for (key, _), runs in cells.items()
            if key == arm.key
        ]
        if len(means) > 1:
            spread[arm.label] = max(means) - min(means)
    dates = sorted({date_of(r.machine) for r in by_key.values()})
    return Robustness(
        source=path.name,
        header=header,
        date=dates[-1] if dates else "an unknown day",
        seeds=seeds,
        cells=cells,
        primary=preregistered(
            {cell: {s: test_of(run) for s, run in runs.items()} for cell, runs in cells.items()}
        ),
        not_run=missing(cells),
        secondary=secondary,
        spread=spread,
        untrainable=untrainable,
    )


# ---- the engine --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engine:
    record: EngineRecord
    ratios: list[float]
    ratio: float
    loop_accuracy: float
    product_accuracy: float
    outside: float
    """Mean seconds more the product spends outside its trials."""

    @property
    def date(self) -> str:
        return date_of(self.record.machine)


def engine(path: Path = ENGINE_RECORD) -> Engine:
    record = EngineRecord.model_validate_json(path.read_text())
    rounds = sorted({r.round for r in record.rounds})
    pairs = [
        (
            next(r for r in record.rounds if r.round == k and r.engine == LOOP),
            next(r for r in record.rounds if r.round == k and r.engine == PRODUCT),
        )
        for k in rounds
    ]
    return Engine(
        record=record,
        ratios=[p.wall_seconds / loop.wall_seconds for loop, p in pairs],
        ratio=sum(p.wall_seconds for _, p in pairs) / sum(loop.wall_seconds for loop, _ in pairs),
        loop_accuracy=statistics.fmean(loop.mean_accuracy for loop, _ in pairs),
        product_accuracy=statistics.fmean(p.mean_accuracy for _, p in pairs),
        outside=statistics.fmean(
            p.outside_trials_seconds - loop.outside_trials_seconds for loop, p in pairs
        ),
    )


def engine_text(e: Engine) -> str:
    record = e.record
    return (
        f"`nas run`, timed as a whole process, ran the {len(_grid(record))}-trial grid in "
        f"{e.ratio:.2f}x the wall time of a plain PyTorch loop in its own process over "
        f"{len(e.ratios)} interleaved rounds ({', '.join(f'{r:.2f}x' for r in e.ratios)}), "
        f"with a mean accuracy of {pts(e.product_accuracy)}% against the loop's "
        f"{pts(e.loop_accuracy)}% on the same {record.num_held_out:,} held-out validation "
        f"images ({record.epochs} epoch per trial, {record.num_train:,} training images, "
        f"{made(e.date)}). {len(e.ratios)} rounds are a description, not a test"
    )


def _grid(record: EngineRecord) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for choices in record.choices:
        out = [(*t, c) for t in out for c in choices]
    return out


# ---- the texts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    tables: list[TableFacts]
    strategies: list[StrategyFacts]
    robustness: Robustness
    engine: Engine
    long: LongTraining
    scaling: Scaling


def gather(tables: Sequence[Path] = TABLES, bench: Path = BENCH) -> Facts:
    found = [table_facts(p) for p in tables]
    return Facts(
        tables=found,
        strategies=[strategy_facts(t, bench) for t in found],
        robustness=robustness(robustness_file(bench)),
        engine=engine(bench / ENGINE_RECORD.name),
        long=long_training(),
        scaling=scaling(bench / "scaling.jsonl"),
    )


def cap(text: str) -> str:
    """``text`` with its first letter upper case (the rest as it is)."""
    return text[:1].upper() + text[1:]


def wrap(text: str, width: int = 96) -> str:
    """Each line of ``text`` (a paragraph or a bullet, nested by two spaces) filled to
    ``width``; blank lines kept."""
    out = []
    for line in TUPLE.sub(lambda m: m.group(0).replace(" ", NBSP), text).splitlines():
        bullet = re.match(r"(\s*)- ", line)
        indent = " " * len(bullet.group(0)) if bullet else ""
        out.append(
            textwrap.fill(
                line,
                width,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            if line.strip()
            else ""
        )
    return "\n".join(out).replace(NBSP, " ")


TUPLE = re.compile(r"\(\d+(?:, \d+)+\)")
"""Strides such as (1, 2, 3), kept on one line."""
NBSP = "\x00"


def readme(facts: Facts) -> str:
    """README's "What it has found so far"."""
    tables = "\n".join(f"  - {t.describe()}." for t in facts.tables)
    noise = " and ".join(f"{pts(t.seed_sd)} points on `{t.name}`" for t in facts.tables)
    noise_val = " and ".join(pts(t.seed_sd_val) for t in facts.tables)
    lines = [
        "Written by `scripts/findings.py` from the files under `data/` (`--check` fails when "
        "this text is stale); the tables and readings are in [docs/results.md](docs/results.md)."
        f" Everything was measured on {machines(facts)} at short budgets: read it as that. A "
        f'difference is claimed only where its test says so; otherwise "{NOT_DISTINGUISHABLE}".',
        "",
        f"- **The data.** {cap(_count(len(facts.tables)))} oracle tables, every point trained "
        "over several seeds and scored on the official test split:",
        tables,
        f"- **Seed noise first.** Retraining one architecture with another seed moves its test "
        f"accuracy by {noise} (median SD over the points; {noise_val} on validation): "
        "differences below that are not results.",
        trend_bullet(facts.tables),
        long_training_bullet(facts.long),
        *strategies_bullets(facts.strategies),
        robustness_bullet(facts.robustness),
        scaling_bullet(facts.scaling),
        f"- **The engine.** {engine_text(facts.engine)}.",
    ]
    return wrap("\n".join(lines))


def machines(facts: Facts) -> str:
    """The machines the data comes from, as their lines name them: 2-core CPU machines."""
    lines = [t.table.machine for t in facts.tables] + [facts.engine.record.machine]
    lines += [r.machine for runs in facts.robustness.cells.values() for r in runs.values()]
    cores = sorted({int(m) for line in lines for m in re.findall(r"(\d+) cores", line)})
    gpu = any("no GPU" not in line for line in lines)
    size = "/".join(map(str, cores)) + "-core " if cores else ""
    return f"{size}CPU machines" + ("" if gpu else " without a GPU")


def _count(n: int) -> str:
    return {1: "one", 2: "two", 3: "three"}.get(n, str(n))


def trend_bullet(tables: Sequence[TableFacts]) -> str:
    epochs = " and ".join(map(str, sorted({t.table.epochs for t in tables})))
    trends = {t.trend() for t in tables}
    where = "both tables" if len(tables) == 2 else "every table"
    head = f"At {epochs} epochs"
    if len(trends) == 1:
        head += f", {next(iter(trends))} on {where}"
    split = " and ".join(sorted({t.split for t in tables}))
    clauses = " and ".join(
        f"{t.rho:+.2f} on `{t.name}` (p = {p_text(t.rho_p)}"
        + (f", {t.trend()}" if len(trends) > 1 else "")
        + f"; {t.extremes()})"
        for t in tables
    )
    return (
        f"- **{head}.** Spearman's rho of a point's mean {split} accuracy against its MACs: "
        f"{clauses}."
    )


def strategies_bullets(strategies: Sequence[StrategyFacts]) -> list[str]:
    pending = [f for f in strategies if f.summary is None]
    out = []
    if pending:
        reasons: dict[str, list[str]] = {}
        for f in pending:
            reasons.setdefault(f.pending or "", []).append(f"`{f.table.name}`")
        why = "; ".join(f"{join(names)}: {reason}" for reason, names in reasons.items())
        out.append(
            f"- **Which strategy at equal compute: rerun pending** ({why}). The rerun scores "
            "held out and adds the baselines and the verdict; the earlier readings rested on "
            "statistics since withdrawn (a bar at DiffStride's own median, a binomial from "
            "simulated rates) and are not repeated."
        )
    for f in strategies:
        if f.summary is None:
            continue
        s = f.summary
        counts = s.settings.get("repeat_counts", {})
        compound = [pair_text(p, COMPOUND, f) for name in AGAINST if (p := f.pair(COMPOUND, name))]
        out.append(
            f"- **Strategies on `{f.table.name}` at equal compute** ({s.settings['repeats']} "
            f"simulated runs per strategy, {counts.get(DIFFSTRIDE, 0)} real DiffStride and "
            f"{counts.get(COMPOUND, 0)} compound runs; true accuracy: held-out test). "
            f"{cap(searches_text(f))}. {stand_text(f)}"
            + (f" Compound scaling {'; '.join(compound)}." if compound else "")
            + (f" Strides first, then size: {chained}." if (chained := chained_text(f)) else "")
        )
    return out


def robustness_bullet(r: Robustness) -> str:
    h = r.header
    train = round(h["subset"] * (1 - h["val_fraction"]))
    return (
        f"- **Robustness to the stride init, the paper's experiment** ({h['epochs']} epochs, "
        f"{train:,} training images, {len(r.seeds)} seeds, {made(r.date)}). "
        f"{primary_text(r)} Spread across inits (max - min of the init means; descriptive, "
        f"{len(INITS)} inits): "
        + ", ".join(f"{arm} {100 * v:.2f} points" for arm, v in r.spread.items())
        + f". Of the {len(r.secondary)} other comparisons (Holm-corrected), "
        + (
            "none is distinguishable"
            if all(c.says() == NOT_DISTINGUISHABLE for c in r.secondary)
            else "; ".join(c.says() for c in r.secondary if c.says() != NOT_DISTINGUISHABLE)
        )
        + f"; the largest: {r.secondary[_largest(r.secondary)].text()}."
    )


def primary_text(r: Robustness) -> str:
    """The comparisons stated before the runs: each tested one, and those not run yet."""
    tested = "; ".join(c.text() for c in r.primary)
    head = "The comparisons stated before the runs (Holm-corrected over them): "
    pending = f"Not run yet: {', '.join(r.not_run)}." if r.not_run else ""
    return (head + tested + "." if tested else "") + (" " if tested and pending else "") + pending


def _largest(found: Sequence[Paired]) -> int:
    return max(range(len(found)), key=lambda i: abs(found[i].mean))


def _epochs(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


def reading_strategies(facts: StrategyFacts) -> str:
    t = facts.table
    head = f"**Reading the `{t.name}` table** (written by `scripts/findings.py`)."
    regime = (
        f"The table {t.describe()}. Seed noise {pts(t.seed_sd)} points on {t.split} "
        f"({pts(t.seed_sd_val)} on validation; median SD over points). {cap(t.trend())} "
        f"({t.rho_text()}; {t.extremes()})."
    )
    if facts.summary is None:
        return wrap(
            f"{head} Rerun pending: {facts.pending}. The section above, where there is one, "
            "was written by the previous bench (before held-out scoring, the baselines and "
            "the verdict); its equal-compute statistics are withdrawn and nothing of it is "
            f"read here.\n\n{regime}"
        )
    s = facts.summary
    v = s.verdict
    differ = [
        f"  - {p['says']}: Holm p = {p_text(p['p_holm'])}; {_ahead_effect(p)}"
        for p in v["pairs"]
        if p["ahead"]
    ]
    sims = [x for x in s.strategies if x.kind == "simulated"]
    real = [x for x in s.strategies if x.kind == "real"]
    c2t = ", ".join(f"{x.strategy} {_epochs(x.compute_to_target.median)}" for x in sims)
    real_text = "; ".join(
        f"{x.strategy} (real, {x.runs} runs, {x.cost:.1f} base epochs each, median) "
        f"{_epochs(x.compute_to_target.median)}, reached in {100 * x.success:.0f}% of its runs"
        for x in real
    )
    verdict = (
        f"{len(differ)} differ at Holm-corrected p < {ALPHA:g} and the other "
        f"{len(v['pairs']) - len(differ)} are {NOT_DISTINGUISHABLE}. Those that differ:"
        if differ
        else f"{v['says']}."
    )
    lines = [
        head,
        "",
        regime,
        "",
        f"- **The verdict** ({len(v['pairs'])} pairs, each run at its own cost against the "
        f"other strategy's runs at that compute): {verdict}",
        *differ,
        f"- **Compute to target** ({pts(s.table.target)}% held-out test; median base epochs, "
        f"one full grid is {s.table.full_cost:.1f}): {c2t}; {real_text}. "
        f"{cap(searches_text(facts))}.",
        f"- **DiffStride at its own compute.** {stand_text(facts)}",
    ]
    r = s.readouts
    if r is not None and r.welch_p is not None and r.mean_difference is not None:
        says = (
            NOT_DISTINGUISHABLE
            if r.welch_p >= ALPHA
            else ("above" if r.mean_difference > 0 else "below")
        )
        lines.append(
            f"- **Readout (a), the search network itself** (not a point of the table): "
            f"{pts(statistics.fmean(r.search_test))}% test (mean of {len(r.search_test)}) "
            f"against {pts(statistics.fmean(r.best_point_test))}% for the table's best point "
            f"{strides(r.best_point)} (mean of its {len(r.best_point_test)} seeds): "
            f"{signed(r.mean_difference)} points (95% interval {signed(r.welch_low or 0.0)} to "
            f"{signed(r.welch_high or 0.0)}; Welch's t p = {p_text(r.welch_p)}): **{says}**; "
            f"the best point is the best of {s.table.points} on this split, which flatters it. "
            f"Readout (b), the retrain, is a point of the table in {r.retrain_in_table} of "
            f"{len(r.retrain_true)} runs."
        )
    if s.compound:
        trues = [c["true"] for c in s.compound if c["true"] is not None]
        pairs = [
            pair_text(p, COMPOUND, facts) for name in AGAINST if (p := facts.pair(COMPOUND, name))
        ]
        lines.append(
            f"- **Compound scaling** ({len(s.compound)} runs, scaled up to phi "
            f"{max(c['phi'] for c in s.compound)}): its recommendation's test accuracy is "
            f"{pts(statistics.median(trues)) if trues else '-'}% (median) for "
            f"{statistics.median(c['cost'] for c in s.compound):.1f} base epochs per run "
            f"(median); {'; '.join(pairs)}."
        )
    if (chained := chained_text(facts)) is not None:
        lines.append(f"- **Strides first, then size.** {chained}.")
    return wrap("\n".join(lines))


def _ahead_effect(pair: dict[str, Any]) -> str:
    """The effect of a pair that differs, from the side ahead."""
    if pair["effect"] is None:
        return "no comparison with a result on both sides"
    sign = 1 if pair["ahead"] == pair["a"] else -1
    low, high = sorted((sign * pair["effect_low"], sign * pair["effect_high"]))
    return (
        f"{signed(sign * pair['effect'])} points of test accuracy (95% interval {signed(low)} "
        f"to {signed(high)})"
    )


def reading_robustness(r: Robustness) -> str:
    h = r.header
    train = round(h["subset"] * (1 - h["val_fraction"]))
    secondary = "\n".join(f"  - {cap(c.text())}." for c in r.secondary)
    spread = ", ".join(f"{arm} {100 * v:.2f} points" for arm, v in r.spread.items())
    runs = sum(len(v) for (k, _), v in r.cells.items() if k == "diffstride")
    return wrap(
        f"**Reading** (written by `scripts/findings.py` from `{r.source}`; {h['epochs']} "
        f"epochs, {train:,} training images, seeds {', '.join(map(str, r.seeds))}; "
        f"{made(r.date)}). Comparisons are paired over the runs that share an init and a "
        "seed; a difference is claimed only when both the paired t-test and the Wilcoxon "
        f"signed-rank test (scipy.stats) give p < {ALPHA:g}; the comparisons and the tests "
        "are stated in bench/robustness.py's docstring, before the runs of issue 26.\n\n"
        f"- {primary_text(r)}\n"
        f"- **Its second claim, steadiness across inits**, is descriptive here ({len(INITS)} "
        f"inits, no test): max - min of the init means {spread}.\n"
        f"- **The other comparisons** (Holm-corrected over these {len(r.secondary)}):\n"
        f"{secondary}\n"
        f"- Rounding by S gave no trainable architecture (the map would shrink below a pixel) "
        f"in {r.untrainable} of {runs} DiffStride runs; the product's readout (b) now lowers the "
        "later stages' strides instead (this bench's own rounding is unchanged)."
    )


def reading_engine(e: Engine) -> str:
    more = "more" if e.outside >= 0 else "less"
    return wrap(
        f"**Reading** (written by `scripts/findings.py` from `data/bench/{ENGINE_RECORD.name}`, "
        f"{e.record.source}). {engine_text(e)}. The product spends {abs(e.outside):.1f} s "
        f"{more} outside its trials per process (imports; it reads every Fashion-MNIST image, "
        "the official test split included). Before issue 24's fixes the same bench found "
        "`nas run` slower and less accurate than the loop; the causes, fixed: CPU batches "
        "restrided to plain NCHW (oneDNN's slower path; model and batches are channels-last on "
        "every device now), the classifier drawn N(0, 0.01) (PyTorch's default now; the init "
        "section above measures it), and a strided 1x1 convolution's sliced backward (now a "
        "1x1 average pool, then the convolution)."
    )


# ---- markers -----------------------------------------------------------------------------------


def sections(facts: Facts) -> dict[Path, dict[str, str]]:
    """Per file, per marker name, the text between its markers."""
    results = {
        f"reading-strategies-{f.table.name}": reading_strategies(f) for f in facts.strategies
    }
    results["reading-robustness"] = reading_robustness(facts.robustness)
    results["reading-engine"] = reading_engine(facts.engine)
    return {README: {"findings": readme(facts)}, RESULTS: results}


def replace(text: str, name: str, body: str, where: Path) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{where}: no {start} ... {end} markers")
    return pattern.sub(lambda _: f"{start}\n{body.rstrip()}\n{end}", text)


def render(facts: Facts) -> dict[Path, str]:
    """Each file's text with its marked sections rewritten."""
    out = {}
    for path, bodies in sections(facts).items():
        text = path.read_text()
        for name, body in bodies.items():
            text = replace(text, name, body, path)
        out[path] = text
    return out


def main(argv: Sequence[str] | None = None, write: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="fail with a diff where stale")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in render(gather()).items():
        old = path.read_text()
        if old == text:
            continue
        if args.check:
            stale += 1
            name = str(path.relative_to(ROOT))
            write(
                "".join(
                    difflib.unified_diff(
                        old.splitlines(keepends=True), text.splitlines(keepends=True), name, name
                    )
                )
            )
        else:
            path.write_text(text)
            write(f"rewrote {path.relative_to(ROOT)}")
    if stale:
        write(f"{stale} file(s) differ from the data: run python scripts/findings.py")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
