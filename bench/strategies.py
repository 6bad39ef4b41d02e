"""Which strategy finds a good architecture for the least compute: simulated and real runs.

For each oracle table under data/oracles/ (`bench/oracle.py`):

- the fixed-stride strategies (grid, random, Optuna TPE with median or Hyperband pruning,
  CMA-ES, NSGA-II) are replayed against the table by `workers.oracle.simulate` (the live runner
  with a lookup executor): many repetitions, each with its own seed, every proposal charged the
  table's compute and scored with one of its seeds;
- DiffStride runs for real, several repetitions with the product's defaults (search, then the
  rounded fixed-stride retrain) on the table's data; its recommended fixed architecture is scored
  by the table where it falls in it and charged its real search-plus-retrain compute;
- compound scaling runs for real once (its networks are not in the table).

The headline is compute-to-target: the target is the table's best mean accuracy minus max(0.5
points, 2 standard errors); a strategy's compute-to-target is what it was charged until a
proposal's true (table) accuracy reached it. Also: the success rate within one full grid's
compute, and the true accuracy of each strategy's recommendation at 25%, 50% and 100% of it.

    python bench/strategies.py [--repeats 50] [--diffstride-repeats 3] [--skip-compound]
                               [--table data/oracles/resnet3_27.json ...]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, table
from nas.compare import Step, area_under_curve, best_at, compute_to_target, quantile
from nas.job import JobSpec, strategy_key
from nas.oracle import OracleTable
from workers.executor import InlineExecutor
from workers.oracle import simulate
from workers.runner import JobRunner
from workers.store import MemoryTrialStore, StoredTrial
from workers.trial_entry import load_dataset

ORACLES = Path(__file__).resolve().parent.parent / "data" / "oracles"
FRACTIONS = (0.25, 0.5, 1.0)
SIMULATED: list[dict[str, Any]] = [
    {"name": "grid"},
    {"name": "random"},
    {"name": "optuna", "label": "tpe+median", "options": {"sampler": "tpe", "pruner": "median"}},
    {
        "name": "optuna",
        "label": "tpe+hyperband",
        "options": {"sampler": "tpe", "pruner": "hyperband"},
    },
    {"name": "optuna", "label": "cmaes", "options": {"sampler": "cmaes", "pruner": "none"}},
    {"name": "optuna", "label": "nsga2", "options": {"sampler": "nsga2", "pruner": "none"}},
]


def base_job(oracle: OracleTable, strategies: list[Any], total_flops: float) -> dict[str, Any]:
    return {
        "name": f"bench-strategies-{oracle.name}",
        "dataset": oracle.dataset,
        "base": oracle.base,
        "space": {"strides": oracle.strides},
        "strategies": strategies,
        "budget": {"unit": "flops", "total": total_flops, "epochs_per_trial": oracle.epochs},
        "train": {k: v for k, v in oracle.train.items() if k != "score_test"},
        "keep_weights": "none",
        "confirm_seeds": 0,  # the oracle table's seeds score the recommendations here
    }


def quantiles(values: list[float]) -> tuple[float, float, float]:
    """(25th, 50th, 75th) percentiles (``api.targets.quantile``); inf where a run never got
    there, -inf where it has no result yet."""
    q1, median, q3 = (quantile(values, q) for q in (0.25, 0.5, 0.75))
    return q1, median, q3


def epochs_text(value: float) -> str:
    return "not reached" if math.isinf(value) else f"{value:.1f}"


def summarise(
    runs: list[list[Step]], target: float, full: float, base_epoch: float
) -> dict[str, str]:
    """One table row's cells from a strategy's runs (lists of steps)."""
    c2t = [compute_to_target(steps, target) for steps in runs]
    reached = [c / base_epoch if c is not None and c <= full else math.inf for c in c2t]
    q1, median, q3 = quantiles(reached)
    cells = {
        "runs": str(len(runs)),
        "c2t": f"{epochs_text(median)} ({epochs_text(q1)}-{epochs_text(q3)})",
        "success": f"{100 * sum(not math.isinf(v) for v in reached) / len(runs):.0f}%",
        "auc": f"{100 * statistics.fmean(area_under_curve(s, full) for s in runs):.2f}",
    }
    for fraction in FRACTIONS:
        # A run with no finished proposal yet has no recommendation: it ranks below every other.
        best = sorted(
            (best_at(steps, fraction * full) for steps in runs),
            key=lambda b: -math.inf if b is None else b,
        )
        median = best[(len(best) - 1) // 2]  # the lower median: None while half have nothing
        cells[f"best{fraction}"] = "-" if median is None else f"{100 * median:.2f}"
    return cells


def percent(value: float) -> str:
    return "-" if math.isinf(value) else f"{100 * value:.2f}"


def at_equal_compute(
    runs: dict[str, list[list[Step]]],
    ds_runs: list[list[Step]],
    ds_true: list[float],
    target: float,
) -> tuple[float, str]:
    """The fixed-stride strategies at DiffStride's median compute: how often they had reached
    the target and how their recommendation's true accuracy compares with DiffStride's
    (``ds_true``: the true accuracies of its recommendations)."""
    budget = statistics.median(sum(s.cost for s in steps) for steps in ds_runs)
    bar = statistics.median(ds_true) if ds_true else math.inf
    rows = []
    for key, key_runs in runs.items():
        recommended = [best_at(steps, budget) for steps in key_runs]
        known = [v for v in recommended if v is not None]
        reached = sum(
            1 for steps in key_runs if (c := compute_to_target(steps, target)) and c <= budget
        )
        q1, median, q3 = quantiles([-math.inf if v is None else v for v in recommended])
        rows.append(
            [
                key,
                str(len(key_runs)),
                f"{100 * reached / len(key_runs):.0f}%",
                f"{len(key_runs) - len(known)}",
                f"{percent(median)} ({percent(q1)} to {percent(q3)})",
                f"{100 * sum(v >= bar for v in known) / len(key_runs):.0f}%",
            ]
        )
    header = [
        "strategy",
        "runs",
        "reached the target",
        "runs with no result yet",
        "true acc % of the recommendation: median (IQR)",
        f"runs at or above DiffStride's median ({100 * bar:.2f}%)",
    ]
    return budget, table(header, rows)


def run_diffstride(
    oracle: OracleTable, repeats: int, which_stages: list[int]
) -> tuple[list[list[Step]], list[list[str]]]:
    """Real DiffStride searches (defaults) plus their rounded retrains, one job per seed."""
    runs, rows = [], []
    for seed in range(repeats):
        job = JobSpec.parse(
            base_job(
                oracle,
                [
                    {
                        "name": "diffstride",
                        "options": {
                            "which_stages": which_stages,
                            "retrain": True,
                            "round_to": "space",
                        },
                    }
                ],
                1e18,
            )
            | {"seed": seed, "train": {**oracle.train, "seed": seed, "score_test": True}}
        )
        job = job.model_copy(
            update={"budget": job.budget.model_copy(update={"unit": "trials", "total": 2})}
        )
        data = load_dataset(job.dataset)
        stored = JobRunner(job, data, InlineExecutor(), MemoryTrialStore()).run()
        search = next(t for t in stored if t.request.params.get("phase") == "search")
        retrain = next((t for t in stored if t.request.params.get("phase") == "retrain"), None)
        spent = sum(t.result.cost_flops for t in stored if t.result is not None)
        point = oracle.lookup(retrain.request.spec) if retrain is not None else None
        true = point.mean() if point is not None else None
        # One step for the whole search-plus-retrain: its recommendation is the retrain.
        seen = retrain.result.accuracy if retrain is not None and retrain.result else None
        runs.append([Step(cost=spent, seen=seen, true=true)])
        rows.append(diffstride_row(seed, search, retrain, point, spent, oracle))
    return runs, rows


def diffstride_row(
    seed: int,
    search: StoredTrial,
    retrain: StoredTrial | None,
    point: Any,
    spent: float,
    oracle: OracleTable,
) -> list[str]:
    result = search.result
    learned = (
        ", ".join(f"{s[0]:.2f}x{s[1]:.2f}" for s in result.learned_strides if s)
        if result is not None
        else "-"
    )
    a = f"{100 * result.accuracy:.2f} / {100 * (result.test_accuracy or 0):.2f}" if result else "-"
    rounded = str(retrain.request.params.get("strides")) if retrain is not None else "-"
    b_seen = (
        f"{100 * retrain.result.accuracy:.2f} / {100 * (retrain.result.test_accuracy or 0):.2f}"
        if retrain and retrain.result
        else "-"
    )
    b_true = f"{100 * point.mean():.2f}" if point is not None else "not in the table"
    return [
        str(seed),
        learned,
        a,
        rounded,
        b_seen,
        b_true,
        f"{spent / oracle.base_epoch_flops():.2f}",
    ]


def run_compound(oracle: OracleTable, total_flops: float) -> list[str]:
    job = JobSpec.parse(
        base_job(
            oracle,
            [{"name": "compound", "options": {"phi_max": 2, "max_grid_points": 3}}],
            total_flops,
        )
    )
    data = load_dataset(job.dataset)
    stored = JobRunner(job, data, InlineExecutor(), MemoryTrialStore()).run()
    done = [t for t in stored if t.result is not None]
    best = max(done, key=lambda t: t.result.accuracy if t.result else 0.0)
    spent = sum(t.result.cost_flops for t in done if t.result is not None)
    assert best.result is not None
    return [
        str(len(done)),
        f"{100 * best.result.accuracy:.2f}",
        best.request.spec.to_string().split(":", 4)[-1][:80],
        f"{spent / oracle.base_epoch_flops():.2f}",
    ]


def plot(curves: dict[str, list[list[Step]]], full: float, base_epoch: float, path: Path) -> None:
    """Median true accuracy of the recommendation against compute, interquartile band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [full * k / 100 for k in range(1, 101)]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for key, runs in curves.items():
        values = [[best_at(steps, x) or 0.0 for steps in runs] for x in xs]
        q = [quantiles(v) for v in values]
        epochs = [x / base_epoch for x in xs]
        (line,) = ax.plot(epochs, [100 * m for _, m, _ in q], label=key)
        ax.fill_between(
            epochs,
            [100 * lo for lo, _, _ in q],
            [100 * hi for _, _, hi in q],
            color=line.get_color(),
            alpha=0.15,
        )
    ax.set_xlabel("compute charged (base epochs)")
    ax.set_ylabel("true accuracy of the recommendation (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def simulated_runs(
    oracle: OracleTable, repeats: int, full: float
) -> tuple[dict[str, list[list[Step]]], float]:
    """Every simulated strategy's runs against ``oracle`` (its key -> one list of steps per
    repetition), and the seconds the simulation took."""
    start = time.perf_counter()
    job = JobSpec.parse(base_job(oracle, SIMULATED, full * len(SIMULATED)))
    repetitions = simulate(job, oracle, repeats)
    simulated_s = time.perf_counter() - start
    keys = [strategy_key(s) for s in SIMULATED]
    runs = {key: [r.steps.get(key, []) for r in repetitions] for key in keys}
    print(f"{oracle.name}: {repeats} simulated repetitions in {simulated_s:.1f} s", flush=True)
    return runs, simulated_s


