"""Which strategy finds a good architecture for the least compute: simulated and real runs.

For each oracle table under data/oracles/ (`bench/oracle.py`):

- Simulated (`workers.jobs.simulation.simulate`: the live runner with a lookup executor),
  ``--repeats`` runs each: grid (shuffled), grid cheapest point first (``grid-cheapest``), random,
  TPE with median or Hyperband pruning, CMA-ES, NSGA-II and the base network as it is (``base``). A
  simulated run selects on one table seed's validation accuracy and is scored held out: the
  test accuracy of the table's other seeds (``OraclePoint.held_out``).
- Real, checkpointed to ``<out>/strategies_<table>.jsonl`` (one finished run per line; a rerun
  resumes, so the bench may span sittings): DiffStride with the product's defaults, one job per
  seed (the search, then its strides rounded into the table's space and retrained), and
  compound scaling (its (alpha, beta, gamma) grid at phi = 1, then the best scaled up to
  ``phi_max``; its budget in trials lets it finish both phases), and compound scaling after
  DiffStride (``compound-after-diffstride``: one job of DiffStride and compound with
  ``from: diffstride``, the same options as the two arms: compound scales DiffStride's
  recommendation, its rounded retrain, instead of the base's strides). That arm's run is the
  whole job, DiffStride's trials then compound's in the order they ran: its compute includes
  the search that found the strides, and it recommends by the product's rule over all of them,
  so the verdict compares the pipeline with compound scaling of the base strides at equal
  compute (run k of each arm has seed k). A run is stored as its trials
  (cost, validation accuracy, test accuracy, spec, training seed): every score is recomputed
  from the file. DiffStride's search network (readout a) is scored by its own test accuracy (a
  network not in the table); its retrain, when a point of the table, by the table's test mean
  over the seeds *other than* the run's own (a retrain with seed s *is* the table's run of that
  point with seed s), else by its own test accuracy. Compound's networks are not in the table:
  each by its own test accuracy. A run recommends what it saw as best (``nas.compare.curve``).
- Written: the docs/results.md section per table, and ``<out>/strategies_<table>.summary.json``
  with every figure the readings use (``scripts/findings.py``): per strategy compute to target
  (median, IQR, success within one full grid), the recommendation's true accuracy at fractions
  of a grid and the area under that curve; every strategy at DiffStride's median compute; and
  the verdict over all runs at equal compute (``nas.verdict``: permutation test, Holm, bootstrap
  interval). The summary is a function of the runs file and the seeded simulations: the same
  inputs give the same file.

    python bench/strategies.py [--table data/oracles/resnet3_27.json ...] [--repeats 50]
                               [--diffstride-repeats 10] [--compound-repeats 5]
                               [--after-repeats 5]
    python bench/strategies.py --quick   # a smoke run on a 4-point table it makes under /tmp
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

import bench.results as results_module
import nas
from bench.checkpoint import Checkpoint
from bench.results import machine, table
from nas.compare import (
    Step,
    area_under_curve,
    best_at,
    compute_to_target,
    curve,
    quantile,
    recommendations,
)
from nas.data.idx import write_idx
from nas.data.synthetic import make_synthetic
from nas.job import JobSpec, strategy_key
from nas.oracle import OraclePoint, OracleTable
from nas.presets import parse_spec
from nas.spec import ArchSpec
from nas.train import train
from nas.verdict import Verdict, verdict
from workers.executors.interface import InlineExecutor
from workers.executors.trial_entry import load_dataset
from workers.jobs.runner import JobRunner
from workers.jobs.simulation import simulate
from workers.jobs.store import MemoryTrialStore, StoredTrial

ROOT = Path(__file__).resolve().parent.parent
ORACLES = ROOT / "data" / "oracles"
OUT = ROOT / "data" / "bench"
TABLES = [ORACLES / "resnet3_27.json", ORACLES / "resnet_narrow_18.json"]
FRACTIONS = (0.25, 0.5, 1.0)
DIFFSTRIDE = "diffstride"
COMPOUND = "compound"
AFTER = "compound-after-diffstride"
"""Compound scaling of DiffStride's recommendation: a job of both, compound with ``from``."""
AGAINST = ("grid-cheapest", "base")
"""The baselines DiffStride is set against at its median compute."""
SIMULATED: list[dict[str, Any]] = [
    {"name": "grid"},
    {"name": "grid", "label": "grid-cheapest", "options": {"order": "cost"}},
    {"name": "random"},
    {"name": "optuna", "label": "tpe+median", "options": {"sampler": "tpe", "pruner": "median"}},
    {
        "name": "optuna",
        "label": "tpe+hyperband",
        "options": {"sampler": "tpe", "pruner": "hyperband"},
    },
    {"name": "optuna", "label": "cmaes", "options": {"sampler": "cmaes", "pruner": "none"}},
    {"name": "optuna", "label": "nsga2", "options": {"sampler": "nsga2", "pruner": "none"}},
    {"name": "base"},
]


# ---- real runs, as stored ------------------------------------------------------------------


