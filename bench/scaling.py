"""Compound scaling against scaling one dimension, at equal MACs, on Fashion-MNIST.

The hypothesis (Tan & Le 2019, EfficientNet, Section 3 and Figure 3): scaling a network up by
depth, width or resolution alone saturates as it grows, and compound scaling (all three by one
knob phi, alpha * beta^2 * gamma^2 ~ 2) is more accurate at the same FLOPs.

The design, fixed before any run (issue 26, part 3):

- Base: a 3-stage ResNet for 28x28x1 with two basic blocks per stage (stem 16; 16/32/64
  channels; strides 1, 2, 2). It trains in about a minute here.
- Coefficients: the compound strategy's own phase 1. Its grid of (alpha, beta, gamma)
  (`nas.strategies.compound.grid_points` with its default options) trains once each at phi = 1
  (seed 0, the same recipe) and the most accurate on *validation* is kept.
- Sizes: 2x and 4x the base's MACs. Each method takes the multiplier whose MACs land closest
  to the size: depth only (repeats per stage), width only (every channel count, rounded to a
  multiple of 8 as `nas.scaling` does), resolution only (the input side, images resampled
  bilinearly), and compound (phi with the grid's coefficients, `nas.scaling.compound_scale`).
  The MACs each network really has are reported.
- Training: `nas.train.train` with the product's recipe, 10 epochs on 10,000 training images,
  seeds 0, 1, 2 (the seed fixes data order and initial weights); scored on the 10,000 official
  test images, which nothing here selects on.
- Tests, per size, compound against each single dimension (6 comparisons): the paired t-test
  over seeds (`scipy.stats.ttest_rel`) and Holm's correction over the 6. "Compound is ahead"
  only when Holm's p < 0.05 with compound the more accurate; else "not distinguishable". With
  3 seeds the test has 2 degrees of freedom: only a large, consistent gap can show.
- Saturation: each method's gain from 2x to 4x (test accuracy, mean over seeds, with a 95%
  t interval over the paired seeds). The paper's claim predicts a smaller gain for the single
  dimensions than for compound.

Every finished run is appended to data/bench/scaling.jsonl first, so a killed bench resumes.
Writes its table and a plot of test accuracy against MACs per method to docs/results.md and
docs/scaling.png.

    python bench/scaling.py [--seeds 3] [--epochs 10] [--subset 12000] [--sizes 2 4]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel
from scipy import stats

import bench.results as results_module
import nas
from bench.checkpoint import Checkpoint
from bench.results import machine, table, write_section
from nas.data import ImageData, load
from nas.flops import complexity
from nas.scaling import compound_scale, scale
from nas.spec import ArchSpec
from nas.strategies.compound import CompoundOptions, grid_points
from nas.train import train
from nas.trial import TrainOptions
from nas.verdict import holm

ROOT = Path(__file__).resolve().parent.parent
BASE = "resnet:r28:c1:n10:relu:stem_c16:basic_r2_c16:basic_r2_s2_c32:basic_r2_s2_c64:head_d0"
METHODS = ("depth", "width", "resolution", "compound")
ALPHA = 0.05
Triple = tuple[float, float, float]


class ScalingRun(BaseModel):
    """One trained network."""

    arm: str
    """``base``, ``grid`` (phase 1 of the coefficients), or ``<method>@<size>x``."""
    seed: int
    spec: str
    macs: int
    params: int
    val_accuracy: float
    test_accuracy: float
    wall_seconds: float
    triple: Triple | None = None


def run_key(run: ScalingRun) -> tuple[str, int, str]:
    return run.arm, run.seed, run.spec


@dataclass
class Runner:
    """Trains (or finds in the checkpoint) one network per call."""

    data: ImageData
    epochs: int
    checkpoint: Checkpoint[ScalingRun]

    def __call__(
        self, arm: str, spec: ArchSpec, seed: int, triple: Triple | None = None
    ) -> ScalingRun:
        found = self.checkpoint.get((arm, seed, spec.to_string()))
        if found is not None:
            return found
        start = time.perf_counter()
        result = train(spec, self.data, self.epochs, TrainOptions(seed=seed, score_test=True))
        run = ScalingRun(
            arm=arm,
            seed=seed,
            spec=spec.to_string(),
            macs=result.macs,
            params=result.params,
            val_accuracy=result.accuracy,
            test_accuracy=result.test_accuracy or math.nan,
            wall_seconds=time.perf_counter() - start,
            triple=triple,
        )
        self.checkpoint.add(run)
        print(
            f"{arm} seed {seed}: {run.macs / 1e6:.1f} MMACs, val {100 * run.val_accuracy:.2f}%, "
            f"test {100 * run.test_accuracy:.2f}% ({run.wall_seconds:.0f} s)",
            flush=True,
        )
        return run


# ---- the networks of each method at a size ---------------------------------------------------


def macs_of(spec: ArchSpec) -> int:
    return _macs(spec.to_string())


@lru_cache(maxsize=4096)
def _macs(spec: str) -> int:
    return complexity(ArchSpec.from_string(spec)).macs


def closest(make: Callable[[int], ArchSpec], count: int, target: float) -> ArchSpec:
    """Of ``make(0) .. make(count - 1)`` (MACs non-decreasing in the index), the one whose MACs
    are closest to ``target`` on a log scale, found by bisection (each look builds a model on
    the meta device)."""
    low, high = 0, count - 1
    while low < high:  # the first index at or above the target
        middle = (low + high) // 2
        if macs_of(make(middle)) < target:
            low = middle + 1
        else:
            high = middle
    near = [make(k) for k in (low - 1, low) if 0 <= k < count]
    return min(near, key=lambda spec: abs(math.log(macs_of(spec) / target)))


def scaled(base: ArchSpec, method: str, size: float, triple: Triple) -> ArchSpec:
    """``base`` scaled by ``method`` to about ``size`` x its MACs."""
    target = size * macs_of(base)
    makers: dict[str, tuple[Callable[[int], ArchSpec], int]] = {
        "depth": (lambda k: scale(base, depth=(k + 2) / 2), 15),  # 2..16 blocks per stage
        "width": (lambda k: scale(base, width=1 + k / 50), 151),  # 1x..4x
        "resolution": (lambda k: base.replace(resolution=28 + k), 85),  # 28..112 px
        "compound": (lambda k: compound_scale(base, k / 50, *triple), 251),  # phi 0..5
    }
    make, count = makers[method]
    return closest(make, count, target)


def pick_triple(runner: Runner, base: ArchSpec) -> Triple:
    """Phase 1 of the compound strategy: its grid at phi = 1, the best on validation."""
    best: tuple[float, Triple] | None = None
    for triple in grid_points(CompoundOptions()):
        run = runner("grid", compound_scale(base, 1, *triple), 0, triple)
        if best is None or run.val_accuracy > best[0]:
            best = (run.val_accuracy, triple)
    assert best is not None  # the default grid has points
    return best[1]


# ---- the tests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    size: float
    method: str
    compound_minus: float
    """mean over seeds of compound's test accuracy minus the method's (points as fractions)"""
    p: float
    p_holm: float

    @property
    def says(self) -> str:
        if self.p_holm < ALPHA:
            return "compound ahead" if self.compound_minus > 0 else f"{self.method} ahead"
        return "not distinguishable"


def compare(
    cells: dict[tuple[str, float], list[ScalingRun]], sizes: Sequence[float]
) -> list[Comparison]:
    """Compound against each single dimension at each size: paired t over seeds, Holm."""
    found = []
    for size in sizes:
        compound = {r.seed: r.test_accuracy for r in cells[("compound", size)]}
        for method in METHODS[:-1]:
            other = {r.seed: r.test_accuracy for r in cells[(method, size)]}
            seeds = sorted(compound.keys() & other.keys())
            a, b = [compound[s] for s in seeds], [other[s] for s in seeds]
            p = float(stats.ttest_rel(a, b).pvalue) if len(seeds) > 1 else 1.0
            found.append(Comparison(size, method, statistics.fmean(a) - statistics.fmean(b), p, p))
    corrected = holm([c.p for c in found])
    return [
        Comparison(c.size, c.method, c.compound_minus, c.p, p)
        for c, p in zip(found, corrected, strict=True)
    ]


def gain_interval(low: list[ScalingRun], high: list[ScalingRun]) -> tuple[float, float, float]:
    """Mean gain in test accuracy from ``low`` to ``high`` over paired seeds, with its 95%
    t interval (``scipy.stats.t``)."""
    by_seed = {r.seed: r.test_accuracy for r in low}
    gains = [r.test_accuracy - by_seed[r.seed] for r in high if r.seed in by_seed]
    mean = statistics.fmean(gains)
    if len(gains) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.975, len(gains) - 1) * statistics.stdev(gains) / math.sqrt(len(gains))
    return mean, mean - half, mean + half


# ---- output ------------------------------------------------------------------------------------


def pct(value: float) -> str:
    return f"{100 * value:.2f}"


def plot(
    cells: dict[tuple[str, float], list[ScalingRun]], base: list[ScalingRun], path: Path
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for method in METHODS:
        points = sorted(
            (
                statistics.fmean(r.macs for r in runs),
                statistics.fmean(r.test_accuracy for r in runs),
            )
            for (m, _), runs in cells.items()
            if m == method
        )
        start = (
            statistics.fmean(r.macs for r in base),
            statistics.fmean(r.test_accuracy for r in base),
        )
        xs, ys = zip(start, *points, strict=False)
        ax.plot([x / 1e6 for x in xs], [100 * y for y in ys], marker="o", label=method)
    ax.set_xscale("log")
    ax.set_xlabel("MMACs per image")
    ax.set_ylabel("test accuracy % (mean of seeds)")
    ax.set_title("scaling one dimension against compound scaling")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def report(
    base: list[ScalingRun],
    cells: dict[tuple[str, float], list[ScalingRun]],
    sizes: Sequence[float],
    triple: Triple,
    args: argparse.Namespace,
    data: ImageData,
) -> str:
    rows = [["base", "1x", f"{base[0].macs / 1e6:.1f}", f"{base[0].params:,}",
             pct(statistics.fmean(r.test_accuracy for r in base)),
             pct(statistics.stdev(r.test_accuracy for r in base)) if len(base) > 1 else "-",
             base[0].spec]]  # fmt: skip
    for size in sizes:
        for method in METHODS:
            runs = cells[(method, size)]
            scores = [r.test_accuracy for r in runs]
            rows.append(
                [
                    method,
                    f"{size:g}x",
                    f"{runs[0].macs / 1e6:.1f} ({runs[0].macs / base[0].macs:.2f}x)",
                    f"{runs[0].params:,}",
                    pct(statistics.fmean(scores)),
                    pct(statistics.stdev(scores)) if len(scores) > 1 else "-",
                    runs[0].spec,
                ]
            )
    comparisons = compare(cells, sizes)
    tests = [
        [
            f"{c.size:g}x",
            c.method,
            f"{100 * c.compound_minus:+.2f}",
            f"{c.p:.3g}",
            f"{c.p_holm:.3g}",
            c.says,
        ]
        for c in comparisons
    ]
    gains = []
    if len(sizes) >= 2:
        low, high = sizes[0], sizes[-1]
        for method in METHODS:
            mean, lo, hi = gain_interval(cells[(method, low)], cells[(method, high)])
            gains.append([method, f"{100 * mean:+.2f}", f"{100 * lo:+.2f} to {100 * hi:+.2f}"])
    alpha, beta, gamma = triple
    n_test = 0 if data.test_y is None else len(data.test_y)
    return "\n\n".join(
        [
            "## Compound scaling against one dimension at equal MACs (`bench/scaling.py`)",
            f"Machine: {machine()}. {args.epochs} epochs on {data.num_train:,} Fashion-MNIST "
            f"training images ({data.num_val:,} validation), seeds 0-{args.seeds - 1}, test "
            f"accuracy on the {n_test:,} official test images. Coefficients from "
            f"the compound strategy's grid at phi = 1 (best on validation): alpha {alpha:g}, "
            f"beta {beta:g}, gamma {gamma:g}. Test stated before the runs: per size, compound "
            "against each single dimension, paired t over seeds, Holm over the comparisons.",
            table(["method", "size", "MMACs", "params", "test acc %", "SD", "architecture"], rows),
            table(
                [
                    "size",
                    "compound vs",
                    "compound minus it, points",
                    "p (paired t)",
                    "Holm p",
                    "says",
                ],
                tests,
            ),
            "Gain from the smallest to the largest size (test accuracy, paired seeds, 95% t "
            "interval):\n\n" + table(["method", "gain, points", "95% interval"], gains)
            if gains
            else "",
            "![test accuracy against MACs per scaling method](scaling.png)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--subset", type=int, default=12000)
    parser.add_argument("--sizes", type=float, nargs="+", default=[2.0, 4.0])
    parser.add_argument(
        "--checkpoint", type=Path, default=ROOT / "data" / "bench" / "scaling.jsonl"
    )
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "scaling.png")
    args = parser.parse_args()
    results_module.RESULTS = args.results
    data = load("fashion-mnist", subset=args.subset, val_fraction=1 / 6, seed=0)
    header = {
        "base": BASE,
        "epochs": args.epochs,
        "subset": args.subset,
        "version": nas.__version__,
    }
    checkpoint = Checkpoint(args.checkpoint, header, ScalingRun, run_key)
    print(f"checkpoint {args.checkpoint}: {len(checkpoint)} runs done before", flush=True)
    runner = Runner(data, args.epochs, checkpoint)
    base_spec = ArchSpec.from_string(BASE)
    triple = pick_triple(runner, base_spec)
    print(f"coefficients (best on validation at phi = 1): {triple}", flush=True)
    seeds = range(args.seeds)
    base = [runner("base", base_spec, s) for s in seeds]
    cells: dict[tuple[str, float], list[ScalingRun]] = {}
    for size in args.sizes:
        for method in METHODS:
            spec = scaled(base_spec, method, size, triple)
            cells[(method, size)] = [runner(f"{method}@{size:g}x", spec, s, triple) for s in seeds]
    plot(cells, base, args.plot)
    write_section("scaling", report(base, cells, args.sizes, triple, args, data))
    print(f"wrote {args.results} and {args.plot}", flush=True)


if __name__ == "__main__":
    main()