def strategies_table(
    runs: dict[str, list[list[Step]]], target: float, full: float, base_epoch: float
) -> str:
    """One row per strategy: compute to target, success, accuracy at fractions of a grid."""
    header = [
        "strategy",
        "runs",
        "compute-to-target, base epochs: median (IQR)",
        "success within one full grid",
        "true acc % at 25% / 50% / 100% of the grid's compute (lower median; -: half had none)",
        "area under the curve",
    ]
    rows = []
    for key, key_runs in runs.items():
        cells = summarise(key_runs, target, full, base_epoch)
        rows.append(
            [
                key,
                cells["runs"],
                cells["c2t"],
                cells["success"],
                " / ".join(cells[f"best{f}"] for f in FRACTIONS),
                cells["auc"],
            ]
        )
    return table(header, rows)


def bench_table(path: Path, args: argparse.Namespace) -> str:
    oracle = OracleTable.load(path)
    base_epoch = oracle.base_epoch_flops()
    full = oracle.full_cost()
    target = oracle.target()
    runs, simulated_s = simulated_runs(oracle, args.repeats, full)

    which = [i for i, choices in enumerate(oracle.strides) if len(choices) > 1]
    ds_runs, ds_rows = run_diffstride(oracle, args.diffstride_repeats, which)
    runs["diffstride (real)"] = ds_runs
    print(f"{oracle.name}: diffstride {ds_rows}", flush=True)

    ds_true = sorted(v for v in (best_at(steps, math.inf) for steps in ds_runs) if v is not None)
    equal_budget, equal_table = at_equal_compute(
        {k: v for k, v in runs.items() if "real" not in k}, ds_runs, ds_true, target
    )
    ds_true_text = ", ".join(f"{100 * v:.2f}" for v in ds_true)
    ds_c2t = [compute_to_target(steps, target) for steps in ds_runs]
    quarter = [c is not None and c <= 0.25 * full for c in ds_c2t]
    aim = (
        f"The question kept from before: does DiffStride reach the target for at most a quarter "
        f"of the full grid's compute ({0.25 * full / base_epoch:.1f} base epochs)? "
        f"**{sum(quarter)} of {len(quarter)} repetitions did.**"
    )
    ds_table = table(
        [
            "seed",
            "learned strides",
            "(a) search network: val / test acc %",
            "(b) rounded",
            "(b) retrain val / test acc %",
            "(b) true acc % (table)",
            "search + retrain, base epochs",
        ],
        ds_rows,
    )
    compound = ""
    if not args.skip_compound:
        trials, accuracy, arch, spent = run_compound(oracle, 0.25 * full)
        compound = "Compound scaling (real, one run, a quarter of a full grid's compute): " + (
            f"{trials} trials, best val acc {accuracy}% (`{arch}`), {spent} base epochs."
        )
    figure = results_module.RESULTS.parent / f"strategies_{oracle.name}.png"
    plot({k: v for k, v in runs.items() if "real" not in k}, full, base_epoch, figure)
    best = oracle.best()
    return f"""### Table `{oracle.name}` ({len(oracle.points)} points)

Base `{oracle.base}`, strides {oracle.strides}; {oracle.num_train:,} training and
{oracle.num_val:,} validation images, {oracle.epochs} epochs per point, seeds {oracle.seeds}
(made on {oracle.machine}). Best point {tuple(best.strides)}: mean
{100 * best.mean():.2f}% (SE {100 * best.standard_error():.2f}); **target {100 * target:.2f}%**.
One full grid costs {full / base_epoch:.1f} base epochs (1 base epoch = {base_epoch / 1e12:.2f}
TFLOPs), which is every strategy's budget. Simulated: {args.repeats} repetitions per strategy
in {simulated_s:.0f} s.

{strategies_table(runs, target, full, base_epoch)}

DiffStride's real repetitions (defaults: ramp inside, R auto, strides on Adam 0.1; the search
then the retrain of its strides rounded into the table's space (`round_to: space`),
{oracle.epochs} epochs each). The table's best point scores {100 * best.mean():.2f}% val and
{100 * (best.test_mean() or math.nan):.2f}% test (mean of {len(best.runs)} seeds):

{ds_table}

{aim}

The same question at equal compute: the simulated strategies after DiffStride's median
compute ({equal_budget / base_epoch:.2f} base epochs, one search plus one retrain), against
DiffStride's recommendations (true accuracy
{ds_true_text}%):

{equal_table}

{compound}

![true accuracy of the recommendation against compute, median and IQR]({figure.name})
"""


