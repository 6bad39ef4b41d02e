"""One comparison job on real Fashion-MNIST: grid, random, Optuna, DiffStride, compound scaling.

The ResNet family (`resnet_narrow_fmnist`), strides searched over [[1], [1,2], [1,2,3], [1,2,3]],
the budget in base epochs split evenly across the five strategies, run in this process
(`JobRunner` + `InlineExecutor` + `MemoryTrialStore`). Writes a table per strategy, a
best-so-far accuracy vs cumulative compute plot, and whether DiffStride came within 0.5 points of
the best grid accuracy for at most a quarter of the grid's compute.

    python bench/strategies.py [--subset 6000] [--epochs 1] [--budget 24] [--smoothness 4]
                               [--results docs/results.md] [--plot docs/strategies_best_so_far.png]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, table, write_section
from nas.job import JobSpec
from workers.executor import InlineExecutor
from workers.runner import OVER_BUDGET, JobRunner, RunEvent
from workers.store import MemoryTrialStore, StoredTrial
from workers.trial_entry import load_dataset

STRIDES = [[1], [1, 2], [1, 2, 3], [1, 2, 3]]
AIM_POINTS = 0.5  # DiffStride within this many accuracy points of the best grid trial ...
AIM_FRACTION = 0.25  # ... for at most this fraction of the grid's compute


def job_dict(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "name": "bench-strategies-fmnist",
        "dataset": {"name": "fashion-mnist", "subset": args.subset, "seed": args.seed},
        "family": "resnet",
        "space": {"strides": STRIDES},
        "strategies": [
            "grid",
            "random",
            {"name": "optuna", "options": {"sampler": "tpe", "pruner": "median"}},
            {
                "name": "diffstride",
                "options": {
                    "inits": [[1, 2, 2, 2], [1, 3, 1, 3]],
                    "retrain": True,
                    "smoothness": args.smoothness,
                },
            },
            {"name": "compound", "options": {"phi_max": 2, "max_grid_points": 3}},
        ],
        "budget": {
            "unit": "base_epochs",
            "total": args.budget,
            "epochs_per_trial": args.epochs,
        },
        "objectives": {"max_macs": 200_000_000},
        "train": {"batch_size": args.batch, "augment": False},
        "seed": args.seed,
    }


def strides_of(trial: StoredTrial) -> str:
    """The architecture's per-stage strides: learned ones (2 decimals) for a DiffStride search."""
    learned = trial.result.learned_strides if trial.result is not None else []
    out = []
    for i, stage in enumerate(trial.request.spec.stages):
        value = learned[i] if i < len(learned) and learned[i] is not None else stage.stride
        assert value is not None
        h, w = value
        text = f"{h:g}" if h == int(h) else f"{h:.2f}"
        out.append(text if round(h, 2) == round(w, 2) else f"{text}x{w:.2f}")
    return "(" + ", ".join(out) + ")"


def describe(trial: StoredTrial) -> str:
    phase = trial.request.params.get("phase")
    return f"#{trial.number}{f' {phase}' if phase else ''} {strides_of(trial)}"


