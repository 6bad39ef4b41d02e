"""Robustness to the stride initialisation (the DiffStride paper's experiment) on Fashion-MNIST.

The same small-image ResNet (`resnet_narrow_fmnist`, quarter-width ResNet-18, 28x28x1; stage 0
keeps stride 1, stages 1..3 downsample), started from the standard stride init and poor ones,
with these downsampling arms: strided convolution, fixed spectral pooling, DiffStride with the
product's defaults (ramp inside, R auto, strides on their own optimizer), the same DiffStride
*frozen* (the same layer, its strides held at their init: the operator without the learning),
and, with ``--paper-inits``, the paper's DiffStride (R = 4, ramp outside; about 7x a strided
step). Every cell trains over several seeds with `nas.train.train` and is scored on the
official test split (selection never looks at it).

The tests, stated before the runs of issue 26 (the runs before it predate the engine's fixes
of 2026-12-07 and are not mixed in: the checkpoint's header names the engine):

- Design: the 3 inits (2, 2, 2), (1, 3, 1), (3, 1, 3) x 6 seeds (0-5), 10 epochs, 5,000
  training images, test accuracy on the 10,000 official test images.
- Pairs: the 18 (init, seed) pairs; an arm's run and another's with the same init and seed
  form a pair (the seed fixes data order and initial weights).
- Comparisons (``PREREGISTERED``): DiffStride learned against DiffStride frozen (is it the
  learning?), against spectral pooling (is it more than a fixed spectral crop?) and against
  strided convolution (the paper's claim).
- Tests: the paired t-test and the Wilcoxon signed-rank test (``scipy.stats``) on each
  difference, Holm's correction over the 3 comparisons for each test. A difference is
  claimed only when both corrected p are below 0.05; otherwise "not distinguishable". The
  conclusion is what the runs show, either way.

Then the two readouts of DiffStride: (a) the trained DiffStride network itself and (b) the
fixed-stride architecture its strides round to, retrained from scratch, rounded two ways: the
stride parameter S, and the downsampling the layer applied (input / output size). The rounding
that scores higher on *validation* is the product's choice.

    python bench/robustness.py [--seeds 2] [--subset 6000] [--epochs 10]
                               [--inits 2,2,2 1,3,1 3,1,3] [--paper-inits 2,2,2 3,1,3]
                               [--no-retrain] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pydantic import BaseModel

import bench.results as results_module
import nas
from bench.checkpoint import Checkpoint
from bench.paired import Paired, holm_corrected, paired
from bench.results import machine, table, write_section
from nas.data import ImageData, load
from nas.errors import SpecError
from nas.models import preset
from nas.readout import StrideReadout
from nas.spec import ArchSpec
from nas.strategies.diffstride import round_stride
from nas.train import train
from nas.trial import TrainOptions, TrialResult


def recipe() -> str:
    """The weights' training recipe (``TrainOptions``' defaults), in words."""
    o = TrainOptions()
    return (
        f"SGD (Nesterov {o.momentum:g}, lr {o.learning_rate:g}, {o.schedule}, weight decay "
        f"{o.weight_decay:g}), batch {o.batch_size}, label smoothing {o.label_smoothing:g}, "
        f"{o.crop_padding} px random crops padded with the background, flips; strides: "
        f"{o.stride_optimizer}, lr {o.stride_lr:g}, {o.stride_schedule}"
    )


Init = tuple[float, float, float]
INITS: list[Init] = [(2, 2, 2), (1, 3, 1), (3, 1, 3)]
PAPER_INITS: list[Init] = [(2, 2, 2), (3, 1, 3)]
CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "bench" / "robustness.jsonl"
DEFAULT_LAYER: dict[str, str | float] = {"ramp": "inside", "smoothness": "auto"}
PAPER_LAYER: dict[str, str | float] = {"ramp": "outside", "smoothness": 4.0}


@dataclass(frozen=True)
class Arm:
    key: str
    label: str
    kind: str
    layer: dict[str, str | float] | None = None


ARMS = [
    Arm("strided", "strided convolution", "strided"),
    Arm("spectral", "spectral pooling", "spectral"),
    Arm("diffstride", "DiffStride (defaults)", "diffstride", DEFAULT_LAYER),
    Arm("frozen", "DiffStride frozen at its init", "diffstride", {**DEFAULT_LAYER, "frozen": 1}),
    Arm("paper", "DiffStride (paper: R = 4, ramp outside)", "diffstride", PAPER_LAYER),
]
PREREGISTERED = [("diffstride", "frozen"), ("diffstride", "spectral"), ("diffstride", "strided")]
"""The comparisons stated before the runs (module docstring), Holm-corrected together."""
ENGINE = "2026-12-07"
"""The engine the runs are made with (its fixes of that day: channels-last batches, PyTorch's
default classifier init): a checkpoint made before it is refused rather than mixed in."""


def parse_init(text: str) -> Init:
    parts = [float(p) for p in text.replace("(", "").replace(")", "").split(",")]
    if len(parts) != 3 or any(p < 1 for p in parts):
        raise argparse.ArgumentTypeError(f"an init is three strides >= 1 like 2,2,3; got {text!r}")
    return parts[0], parts[1], parts[2]


def fmt_init(init: Init) -> str:
    return "(" + ", ".join(f"{v:g}" for v in init) + ")"


def variant(
    kind: str, init: Init | tuple[int, int, int], layer: dict[str, str | float] | None = None
) -> ArchSpec:
    """The base with stage 0 at stride 1 and stages 1..3 at ``init``, downsampling by ``kind``;
    ``layer`` holds DiffStride's extras (``smoothness``, ``ramp``).

    Raises ``SpecError`` when the combination is impossible (e.g. maps too small).
    """
    base = preset("resnet_narrow_fmnist")
    strides = (1, *init)
    if len(base.stages) != len(strides):
        raise SpecError(f"expected a 4-stage base, got {len(base.stages)} stages")
    staged = []
    for i, (stage, stride) in enumerate(zip(base.stages, strides, strict=True)):
        update: dict[str, object] = {"stride": (float(stride), float(stride))}
        if i > 0:
            extras = {k: v for k, v in stage.extras.items() if k not in ("smoothness", "ramp")}
            if kind == "diffstride":
                extras.update(layer or {})
            update.update(downsample=kind, extras=extras)
        staged.append({**stage.model_dump(), **update})
    return base.replace(stages=staged)


def fmt_stride(value: tuple[float, float]) -> str:
    h, w = value
    return f"{h:.2f}" if round(h, 2) == round(w, 2) else f"{h:.2f}x{w:.2f}"


def rounded(readouts: list[StrideReadout | None], by: str) -> tuple[int, int, int]:
    """Stages 1..3 rounded to integers (both axes must agree; else the larger), by S or by
    the applied downsampling."""
    out = []
    for readout in readouts[1:]:
        if readout is None:
            raise ValueError("a DiffStride stage without a readout")
        h, w = readout.learned if by == "stride" else readout.applied
        out.append(max(round_stride(h), round_stride(w)))
    return out[0], out[1], out[2]


def pct(values: list[float]) -> str:
    return f"{100 * statistics.fmean(values):.2f}"


def spread(values: list[float]) -> str:
    return f"{100 * min(values):.2f}-{100 * max(values):.2f}" if len(values) > 1 else "-"


class CellRun(BaseModel):
    """One finished training run: the architecture, its seed and what it scored."""

    spec: str
    seed: int
    result: TrialResult
    machine: str = ""


def cell_key(run: CellRun) -> tuple[str, int]:
    return run.spec, run.seed


class Runner:
    """Trains each (spec, seed) once: a retrain that lands on a cell already trained reuses it,
    and so does a rerun of the bench, from the checkpoint (``--checkpoint``)."""

    def __init__(self, data: ImageData, epochs: int, checkpoint: Checkpoint[CellRun]) -> None:
        self.data, self.epochs, self.checkpoint = data, epochs, checkpoint
        self.used: dict[tuple[str, int], CellRun] = {}

    def __call__(self, spec: ArchSpec, seed: int, name: str) -> TrialResult:
        done = self.checkpoint.get((spec.to_string(), seed))
        if done is not None:
            self.used[cell_key(done)] = done
            return done.result
        result = train(spec, self.data, self.epochs, TrainOptions(seed=seed, score_test=True))
        finished = CellRun(spec=spec.to_string(), seed=seed, result=result, machine=machine())
        self.checkpoint.add(finished)
        self.used[cell_key(finished)] = finished
        learned = [fmt_stride(s) for s in result.learned_strides if s]
        print(
            f"{name} seed {seed}: val {result.accuracy:.4f} test {result.test_accuracy:.4f} "
            f"{result.macs / 1e6:.1f} MMACs {result.wall_seconds:.0f} s"
            + (f" strides {learned}" if learned else ""),
            flush=True,
        )
        return result


def status_summary(results: list[TrialResult]) -> str:
    """How many stage strides (both axes of stages 1..3, over seeds) learned."""
    axes = [s for r in results for ro in r.stride_readout if ro is not None for s in ro.status()]
    learned = sum(s.startswith("learned") for s in axes)
    held = sum(s.startswith("held") for s in axes)
    return f"{learned}/{len(axes)} learned" + (f", {held} held at a bound" if held else "")


Retrain = tuple[str, float, float]  # (spec, val acc, test acc) of a readout (b) retrain


def rounding_verdict(runs: list[dict[str, Retrain]]) -> str:
    """Which rounding to default to, judged on validation over the DiffStride runs where both
    rules give a trainable architecture and the two differ (paired: same run, same seed)."""
    both = [r for r in runs if "stride" in r and "applied" in r]
    pairs = [
        (r["stride"][1] - r["applied"][1], r["stride"][2] - r["applied"][2])
        for r in both
        if r["stride"][0] != r["applied"][0]
    ]
    total = len(both)
    untrainable = {rule: sum(rule not in r for r in runs) for rule in ("stride", "applied")}
    lost = (
        f"Rounding gave no trainable architecture (the map would shrink below a pixel) in "
        f"{untrainable['stride']} of {len(runs)} runs by S and {untrainable['applied']} by "
        "applied. "
    )
    if not pairs:
        return lost + (
            f"In all {total} runs where both rules give a trainable architecture they give the "
            "same one, so the choice changes nothing here; the default stays S (the learned "
            "parameter itself)."
        )
    val = [v for v, _ in pairs]
    mean = statistics.fmean(val)
    se = statistics.stdev(val) / math.sqrt(len(val)) if len(val) > 1 else float("inf")
    test = statistics.fmean(t for _, t in pairs)
    se_text = f"standard error {100 * se:.2f}" if math.isfinite(se) else "one run: no error"
    head = lost + (
        f"Of the {total} runs where both rules give a trainable architecture, they differ in "
        f"{len(pairs)}; there, "
        f"S minus applied is {100 * mean:+.2f} points of validation accuracy ({se_text}; test "
        f"{100 * test:+.2f})."
    )
    if abs(mean) <= 2 * se:
        return head + " Not distinguishable: the default stays S (the learned parameter)."
    choice = "S" if mean > 0 else "applied"
    return head + f" Chosen on validation: **{choice}**."


def readouts(
    run: Runner,
    cells: dict[tuple[str, Init], list[TrialResult]],
    inits: list[Init],
    seeds: list[int],
) -> str:
    """Readout (b): retrain the strided architecture each DiffStride run rounds to, both ways;
    the section's text on the two readouts and the rounding chosen on validation."""
    readout_rows = []
    by_run: list[dict[str, Retrain]] = []
    for init in inits:
        for seed, searched in zip(seeds, cells["diffstride", init], strict=True):
            row = [fmt_init(init), str(seed), f"{100 * (searched.test_accuracy or 0):.2f}"]
            row.append(f"{searched.macs / 1e6:.1f}")
            retrains: dict[str, Retrain] = {}
            by_run.append(retrains)
            for rule in ("stride", "applied"):
                strides = rounded(searched.stride_readout, rule)
                try:
                    spec = variant("strided", strides)
                except SpecError as exc:
                    row += [str(strides), f"n/a: {exc}", "-"]
                    continue
                same = " = strided init" if tuple(strides) == tuple(init) else ""
                result = run(spec, seed, f"retrain by {rule} {strides}")
                retrains[rule] = (spec.to_string(), result.accuracy, result.test_accuracy or 0.0)
                row += [
                    f"{strides}{same}",
                    f"{100 * (result.test_accuracy or 0):.2f}",
                    f"{result.macs / 1e6:.1f}",
                ]
            readout_rows.append(row)
    readout_table = table(
        [
            "init",
            "seed",
            "(a) DiffStride network: test acc %",
            "(a) MMACs",
            "(b) rounded by S",
            "test acc %",
            "MMACs",
            "(b) rounded by applied",
            "test acc %",
            "MMACs",
        ],
        readout_rows,
    )
    verdict = rounding_verdict(by_run)
    return f"""### The two readouts, and how to round

(a) is the DiffStride network as trained; (b) retrains the fixed-stride (strided convolution)
architecture its learned strides round to, same seed and epochs (stages rounded to one
integer each: the larger axis when they disagree). Rounding by S rounds the stride parameter;
by applied rounds input size / output size of the layer. {verdict} "= strided init" marks a
retrain that is the strided arm's own cell (the strides rounded back to their init): the same
run, not a second result.

{readout_table}
"""