TABLES = [ORACLES / "resnet3_27.json", ORACLES / "resnet_narrow_18.json"]


def table_section(name: str) -> str:
    return f"strategies-{name}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=50, help="simulated repetitions")
    parser.add_argument("--diffstride-repeats", type=int, default=3)
    parser.add_argument("--skip-compound", action="store_true")
    parser.add_argument("--table", type=Path, nargs="+", default=TABLES)
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    args = parser.parse_args()
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
        results_module.section_block(table_section(name), body)
        for name in dict.fromkeys(names)
        if (body := fresh.get(name) or results_module.read_section(table_section(name)))
    ]
    results_module.write_section(
        "strategies",
        f"""## Search strategies by compute to target (`bench/strategies.py`)

Fixed-stride strategies are simulated against oracle tables (`data/oracles/`, made by
`bench/oracle.py`): the live runner with a lookup executor, each proposal charged the table's
compute and scored with one of the table's seeds at random; each repetition has its own seed
(sampler and grid order). A strategy's recommendation is its best *seen* accuracy, scored by its
*true* accuracy (the table's mean over seeds). Compute-to-target counts every FLOP charged until
a proposal's true accuracy reached the target (table's best mean minus max(0.5 points, 2 SE));
"not reached" within one full grid's compute counts as a failure. DiffStride runs for real;
its recommendation is its rounded retrain, scored by the table. Each table's section is
rewritten only by a run over that table (`--table`).

{(chr(10) * 2).join(blocks)}
""",
    )
    print(f"wrote section 'strategies' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