class RealTrial(BaseModel):
    """One finished trial of a real run: enough to score it again from the file."""

    spec: str
    params: dict[str, Any] = Field(description="what the strategy chose (phase, strides, phi)")
    state: str
    seed: int = Field(description="its training seed")
    epochs: int
    cost_flops: float
    val_accuracy: float | None = Field(description="what the strategy saw (None: no result)")
    test_accuracy: float | None
    pruned: bool = False
    strategy: str | None = Field(
        default=None, description="its strategy in the run's job (the chained arm has two)"
    )
    learned_strides: list[tuple[float, float] | None] = Field(default_factory=list)
    macs: int = 0
    num_params: int = 0
    wall_seconds: float = 0.0


class RealRun(BaseModel):
    """One real run (one job) of DiffStride, compound scaling, or both chained (``AFTER``)."""

    strategy: str
    repeat: int
    seed: int = Field(description="the job's seed and its training seed")
    trials: list[RealTrial]
    finished_reason: str
    machine: str
    wall_seconds: float


def run_key(run: RealRun) -> tuple[str, int]:
    return run.strategy, run.repeat


def real_trial(trial: StoredTrial) -> RealTrial:
    result = trial.result
    request = trial.request
    return RealTrial(
        spec=request.spec.to_string(),
        params=request.params,
        state=str(trial.state.value),
        seed=request.options.seed,
        epochs=request.epochs,
        cost_flops=result.cost_flops if result is not None else 0.0,
        val_accuracy=result.accuracy if result is not None and not result.pruned else None,
        test_accuracy=result.test_accuracy if result is not None else None,
        pruned=result.pruned if result is not None else False,
        strategy=trial.strategy,
        learned_strides=list(result.learned_strides) if result is not None else [],
        macs=result.macs if result is not None else 0,
        num_params=result.params if result is not None else 0,
        wall_seconds=result.wall_seconds if result is not None else 0.0,
    )


def real_steps(run: RealRun, oracle: OracleTable) -> list[Step]:
    """A real run's trials as comparison steps, scored held out (see the module docstring):
    a trial whose network is a point of the table (the same block string) by the table's
    other seeds on its scoring split; any other by its own test accuracy."""
    steps = []
    for trial in run.trials:
        point = oracle.lookup(ArchSpec.from_string(trial.spec))
        if point is not None and point.spec == trial.spec:
            split = oracle.split(trial.epochs)
            true = point.held_out(trial.seed, split, trial.epochs)
        else:
            true = trial.test_accuracy
        steps.append(Step(cost=trial.cost_flops, seen=trial.val_accuracy, true=true))
    return steps


# ---- the jobs ------------------------------------------------------------------------------


class RealSettings(BaseModel):
    """How the real runs train (the runs file's header holds these)."""

    subset: int | None = Field(default=None, description="override the table's data (smoke)")
    epochs: int | None = Field(default=None, description="override the table's epochs (smoke)")
    diffstride: dict[str, Any]
    compound: dict[str, Any]


def base_job(oracle: OracleTable, strategies: list[Any], budget: dict[str, Any]) -> dict[str, Any]:
    """A job over the table's data, base, space and training."""
    return {
        "name": f"bench-strategies-{oracle.name}",
        "dataset": oracle.dataset,
        "base": oracle.base,
        "space": {"strides": oracle.strides},
        "strategies": strategies,
        "budget": budget,
        "train": {k: v for k, v in oracle.train.items() if k != "score_test"},
        "keep_weights": "none",
        "confirm_seeds": 0,  # the table's seeds and the test split score the recommendations
    }


def diffstride_options(oracle: OracleTable) -> dict[str, Any]:
    """The product's defaults, learning every stage the space varies, rounded into the space."""
    which = [i for i, choices in enumerate(oracle.strides) if len(choices) > 1]
    return {"which_stages": which, "retrain": True, "round_to": "space"}


def compound_options(grid_points: int, phi_max: int) -> dict[str, Any]:
    return {"max_grid_points": grid_points, "phi_max": phi_max}


def real_strategies(settings: RealSettings, strategy: str) -> list[dict[str, Any]]:
    """A real run's job's strategies: DiffStride, compound, or both with compound ``from``
    DiffStride (``AFTER``), each with its arm's options."""
    diffstride = {"name": DIFFSTRIDE, "options": settings.diffstride}
    compound = {"name": COMPOUND, "options": settings.compound}
    if strategy == AFTER:
        return [diffstride, {**compound, "label": AFTER, "from": DIFFSTRIDE}]
    return [diffstride if strategy == DIFFSTRIDE else compound]


def real_job(oracle: OracleTable, settings: RealSettings, strategy: str, seed: int) -> JobSpec:
    """One real run's job: its budget in trials lets every strategy finish every phase."""
    epochs = settings.epochs or oracle.epochs
    dataset = dict(oracle.dataset)
    if settings.subset is not None:
        dataset["subset"] = settings.subset
    strategies = real_strategies(settings, strategy)
    # a share of one trial more than any can ask, so each stops by itself (its own reason)
    compound = settings.compound["max_grid_points"] + settings.compound["phi_max"] - 1
    needed = max(2 if s["name"] == DIFFSTRIDE else compound for s in strategies)
    job = base_job(
        oracle,
        strategies,
        {"unit": "trials", "total": (needed + 1) * len(strategies), "epochs_per_trial": epochs},
    )
    job.update(
        dataset=dataset,
        seed=seed,
        train={**job["train"], "seed": seed, "score_test": True},
    )
    return JobSpec.parse(job)