def plot(curves: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, points in curves.items():
        if not points:
            continue
        xs = [x for x, _ in points]
        ys = [y for _, y in points]
        ax.step(xs, ys, where="post", marker="o", markersize=3, label=key)
    ax.set_xlabel("cumulative compute charged to the strategy (PFLOPs)")
    ax.set_ylabel("best validation accuracy so far")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--subset", type=int, default=6000, help="training images (then 10%% val)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per trial")
    parser.add_argument("--budget", type=float, default=24, help="base epochs for the whole job")
    parser.add_argument("--smoothness", type=float, default=4.0, help="R of DiffStride")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    parser.add_argument(
        "--plot", type=Path, default=results_module.RESULTS.parent / "strategies_best_so_far.png"
    )
    args = parser.parse_args()

    job = JobSpec.parse(job_dict(args))
    data = load_dataset(job.dataset)
    print(f"data: {data.num_train} train, {data.num_val} val images", flush=True)
    store = MemoryTrialStore()
    completed: list[StoredTrial] = []  # in completion order
    start = time.perf_counter()

    def observe(event: RunEvent, runner: JobRunner) -> None:
        state = runner.states[event.strategy]
        used = f"{100 * state.committed / state.budget:.0f}% of share" if state.budget else ""
        head = f"[{time.perf_counter() - start:6.0f}s] {event.strategy:<10}"
        trial = event.trial
        if event.kind == "submitted" and trial is not None:
            print(f"{head} submit {describe(trial)} ({used})", flush=True)
        elif event.kind == "progress" and trial is not None and event.report is not None:
            r = event.report
            strides = [f"{s[0]:.2f}" for s in r.strides if s is not None]
            print(
                f"{head}   #{trial.number} epoch {r.epoch}: val {r.val_accuracy:.4f}, "
                f"{r.seconds:.0f} s" + (f", strides {strides}" if strides else ""),
                flush=True,
            )
        elif event.kind == "finished" and trial is not None:
            completed.append(trial)
            outcome = (
                f"acc {trial.result.accuracy:.4f}, {trial.result.cost_flops / 1e12:.2f} TFLOPs"
                if trial.result is not None
                else f"failed: {(trial.error or '').strip().splitlines()[-1:]}"
            )
            print(f"{head} done   {describe(trial)}: {trial.state}, {outcome}", flush=True)
        elif event.kind == "stopped":
            print(f"{head} stopped: {event.message} ({state.trials_done} trials)", flush=True)

    runner = JobRunner(job, data, InlineExecutor(), store, observer=observe)
    base_epoch = runner.epoch_cost(runner.base)
    share = runner.strategy_budget() / base_epoch
    # DiffStride's searches (R = 4) cost several base epochs each: say up front whether they fit.
    probe = copy.deepcopy(runner.states["diffstride"].strategy)
    search_costs = []
    while (request := probe.ask()) is not None and request.params.get("phase") == "search":
        search_costs.append(runner.epoch_cost(request.spec) * args.epochs / base_epoch)
    fit_note = (
        f"DiffStride's searches are estimated at "
        f"{', '.join(f'{c:.2f}' for c in search_costs)} base epochs each; its share is "
        f"{share:.2f}"
        + (" (a search that does not fit is skipped)." if max(search_costs) > share else ".")
    )
    print(fit_note, flush=True)
    trials = runner.run()
    total_wall = time.perf_counter() - start
    print(f"total {total_wall:.0f} s", flush=True)

    rows: list[list[str]] = []
    best: dict[str, tuple[float, float]] = {}  # key -> (best accuracy, FLOPs spent)
    best_retrain: dict[str, float] = {}
    for key, state in runner.states.items():
        own = [t for t in trials if t.strategy == key]
        skipped = [t for t in own if (t.error or "").startswith(OVER_BUDGET)]
        ran = [t for t in own if t not in skipped]
        with_result = [t for t in ran if t.result is not None]
        failed = len(ran) - len(with_result)
        pruned = sum(t.state == "pruned" for t in ran)
        top = max(
            with_result,
            key=lambda t: (t.result.accuracy, -t.id) if t.result is not None else (0.0, 0),
            default=None,
        )
        wall = sum(t.result.wall_seconds for t in with_result if t.result is not None)
        run_text = str(len(ran))
        extras = [f"{pruned} pruned"] * bool(pruned) + [f"{failed} failed"] * bool(failed)
        if extras:
            run_text += f" ({', '.join(extras)})"
        if top is not None and top.result is not None:
            best[key] = (top.result.accuracy, state.spent)
            phase = top.request.params.get("phase")
            acc_text = f"{100 * top.result.accuracy:.2f}" + (f" ({phase})" if phase else "")
            arch_text = strides_of(top)
        else:
            acc_text, arch_text = "-", "-"
        retrains = [
            t.result.accuracy
            for t in with_result
            if t.result is not None and t.request.params.get("phase") == "retrain"
        ]
        if retrains:
            best_retrain[key] = max(retrains)
        rows.append(
            [
                key,
                run_text,
                str(len(skipped)),
                acc_text,
                arch_text,
                f"{state.spent / base_epoch:.2f}",
                f"{state.spent / 1e15:.4f}",
                f"{wall:.0f}",
                state.stopped or "",
            ]
        )
    body = table(
        [
            "strategy",
            "trials run",
            "skipped (over budget)",
            "best val acc %",
            "its strides",
            "compute (base epochs)",
            "compute (PFLOPs)",
            "wall s",
            "stopped",
        ],
        rows,
    )

    curves: dict[str, list[tuple[float, float]]] = {key: [] for key in runner.states}
    spent: dict[str, float] = dict.fromkeys(runner.states, 0.0)
    for trial in completed:
        if trial.result is None:
            continue
        spent[trial.strategy] += trial.result.cost_flops
        previous = curves[trial.strategy][-1][1] if curves[trial.strategy] else 0.0
        curves[trial.strategy].append(
            (spent[trial.strategy] / 1e15, max(previous, trial.result.accuracy))
        )
    plot(
        curves,
        args.plot,
        f"Fashion-MNIST subset {args.subset}, {args.epochs} epoch(s)/trial, "
        f"budget {args.budget:g} base epochs",
    )
    print(f"plot: {args.plot}", flush=True)

    if "grid" in best and "diffstride" in best:
        grid_acc, grid_flops = best["grid"]
        diff_acc, diff_flops = best["diffstride"]
        gap = 100 * (grid_acc - diff_acc)
        fraction = diff_flops / grid_flops if grid_flops else float("inf")
        side = "behind" if gap > 0 else "ahead"
        met = gap <= AIM_POINTS and fraction <= AIM_FRACTION
        retrain_text = (
            f" (its best retrained fixed-stride architecture: "
            f"{100 * best_retrain['diffstride']:.2f}%)"
            if "diffstride" in best_retrain
            else ""
        )
        aim = (
            f"Aim: DiffStride within {AIM_POINTS} points of the best grid accuracy for at most "
            f"{AIM_FRACTION:.0%} of the grid's compute. DiffStride's best {100 * diff_acc:.2f}% "
            f"vs grid's {100 * grid_acc:.2f}% ({abs(gap):.2f} points {side})"
            f"{retrain_text}, for "
            f"{fraction:.0%} of the grid's compute ({diff_flops / base_epoch:.2f} vs "
            f"{grid_flops / base_epoch:.2f} base epochs): **{'met' if met else 'not met'}**"
            f" ({'accuracy ok' if gap <= AIM_POINTS else 'accuracy short'}, "
            f"{'compute ok' if fraction <= AIM_FRACTION else 'compute over'})."
        )
    else:
        aim = "Aim: not assessed (grid or DiffStride finished no trial)."
    print(aim, flush=True)

    plot_link = os.path.relpath(args.plot.resolve(), args.results.resolve().parent)
    results_module.RESULTS = Path(args.results)
    write_section(
        "strategies",
        f"""## Search strategies on one budget (`bench/strategies.py`)

Machine: {machine()}.

One job on real Fashion-MNIST: subset of {args.subset:,} training images ({data.num_train:,}
train, {data.num_val:,} validation), {args.epochs} epoch(s) per trial, batch {args.batch}, no
augmentation, seed {args.seed}. ResNet family (`resnet_narrow_fmnist`), strides searched over
`{STRIDES}`. Budget: {args.budget:g} base epochs (1 base epoch = {base_epoch / 1e12:.2f} TFLOPs)
for the whole job, split evenly across the {len(runner.states)} strategies
({args.budget / len(runner.states):.2f} each). Strategies: grid; random; Optuna (TPE, median
pruner); DiffStride (inits (1,2,2,2) and (1,3,1,3), R = {args.smoothness:g}, then the rounded
strides retrained); compound scaling (phi up to 2, 3 grid points, MACs ceiling 200 M). Best
accuracy is over all of a strategy's trials (for DiffStride the search phase counts too, its
strides then the learned ones); compute is what the strategy was charged (FLOPs x images seen).
Total wall time {total_wall:.0f} s.

{body}

{fit_note} {aim}

![best-so-far accuracy vs compute]({plot_link})
""",
    )
    print(f"wrote section 'strategies' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