def preregistered(cells: Mapping[tuple[str, Init], Mapping[int, float]]) -> list[Paired]:
    """The ``PREREGISTERED`` comparisons of test accuracy (``cells``: per arm and init, by
    seed) over the (init, seed) pairs both arms ran, Holm-corrected together; a comparison
    with fewer than two pairs is left out (``missing`` names it)."""
    labels = {arm.key: arm.label for arm in ARMS}
    found = []
    for a, b in PREREGISTERED:
        pairs = [
            (mine[seed], cells[b, init][seed])
            for (key, init), mine in cells.items()
            if key == a and (b, init) in cells
            for seed in sorted(mine.keys() & cells[b, init].keys())
        ]
        if len(pairs) > 1:
            x, y = zip(*pairs, strict=True)
            found.append(paired(labels[a], labels[b], "(init, seed) pairs", x, y))
    return holm_corrected(found)


def missing(cells: Mapping[tuple[str, Init], object]) -> list[str]:
    """The ``PREREGISTERED`` comparisons ``cells`` cannot make yet (an arm not run)."""
    labels = {arm.key: arm.label for arm in ARMS}
    arms = {key for key, _ in cells}
    return [f"{labels[a]} against {labels[b]}" for a, b in PREREGISTERED if not {a, b} <= arms]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=6, help="training seeds per arm x init")
    parser.add_argument("--subset", type=int, default=6000, help="images before the split")
    parser.add_argument("--val-fraction", type=float, default=1 / 6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--inits", type=parse_init, nargs="+", default=INITS)
    parser.add_argument(
        "--paper-inits",
        type=parse_init,
        nargs="*",
        default=[],
        help=f"inits for the paper's layer (about 7x a strided step), e.g. {PAPER_INITS}",
    )
    parser.add_argument("--no-retrain", action="store_true", help="skip the readout (b) part")
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=CHECKPOINT,
        help="finished runs, reused by a rerun with the same settings (delete it to retrain)",
    )
    args = parser.parse_args()

    data = load("fashion-mnist", subset=args.subset, val_fraction=args.val_fraction, seed=0)
    print(f"data: {data.num_train} train, {data.num_val} val, {data.num_test} test", flush=True)
    header = {
        "subset": args.subset,
        "val_fraction": args.val_fraction,
        "epochs": args.epochs,
        "train": TrainOptions().model_dump(mode="json", exclude={"seed"}),
        "version": nas.__version__,
        "engine": ENGINE,
    }
    checkpoint = Checkpoint(args.checkpoint, header, CellRun, cell_key)
    print(f"checkpoint {args.checkpoint}: {len(checkpoint)} runs done before", flush=True)
    run = Runner(data, args.epochs, checkpoint)
    seeds = list(range(args.seeds))
    start_all = time.perf_counter()

    # The costly paper arm (about 7x a strided step) trains last, after the retrains, so a
    # bench cut short by the end of a sitting has the rest.
    cells: dict[tuple[str, Init], list[TrialResult]] = {}
    for arm in [a for a in ARMS if a.key != "paper"]:
        for init in args.inits:
            spec = variant(arm.kind, init, arm.layer)
            cells[arm.key, init] = [
                run(spec, seed, f"{arm.label} {fmt_init(init)}") for seed in seeds
            ]
    readout_text = "" if args.no_retrain else readouts(run, cells, args.inits, seeds)
    paper = next(a for a in ARMS if a.key == "paper")
    for init in args.paper_inits:
        spec = variant(paper.kind, init, paper.layer)
        cells[paper.key, init] = [
            run(spec, seed, f"{paper.label} {fmt_init(init)}") for seed in seeds
        ]

    rows = []
    for (key, init), results in cells.items():
        arm = next(a for a in ARMS if a.key == key)
        learned = "-"
        if arm.kind == "diffstride":
            per_stage = []
            for stage in range(1, 4):
                values = [r.learned_strides[stage] for r in results]
                h = statistics.fmean(v[0] for v in values if v is not None)
                w = statistics.fmean(v[1] for v in values if v is not None)
                per_stage.append(fmt_stride((h, w)))
            learned = "(" + ", ".join(per_stage) + "); " + status_summary(results)
        tests = [r.test_accuracy or 0.0 for r in results]
        rows.append(
            [
                arm.label,
                fmt_init(init),
                pct(tests),
                spread(tests),
                pct([r.accuracy for r in results]),
                f"{statistics.fmean(r.macs for r in results) / 1e6:.1f}",
                learned,
            ]
        )
    cell_table = table(
        [
            "method",
            "init (stages 1..3)",
            "test acc % (mean over seeds)",
            "min-max over seeds",
            "val acc %",
            "MMACs / image",
            "learned strides (mean over seeds); how many learned",
        ],
        rows,
    )

    # Per arm: the mean over inits, the spread across inits, the seed noise.
    summary_rows = []
    for arm in ARMS:
        init_means = [
            statistics.fmean(r.test_accuracy or 0.0 for r in results)
            for (key, _), results in cells.items()
            if key == arm.key
        ]
        seed_vars = [
            statistics.variance([r.test_accuracy or 0.0 for r in results])
            for (key, _), results in cells.items()
            if key == arm.key and len(results) > 1
        ]
        if not init_means:
            continue
        seed_sd = math.sqrt(statistics.fmean(seed_vars)) if seed_vars else float("nan")
        mean = statistics.fmean(init_means)
        across = max(init_means) - min(init_means)
        summary_rows.append(
            [
                arm.label,
                str(len(init_means)),
                f"{100 * mean:.2f}",
                f"{100 * across:.2f}",
                f"{100 * seed_sd:.2f}",
            ]
        )
    summary_table = table(
        [
            "method",
            "inits",
            "test acc % (mean over inits)",
            "spread across inits (max - min of the init means), points",
            "seed noise (pooled SD over seeds), points",
        ],
        summary_rows,
    )

    by_seed = {
        cell: {seed: r.test_accuracy or 0.0 for seed, r in zip(seeds, runs, strict=True)}
        for cell, runs in cells.items()
    }
    tested = preregistered(by_seed)
    verdict = (
        "**The tests stated before the runs** (paired over the (init, seed) pairs; paired t and "
        "Wilcoxon signed-rank, Holm-corrected over the comparisons; a difference only when both "
        "say so):\n\n" + "\n".join(f"- {c.text()}." for c in tested)
        if tested
        else ""
    )

    print(f"this sitting {time.perf_counter() - start_all:.0f} s", flush=True)
    total = sum(r.result.wall_seconds for r in run.used.values())
    machines = sorted({r.machine for r in run.used.values() if r.machine} or {machine()})
    results_module.RESULTS = Path(args.results)
    write_section(
        "robustness",
        f"""## Robustness to the stride initialisation (`bench/robustness.py`)

Machine{"s" if len(machines) > 1 else ""}: {"; ".join(machines)}.

The DiffStride paper's experiment on Fashion-MNIST: `resnet_narrow_fmnist` (quarter-width
ResNet-18, 28x28x1) with stage 0 at stride 1 and stages 1..3 started from each init,
downsampling by strided convolution, fixed spectral pooling (the reference's size rule),
DiffStride with the product's defaults (ramp inside, R auto; strides on Adam, see the
stride-sweep sections) and the paper's DiffStride (R = 4, ramp outside, same stride
optimizer). Data: subset of {args.subset:,} images ({data.num_train:,} training,
{data.num_val:,} validation); {args.epochs} epochs; {args.seeds} seeds per cell; weights:
{recipe()}. Accuracy: **test** accuracy on the {data.num_test:,} official test images
after the last epoch (validation shown for reference; nothing here selects on test). MMACs are
per image at the final strides. A stride counts as learned when it moved 0.05 or more from
where it started (`nas.readout`). Wall time of all runs together {total:.0f} s (the cost
of reproducing this section, not a speed figure: other work may have shared the machine;
`bench/layers.py` measures speed). The runs are kept in `{args.checkpoint.name}`, so a rerun
with the same settings rebuilds these tables without training.

{cell_table}

{summary_table}

{verdict}

{readout_text}
""",
    )
    print(f"wrote section 'robustness' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