def run_real(oracle: OracleTable, settings: RealSettings, strategy: str, repeat: int) -> RealRun:
    """Train one real run (repeat ``repeat`` has seed ``repeat``)."""
    job = real_job(oracle, settings, strategy, repeat)
    start = time.perf_counter()
    runner = JobRunner(job, load_dataset(job.dataset), InlineExecutor(), MemoryTrialStore())
    stored = runner.run()
    done = sorted((t for t in stored if t.finished), key=lambda t: t.id)
    use = runner.budget_use()
    found = use.get(strategy) or next(iter(use.values()), None)  # the chained arm: AFTER's
    reason = (found.stopped or "") if found is not None else ""
    return RealRun(
        strategy=strategy,
        repeat=repeat,
        seed=repeat,
        trials=[real_trial(t) for t in done],
        finished_reason=reason,
        machine=machine(),
        wall_seconds=time.perf_counter() - start,
    )


def real_runs(
    oracle: OracleTable, settings: RealSettings, repeats: dict[str, int], path: Path
) -> list[RealRun]:
    """Every real run, from the checkpoint where it finished before, else trained now."""
    header = json.loads(
        json.dumps(
            {
                "table": oracle.name,
                "dataset": oracle.dataset,
                "base": oracle.base,
                "strides": oracle.strides,
                "epochs": oracle.epochs,
                "train": oracle.train,
                "real": settings.model_dump(),
                "version": nas.__version__,
            }
        )
    )
    checkpoint = Checkpoint(path, header, RealRun, run_key)
    print(f"{path}: {len(checkpoint)} runs done before", flush=True)
    out = []
    for strategy, count in repeats.items():
        for repeat in range(count):
            run = checkpoint.get((strategy, repeat))
            if run is None:
                run = run_real(oracle, settings, strategy, repeat)
                checkpoint.add(run)
                seen = [t.val_accuracy for t in run.trials]
                print(f"{oracle.name} {strategy} r{repeat}: {run.wall_seconds:.0f} s, val {seen}")
            out.append(run)
    return out


def simulated_runs(oracle: OracleTable, repeats: int) -> dict[str, list[list[Step]]]:
    """Every simulated strategy's runs against ``oracle``: its key -> one run per repetition,
    each its steps in finish order (a full grid's compute each)."""
    total = oracle.full_cost() * len(SIMULATED)
    budget = {"unit": "flops", "total": total, "epochs_per_trial": oracle.epochs}
    job = JobSpec.parse(base_job(oracle, SIMULATED, budget))
    repetitions = simulate(job, oracle, repeats)
    return {
        key: [r.steps.get(key, []) for r in repetitions]
        for key in (strategy_key(s) for s in SIMULATED)
    }


# ---- the summary ---------------------------------------------------------------------------


class Spread(BaseModel):
    """Median and interquartile range (``nas.compare.quantile``)."""

    median: float | None
    q1: float | None
    q3: float | None


class StrategySummary(BaseModel):
    strategy: str
    kind: Literal["simulated", "real"]
    runs: int
    cost: float = Field(description="median compute of its runs, base epochs")
    compute_to_target: Spread = Field(
        description="base epochs until the recommendation is worth the target (null: not "
        "reached within one full grid's compute)"
    )
    success: float = Field(description="fraction of runs that reach it within one full grid")
    best_at: dict[str, float | None] = Field(
        description="fraction of a full grid's compute -> median true accuracy of the "
        "recommendation (null: half the runs have none yet)"
    )
    auc: float = Field(description="mean area under the recommendation's curve, one full grid")


class AtCompute(BaseModel):
    """One strategy at a given compute."""

    strategy: str
    runs: int
    reached: float = Field(description="fraction of runs whose recommendation reached the target")
    no_result: int = Field(description="runs with nothing to recommend yet")
    value: Spread = Field(description="true accuracy of the recommendation (null: none)")


class Stand(BaseModel):
    """Where DiffStride stands at its median compute."""

    compute: float = Field(description="DiffStride's median compute, base epochs")
    strategies: list[AtCompute]
    against: dict[str, dict[str, Any]] = Field(
        description="baseline -> the verdict's pair for DiffStride and it (each run at its own "
        "cost)"
    )


class Readouts(BaseModel):
    """DiffStride's two readouts against the table's best point, on the test split."""

    search_test: list[float] = Field(description="(a) each search network's own test accuracy")
    retrain_true: list[float | None] = Field(description="(b) each retrain's held-out score")
    retrain_strides: list[list[int] | None]
    retrain_in_table: int
    best_point: list[int]
    best_point_test: list[float]
    welch_p: float | None = Field(description="(a) against the best point: Welch's t-test")
    welch_low: float | None = Field(description="95% interval of (a) minus the best point")
    welch_high: float | None
    mean_difference: float | None


class TableInfo(BaseModel):
    name: str
    sha256: str
    created: str
    machine: str
    points: int
    seeds: list[int]
    epochs: int
    num_train: int
    num_val: int
    split: str
    target: float
    best: list[int]
    best_mean: float
    best_se: float = Field(description="standard error of the best point's mean over seeds")
    base_epoch_flops: float
    full_cost: float = Field(description="one full grid, base epochs")


class Summary(BaseModel):
    """Every figure the readings of one table use."""

    table: TableInfo
    settings: dict[str, Any]
    strategies: list[StrategySummary]
    stand: Stand | None
    readouts: Readouts | None
    compound: list[dict[str, Any]]
    after: list[dict[str, Any]] = Field(default_factory=list)
    verdict: dict[str, Any]


def spread(values: Sequence[float]) -> Spread:
    """Median and IQR; an infinite quantile (never reached, or no result) is null."""

    def finite(q: float) -> float | None:
        value = quantile(values, q)
        return None if math.isinf(value) else value

    return Spread(median=finite(0.5), q1=finite(0.25), q3=finite(0.75))


def summarise(
    name: str, kind: Literal["simulated", "real"], runs: list[list[Step]], oracle: OracleTable
) -> StrategySummary:
    full, epoch = oracle.full_cost(), oracle.base_epoch_flops()
    target = oracle.target()
    reached = []
    for steps in runs:
        c = compute_to_target(steps, target)
        reached.append(c / epoch if c is not None and c <= full else math.inf)
    best = {
        f"{f:g}": spread(
            [-math.inf if (v := best_at(s, f * full)) is None else v for s in runs]
        ).median
        for f in FRACTIONS
    }
    return StrategySummary(
        strategy=name,
        kind=kind,
        runs=len(runs),
        cost=quantile([sum(s.cost for s in steps) / epoch for steps in runs], 0.5),
        compute_to_target=spread(reached),
        success=sum(not math.isinf(v) for v in reached) / len(runs),
        best_at=best,
        auc=statistics.fmean(area_under_curve(s, full) for s in runs),
    )


def at_compute(name: str, runs: list[list[Step]], budget: float, target: float) -> AtCompute:
    values = [best_at(steps, budget) for steps in runs]
    reached = [c is not None and c <= budget for c in (compute_to_target(s, target) for s in runs)]
    return AtCompute(
        strategy=name,
        runs=len(runs),
        reached=sum(reached) / len(runs),
        no_result=sum(v is None for v in values),
        value=spread([-math.inf if v is None else v for v in values]),
    )


def readouts(runs: list[RealRun], oracle: OracleTable) -> Readouts | None:
    """Readout (a), the search networks, against the table's best point on the test split."""
    ds = [r for r in runs if r.strategy == DIFFSTRIDE]
    if not ds:
        return None
    search = [
        t.test_accuracy
        for r in ds
        for t in r.trials
        if t.params.get("phase") == "search" and t.test_accuracy is not None
    ]
    retrain_true: list[float | None] = []
    strides: list[list[int] | None] = []
    in_table = 0
    for run in ds:
        steps = real_steps(run, oracle)
        found = [
            (t, s)
            for t, s in zip(run.trials, steps, strict=True)
            if t.params.get("phase") == "retrain"
        ]
        retrain_true.append(found[0][1].true if found else None)
        strides.append([int(v) for v in found[0][0].params["strides"]] if found else None)
        point = oracle.lookup(ArchSpec.from_string(found[0][0].spec)) if found else None
        in_table += point is not None and point.spec == found[0][0].spec
    best = oracle.best()
    tests = best.scores("test")
    p = low = high = difference = None
    if len(search) > 1 and len(tests) > 1:
        found_t = stats.ttest_ind(search, tests, equal_var=False)
        interval = found_t.confidence_interval(0.95)
        p, low, high = float(found_t.pvalue), float(interval.low), float(interval.high)
        difference = statistics.fmean(search) - statistics.fmean(tests)
    return Readouts(
        search_test=search,
        retrain_true=retrain_true,
        retrain_strides=strides,
        retrain_in_table=in_table,
        best_point=best.strides,
        best_point_test=tests,
        welch_p=p,
        welch_low=low,
        welch_high=high,
        mean_difference=difference,
    )


def compound_rows(runs: list[RealRun], oracle: OracleTable) -> list[dict[str, Any]]:
    """Per compound run: what it trained and what it recommends."""
    epoch = oracle.base_epoch_flops()
    rows = []
    for run in (r for r in runs if r.strategy == COMPOUND):
        steps = real_steps(run, oracle)
        points = curve(steps)
        # the recommendation by the product's rule (nas.recommend via nas.compare): none when
        # the run saw nothing
        found = [r for _, r in recommendations(steps)]
        k = found[-1] if found else None
        trial = run.trials[k] if k is not None else None
        rows.append(
            {
                "repeat": run.repeat,
                "trials": len(run.trials),
                "grid": sum(t.params.get("phase") == "grid" for t in run.trials),
                "phi": max((int(t.params.get("phi", 1)) for t in run.trials), default=0),
                "triple": [trial.params.get(k) for k in ("alpha", "beta", "gamma")]
                if trial
                else None,
                "recommended_phi": trial.params.get("phi") if trial else None,
                "seen": trial.val_accuracy if trial else None,
                "true": points[-1].recommended if points else None,
                "cost": sum(s.cost for s in steps) / epoch,
                "finished_reason": run.finished_reason,
            }
        )
    return rows


def strides_of(spec: str) -> str:
    """``1-2-2`` (``2x1`` for an anisotropic stage) of a block string."""
    return "-".join(
        f"{h:g}" if h == w else f"{h:g}x{w:g}"
        for h, w in (s.stride for s in ArchSpec.from_string(spec).stages)
    )


def after_rows(runs: list[RealRun], oracle: OracleTable) -> list[dict[str, Any]]:
    """Per run of compound scaling after DiffStride: the strides it scaled, what compound
    trained, what the whole job recommends and what each part cost."""
    epoch = oracle.base_epoch_flops()
    rows = []
    for run in (r for r in runs if r.strategy == AFTER):
        steps = real_steps(run, oracle)
        points = curve(steps)
        found = [r for _, r in recommendations(steps)]
        k = found[-1] if found else None  # None: the run saw nothing
        pick = run.trials[k] if k is not None else None
        scaled = [t for t in run.trials if t.strategy == AFTER]
        base = scaled[0].params.get("base_spec") if scaled else None
        rows.append(
            {
                "repeat": run.repeat,
                "base_strides": strides_of(base) if base else None,
                "trials": len(scaled),
                "grid": sum(t.params.get("phase") == "grid" for t in scaled),
                "phi": max((int(t.params.get("phi", 1)) for t in scaled), default=0),
                "recommended": (
                    f"{pick.strategy} ({pick.params.get('phase')}"
                    + (f", phi {pick.params['phi']})" if "phi" in pick.params else ")")
                    if pick
                    else None
                ),
                "seen": pick.val_accuracy if pick else None,
                "true": points[-1].recommended if points else None,
                "cost": sum(s.cost for s in steps) / epoch,
                "compound_cost": sum(t.cost_flops for t in scaled) / epoch,
                "finished_reason": run.finished_reason,
            }
        )
    return rows


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_info(oracle: OracleTable, path: Path) -> TableInfo:
    best = oracle.best()
    scores = best.scores(oracle.split())
    return TableInfo(
        name=oracle.name,
        sha256=file_sha256(path),
        created=oracle.created,
        machine=oracle.machine,
        points=len(oracle.points),
        seeds=oracle.seeds,
        epochs=oracle.epochs,
        num_train=oracle.num_train,
        num_val=oracle.num_val,
        split=oracle.split(),
        target=oracle.target(),
        best=best.strides,
        best_mean=statistics.fmean(scores),
        best_se=statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else 0.0,
        base_epoch_flops=oracle.base_epoch_flops(),
        full_cost=oracle.full_cost() / oracle.base_epoch_flops(),
    )


def all_runs(
    simulated: dict[str, list[list[Step]]], real: list[RealRun], oracle: OracleTable
) -> dict[str, list[list[Step]]]:
    """Every strategy's runs, simulated first, then the real ones."""
    out = dict(simulated)
    for run in sorted(real, key=lambda r: (r.strategy != DIFFSTRIDE, r.repeat)):
        out.setdefault(run.strategy, []).append(real_steps(run, oracle))
    return out


def summary(
    oracle: OracleTable,
    path: Path,
    simulated: dict[str, list[list[Step]]],
    real: list[RealRun],
    settings: dict[str, Any],
    *,
    resamples: int | None = None,
) -> Summary:
    """Every figure of the table's section and readings, from the runs (deterministic)."""
    runs = all_runs(simulated, real, oracle)
    epoch, target = oracle.base_epoch_flops(), oracle.target()
    strategies = [
        summarise(name, "simulated" if name in simulated else "real", found, oracle)
        for name, found in runs.items()
    ]
    options: dict[str, Any] = {} if resamples is None else {"resamples": resamples}
    found_verdict: Verdict = verdict(runs, **options)
    stand = None
    if runs.get(DIFFSTRIDE):
        budget = quantile([sum(s.cost for s in steps) for steps in runs[DIFFSTRIDE]], 0.5)
        pairs = {frozenset((p.a, p.b)): p for p in found_verdict.pairs}
        against = {}
        for name in AGAINST:
            pair = pairs.get(frozenset((DIFFSTRIDE, name)))
            if pair is not None:
                against[name] = pair.model_dump()
        stand = Stand(
            compute=budget / epoch,
            strategies=[at_compute(n, r, budget, target) for n, r in runs.items()],
            against=against,
        )
    return Summary(
        table=table_info(oracle, path),
        settings=settings,
        strategies=strategies,
        stand=stand,
        readouts=readouts(real, oracle),
        compound=compound_rows(real, oracle),
        after=after_rows(real, oracle),
        verdict=found_verdict.model_dump(),
    )


# ---- the section ---------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def epochs_text(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f}"


def p_text(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "< 0.0001"


def strategies_table(found: Summary) -> str:
    rows = [
        [
            s.strategy + (" (real)" if s.kind == "real" else ""),
            str(s.runs),
            f"{s.cost:.1f}",
            f"{epochs_text(s.compute_to_target.median)} ({epochs_text(s.compute_to_target.q1)}"
            f" to {epochs_text(s.compute_to_target.q3)})",
            f"{100 * s.success:.0f}%",
            " / ".join(pct(s.best_at[f"{f:g}"]) for f in FRACTIONS),
            f"{100 * s.auc:.2f}",
        ]
        for s in found.strategies
    ]
    return table(
        [
            "strategy",
            "runs",
            "compute per run, base epochs (median)",
            "compute to target, base epochs: median (IQR)",
            "reached within one full grid",
            "true acc % at 25% / 50% / 100% of a grid's compute (median; -: half had none)",
            "area under the curve",
        ],
        rows,
    )


def stand_table(stand: Stand) -> str:
    rows = [
        [
            s.strategy,
            str(s.runs),
            f"{100 * s.reached:.0f}%",
            str(s.no_result),
            f"{pct(s.value.median)} ({pct(s.value.q1)} to {pct(s.value.q3)})",
        ]
        for s in stand.strategies
    ]
    return table(
        [
            "strategy",
            "runs",
            "reached the target",
            "runs with nothing yet",
            "true acc % of the recommendation: median (IQR; -: none)",
        ],
        rows,
    )


def verdict_table(found: dict[str, Any]) -> str:
    rows = []
    for p in found["pairs"]:
        effect = (
            "-"
            if p["effect"] is None
            else f"{100 * p['effect']:+.2f} ({100 * p['effect_low']:+.2f} to "
            f"{100 * p['effect_high']:+.2f})"
        )
        rows.append(
            [
                f"{p['a']} vs {p['b']}",
                f"{p['runs_a']} / {p['runs_b']}",
                f"{p['statistic']:+d} of +-{p['bound']}",
                p_text(p["p"]) + ("" if p["exact"] else " (sampled)"),
                p_text(p["p_holm"]),
                effect,
                p["says"],
            ]
        )
    return table(
        [
            "pair (a vs b)",
            "runs",
            "U",
            "p",
            "Holm p",
            "effect, points of true acc, a - b (95% bootstrap interval)",
            "says",
        ],
        rows,
    )


def diffstride_table(runs: list[RealRun], oracle: OracleTable) -> str:
    epoch = oracle.base_epoch_flops()
    rows = []
    for run in (r for r in runs if r.strategy == DIFFSTRIDE):
        steps = real_steps(run, oracle)
        by_phase = {t.params.get("phase"): (t, s) for t, s in zip(run.trials, steps, strict=True)}
        search, retrain = by_phase.get("search"), by_phase.get("retrain")
        learned = (
            ", ".join(f"{v[0]:.2f}x{v[1]:.2f}" for v in search[0].learned_strides if v)
            if search
            else "-"
        )
        rows.append(
            [
                str(run.seed),
                learned or "-",
                f"{pct(search[0].val_accuracy)} / {pct(search[1].true)}" if search else "-",
                str(retrain[0].params.get("strides")) if retrain else "-",
                f"{pct(retrain[0].val_accuracy)} / {pct(retrain[0].test_accuracy)}"
                if retrain
                else "-",
                pct(retrain[1].true) if retrain else "-",
                pct(curve(steps)[-1].recommended) if steps else "-",
                f"{sum(s.cost for s in steps) / epoch:.2f}",
            ]
        )
    return table(
        [
            "seed",
            "learned strides",
            "(a) search network: val / test acc %",
            "(b) rounded",
            "(b) retrain: val / own test acc %",
            "(b) true acc % (held out)",
            "recommended: true acc %",
            "search + retrain, base epochs",
        ],
        rows,
    )


def compound_table(rows: list[dict[str, Any]]) -> str:
    return table(
        [
            "repeat",
            "trials (grid points)",
            "scaled to phi",
            "recommended (alpha, beta, gamma), phi",
            "its val / test acc %",
            "compute, base epochs",
            "stopped",
        ],
        [
            [
                str(r["repeat"]),
                f"{r['trials']} ({r['grid']})",
                str(r["phi"]),
                f"{tuple(r['triple'])}, {r['recommended_phi']}" if r["triple"] else "-",
                f"{pct(r['seen'])} / {pct(r['true'])}",
                f"{r['cost']:.1f}",
                r["finished_reason"],
            ]
            for r in rows
        ],
    )


def after_table(rows: list[dict[str, Any]]) -> str:
    return table(
        [
            "repeat",
            "DiffStride's strides, scaled",
            "compound trials (grid points)",
            "scaled to phi",
            "recommended",
            "its val / test acc %",
            "compute, base epochs (compound's)",
            "stopped",
        ],
        [
            [
                str(r["repeat"]),
                r["base_strides"] or "-",
                f"{r['trials']} ({r['grid']})",
                str(r["phi"]),
                r["recommended"] or "-",
                f"{pct(r['seen'])} / {pct(r['true'])}",
                f"{r['cost']:.1f} ({r['compound_cost']:.1f})",
                r["finished_reason"],
            ]
            for r in rows
        ],
    )


def plot(runs: dict[str, list[list[Step]]], oracle: OracleTable, path: Path) -> None:
    """Median true accuracy of the recommendation against compute, interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    full, epoch = oracle.full_cost(), oracle.base_epoch_flops()
    xs = [full * k / 200 for k in range(1, 201)]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for key, found in runs.items():
        q = [
            [quantile([best_at(s, x) or 0.0 for s in found], f) for f in (0.25, 0.5, 0.75)]
            for x in xs
        ]
        epochs = [x / epoch for x in xs]
        (line,) = ax.plot(epochs, [100 * m for _, m, _ in q], label=key)
        ax.fill_between(
            epochs,
            [100 * lo for lo, _, _ in q],
            [100 * hi for _, _, hi in q],
            color=line.get_color(),
            alpha=0.12,
        )
    ax.set_xscale("log")
    ax.set_xlabel("compute charged (base epochs, log scale)")
    ax.set_ylabel(f"true {oracle.split()} accuracy of the recommendation (%)")
    ax.set_ylim(bottom=max(0.0, 100 * oracle.target() - 15))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def section(
    found: Summary, oracle: OracleTable, real: list[RealRun], figure: str, smoke: bool
) -> str:
    """The table's docs/results.md section."""
    info, settings = found.table, found.settings
    banner = (
        "**Smoke run** (`--quick`): tiny settings, numbers not comparable with a full run.\n\n"
        if smoke
        else ""
    )
    stand = ""
    if found.stand is not None:
        stand = f"""Every strategy at DiffStride's median compute ({found.stand.compute:.2f} base
epochs, one search plus one retrain): how many runs' recommendations had reached the target,
and their true accuracy then.

{stand_table(found.stand)}
"""
    real_text = ""
    if any(r.strategy == DIFFSTRIDE for r in real):
        real_text += f"""DiffStride's real runs (`{json.dumps(settings["real"]["diffstride"])}`;
layer and strides' optimizer at the product's defaults; one job per seed, its training seed
the job's). (a) is scored by its own test accuracy; (b), a point of the table, by the test
mean of the table's seeds other than the run's own:

{diffstride_table(real, oracle)}
"""
    if found.compound:
        real_text += f"""
Compound scaling's real runs (`{json.dumps(settings["real"]["compound"])}`: its grid of
(alpha, beta, gamma) at phi = 1, then the best scaled up to phi_max, its ceiling (no MACs
ceiling); a budget in trials that lets it finish both phases), each network scored by its own
test accuracy:

{compound_table(found.compound)}
"""
    if found.after:
        real_text += f"""
Compound scaling after DiffStride (`{AFTER}`: one job of both, compound with
`from: diffstride` and the options above, so it scales DiffStride's recommendation, its rounded
retrain, instead of the base's strides). A run is the whole job: its compute includes
DiffStride's search and retrain, and it recommends the best it saw over all its trials:

{after_table(found.after)}
"""
    return f"""{banner}### Table `{info.name}` ({info.points} points)

Base `{oracle.base}`, strides {oracle.strides}; {info.num_train:,} training and
{info.num_val:,} validation images, {info.epochs} epochs per point, seeds {info.seeds}
(made on {info.machine}). Scored on the **{info.split}** split, held out. Best point
{tuple(info.best)}: mean {pct(info.best_mean)}% (SE {pct(info.best_se)}); **target
{pct(info.target)}%**. One full grid costs {info.full_cost:.1f} base epochs (1 base epoch =
{info.base_epoch_flops / 1e12:.3g} TFLOPs), each simulated strategy's budget. Simulated:
{settings["repeats"]} runs per strategy.

{strategies_table(found)}

{real_text}
{stand}
The verdict over every strategy's runs at equal compute (`nas.verdict`; each run at its own
final cost against the other strategy's runs at that compute): **{found.verdict["says"]}**.

{verdict_table(found.verdict)}

![true accuracy of the recommendation against compute, median and IQR]({figure})
"""


# ---- the smoke run's table ------------------------------------------------------------------

SMOKE_BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
SMOKE_STRIDES = [[1, 2], [1, 2]]
SMOKE_TRAIN: dict[str, Any] = {"batch_size": 30, "threads": 1, "score_test": True}
SMOKE_EPOCHS = 2


def smoke_images(root: Path) -> Path:
    """``nas.data.synthetic``'s learnable images (oriented gratings, one per class) as IDX files
    under ``root``: 600 to split into training and validation, 100 as the test split."""
    raw = make_synthetic(num_images=700, size=28)
    x = (np.asarray(raw.x)[:, 0] * 255).round().astype(np.uint8)
    y = np.asarray(raw.y).astype(np.uint8)
    root.mkdir(parents=True, exist_ok=True)
    for prefix, rows in (("train", slice(0, 600)), ("t10k", slice(600, None))):
        write_idx(root / f"{prefix}-images-idx3-ubyte", x[rows])
        write_idx(root / f"{prefix}-labels-idx1-ubyte", y[rows])
    return root


def smoke_table(root: Path) -> Path:
    """A 4-point table (a 2-stage ResNet, each stage at stride 1 or 2) of seeds 0 and 1, two
    epochs each on ``smoke_images``, trained as bench/oracle.py trains; saved as
    ``root/smoke.json``."""
    dataset = {"name": str(smoke_images(root / "images")), "val_fraction": 0.25, "seed": 0}
    job = JobSpec.parse(
        {
            "name": "smoke",
            "dataset": dataset,
            "base": SMOKE_BASE,
            "strategies": ["grid"],
            "budget": {"unit": "trials", "total": 1},
            "train": SMOKE_TRAIN,
        }
    )
    data = load_dataset(job.dataset)
    base = parse_spec(SMOKE_BASE)
    points = []
    for strides in itertools.product(*SMOKE_STRIDES):
        spec = base.with_strides(strides)
        runs = [
            (seed, train(spec, data, SMOKE_EPOCHS, job.train.model_copy(update={"seed": seed})))
            for seed in (0, 1)
        ]
        points.append(OraclePoint.from_results(spec, runs))
    oracle = OracleTable(
        name="smoke",
        base=SMOKE_BASE,
        strides=SMOKE_STRIDES,
        dataset=dataset,
        num_train=data.num_train,
        num_val=data.num_val,
        epochs=SMOKE_EPOCHS,
        train=job.train.model_dump(mode="json", exclude={"seed"}),
        machine=machine(),
        version=nas.__version__,
        created=f"{datetime.now(UTC):%Y-%m-%d}",
        points=points,
    )
    return oracle.save(root / "smoke.json")


# ---- the bench -----------------------------------------------------------------------------


def bench_table(path: Path, args: argparse.Namespace) -> str:
    oracle = OracleTable.load(path)
    settings = RealSettings(
        subset=args.subset,
        epochs=args.real_epochs,
        diffstride=diffstride_options(oracle),
        compound=compound_options(args.compound_grid_points, args.compound_phi_max),
    )
    start = time.perf_counter()
    simulated = simulated_runs(oracle, args.repeats)
    print(f"{oracle.name}: simulated in {time.perf_counter() - start:.0f} s", flush=True)
    repeats = {
        DIFFSTRIDE: args.diffstride_repeats,
        COMPOUND: args.compound_repeats,
        AFTER: args.after_repeats,
    }
    real = real_runs(oracle, settings, repeats, args.out / f"strategies_{oracle.name}.jsonl")
    found = summary(
        oracle,
        path,
        simulated,
        real,
        {"repeats": args.repeats, "real": settings.model_dump(), "repeat_counts": repeats},
    )
    summary_path = args.out / f"strategies_{oracle.name}.summary.json"
    summary_path.write_text(found.model_dump_json(indent=1) + "\n")
    print(f"wrote {summary_path}: {found.verdict['says']}", flush=True)
    figure = Path(args.results).parent / f"strategies_{oracle.name}.png"
    plot(all_runs(simulated, real, oracle), oracle, figure)
    return section(found, oracle, real, figure.name, args.quick)


def table_section(name: str) -> str:
    return f"strategies-{name}"


INTRO = """## Search strategies by compute to target (`bench/strategies.py`)

Fixed-stride strategies and the baselines are simulated against oracle tables (`data/oracles/`,
made by `bench/oracle.py`): the live runner with a lookup executor, each proposal charged the
table's compute. A simulated run *selects* on one table seed's validation accuracy (a seed
drawn per proposal) and is *scored* held out, by the test accuracy of the table's other seeds.
A strategy recommends what it saw as best; the recommendation's true accuracy is what counts.
Compute to target: the compute until the recommendation is truly worth the target (the best
point's mean minus max(0.5 points, 2 SE)); "not reached" within one full grid's compute counts
as a failure. DiffStride and compound scaling run for real (`data/bench/strategies_<table>.jsonl`
keeps every trial), and so does compound scaling after DiffStride (a job of both, charged both);
every figure is in `strategies_<table>.summary.json` there, from which
`scripts/findings.py` writes the readings. Each table's section is rewritten only by a run over
that table (`--table`)."""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--table", type=Path, nargs="+", default=TABLES)
    parser.add_argument("--repeats", type=int, default=50, help="simulated runs per strategy")
    parser.add_argument("--diffstride-repeats", type=int, default=10)
    parser.add_argument("--compound-repeats", type=int, default=5)
    parser.add_argument(
        "--after-repeats", type=int, default=5, help="runs of compound scaling after DiffStride"
    )
    parser.add_argument("--compound-grid-points", type=int, default=3)
    parser.add_argument("--compound-phi-max", type=int, default=2)
    parser.add_argument("--subset", type=int, help="real runs on this many images (smoke)")
    parser.add_argument("--real-epochs", type=int, help="real runs' epochs (smoke)")
    parser.add_argument("--out", type=Path, default=OUT, help="runs files and summaries")
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: a 4-point table of generated images made in a temporary folder (unless "
        "--table), 4 simulated runs, 2 DiffStride, 2 compound and 2 compound-after-DiffStride "
        "runs; everything written there",
    )
    args = parser.parse_args()
    if args.quick:
        scratch = Path(tempfile.mkdtemp(prefix="bench-strategies-"))
        defaults = parser.parse_args([])
        quick: dict[str, Any] = {
            "repeats": 4,
            "diffstride_repeats": 2,
            "compound_repeats": 2,
            "after_repeats": 2,
            "compound_grid_points": 1,
            "out": scratch,
            "results": scratch / "results.md",
        }
        for key, value in quick.items():
            if getattr(args, key) == getattr(defaults, key):
                setattr(args, key, value)
        if args.table == defaults.table:
            args.table = [smoke_table(scratch)]
        print(f"smoke run under {scratch}", flush=True)
    results_module.RESULTS = Path(args.results)
    fresh: dict[str, str] = {}
    for path in args.table:
        start = time.perf_counter()
        body = bench_table(path, args)
        fresh[path.stem] = (
            f"Run on {machine()}; wall time {time.perf_counter() - start:.0f} s.\n\n{body}"
        )
    # a table not run now keeps its section from the last run that ran it
    names = [p.stem for p in TABLES] + list(fresh)
    blocks = [
        results_module.section_block(table_section(name), text)
        for name in dict.fromkeys(names)
        if (text := fresh.get(name) or results_module.read_section(table_section(name)))
    ]
    results_module.write_section("strategies", INTRO + "\n\n" + "\n\n".join(blocks) + "\n")
    print(f"wrote section 'strategies' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
