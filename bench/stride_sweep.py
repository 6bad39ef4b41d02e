"""How DiffStride's strides should be optimised: a sweep on real Fashion-MNIST.

Every arm trains the same network (`resnet_narrow_fmnist`, stage 0 at stride 1, stages 1..3
DiffStride) from several stride initialisations with `nas.train.train`, changing only how the
strides are optimised (their own parameter group: optimizer, learning rate, schedule) or the
layer (ramp placement and smoothness R). Per arm: validation accuracy (the selection metric:
mean over inits), its min-max over inits, test accuracy on the 10,000 official test images
(reported, not used to choose), MMACs at the learned strides, and how far the strides moved.

    python bench/stride_sweep.py [--part optimizer|short|layer|lambda] [--subset 6000] [--epochs 10]
                                 [--inits 2,2,2 1,3,1 3,1,3] [--stride-optimizer adam]
                                 [--stride-lr 0.03] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, table, write_section
from bench.robustness import Init, fmt_stride, parse_init, variant
from nas.data import load
from nas.train import train
from nas.trial import TrainOptions, TrialResult

INITS: list[Init] = [(2, 2, 2), (1, 3, 1), (3, 1, 3)]
INSIDE_AUTO: dict[str, str | float] = {"ramp": "inside", "smoothness": "auto"}


@dataclass(frozen=True)
class Arm:
    """One way of training the strides: the layer's extras and the stride options."""

    label: str
    layer: dict[str, str | float] = field(default_factory=lambda: dict(INSIDE_AUTO))
    options: dict[str, Any] = field(default_factory=dict)


def optimizer_arms() -> list[Arm]:
    """The strides' optimizer, learning rate and schedule, on the inside/auto layer."""
    return [
        Arm(
            "SGD, the weights' lr (x1; before)",
            options={"stride_optimizer": "sgd", "stride_lr_scale": 1},
        ),
        Arm("SGD, x30 the weights' lr", options={"stride_optimizer": "sgd", "stride_lr_scale": 30}),
        Arm(
            "SGD, x100 the weights' lr", options={"stride_optimizer": "sgd", "stride_lr_scale": 100}
        ),
        Arm("Adam 0.01, cosine", options={"stride_optimizer": "adam", "stride_lr": 0.01}),
        Arm("Adam 0.03, cosine", options={"stride_optimizer": "adam", "stride_lr": 0.03}),
        Arm("Adam 0.1, cosine", options={"stride_optimizer": "adam", "stride_lr": 0.1}),
        Arm(
            "Adam 0.03, constant",
            options={"stride_optimizer": "adam", "stride_lr": 0.03, "stride_schedule": "constant"},
        ),
    ]


def short_arms() -> list[Arm]:
    """Adam's learning rate at a short budget (run with --subset 3600 --epochs 2)."""
    return [
        Arm(f"Adam {lr:g}, cosine", options={"stride_optimizer": "adam", "stride_lr": lr})
        for lr in (0.03, 0.1, 0.3)
    ]


def layer_arms(options: dict[str, Any]) -> list[Arm]:
    """Ramp placement and smoothness, with the chosen stride optimizer."""
    return [
        Arm("ramp inside, R auto", {"ramp": "inside", "smoothness": "auto"}, options),
        Arm("ramp inside, R = 1", {"ramp": "inside", "smoothness": 1.0}, options),
        Arm("ramp outside, R auto", {"ramp": "outside", "smoothness": "auto"}, options),
    ]  # the paper's R = 4 outside: bench/robustness.py


LAMBDAS = (0.0, 0.1, 1.0, 10.0)


def lambda_arms(options: dict[str, Any]) -> list[Arm]:
    """The complexity weight, with the chosen stride optimizer: accuracy against MACs."""
    return [
        Arm(f"lambda = {weight:g}", dict(INSIDE_AUTO), {**options, "stride_regularizer": weight})
        for weight in LAMBDAS
    ]


def recipe() -> str:
    """The weights' training recipe (``TrainOptions``' defaults), in words."""
    o = TrainOptions()
    return (
        f"SGD (Nesterov {o.momentum:g}, lr {o.learning_rate:g}, {o.schedule}, weight decay "
        f"{o.weight_decay:g}), batch {o.batch_size}, label smoothing {o.label_smoothing:g}, "
        f"{o.crop_padding} px random crops padded with the background, flips"
    )


def moved(result: TrialResult, init: Init) -> float:
    """Mean absolute change of the stage strides (both axes) from their init."""
    changes = []
    for value, start in zip(result.learned_strides[1:], init, strict=True):
        if value is not None:
            changes += [abs(value[0] - start), abs(value[1] - start)]
    return statistics.fmean(changes) if changes else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--part", choices=["optimizer", "short", "layer", "lambda"], default="optimizer"
    )
    parser.add_argument("--subset", type=int, default=6000, help="training images before the split")
    parser.add_argument("--val-fraction", type=float, default=1 / 6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--inits", type=parse_init, nargs="+", default=INITS)
    defaults = TrainOptions()
    parser.add_argument(
        "--stride-optimizer",
        default=defaults.stride_optimizer,
        help="--part layer/lambda: the strides' optimizer (default: the product's)",
    )
    parser.add_argument(
        "--stride-lr",
        type=float,
        default=defaults.stride_lr,
        help="--part layer/lambda: its lr (default: the product's)",
    )
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    args = parser.parse_args()

    data = load("fashion-mnist", subset=args.subset, val_fraction=args.val_fraction, seed=0)
    print(f"data: {data.num_train} train, {data.num_val} val, {data.num_test} test", flush=True)
    chosen = {"stride_optimizer": args.stride_optimizer, "stride_lr": args.stride_lr}
    arms = {
        "optimizer": optimizer_arms,
        "short": short_arms,
        "layer": lambda: layer_arms(chosen),
        "lambda": lambda: lambda_arms(chosen),
    }[args.part]()
    rows: list[list[str]] = []
    start_all = time.perf_counter()
    for arm in arms:
        results: list[tuple[Init, TrialResult]] = []
        for init in args.inits:
            spec = variant("diffstride", init, arm.layer)
            options = TrainOptions(seed=args.seed, score_test=True, **arm.options)
            result = train(spec, data, args.epochs, options)
            results.append((init, result))
            print(
                f"{arm.label} {init}: val {result.accuracy:.4f} test {result.test_accuracy:.4f} "
                f"{result.macs / 1e6:.1f} MMACs {result.wall_seconds:.0f} s strides "
                f"{[fmt_stride(s) for s in result.learned_strides[1:] if s]}",
                flush=True,
            )
        vals = [100 * r.accuracy for _, r in results]
        tests = [100 * (r.test_accuracy or 0.0) for _, r in results]
        learned = "; ".join(
            f"{init}: ({', '.join(fmt_stride(s) for s in r.learned_strides[1:] if s)})"
            for init, r in results
        )
        rows.append(
            [
                arm.label,
                f"{statistics.fmean(vals):.2f}",
                f"{min(vals):.2f}-{max(vals):.2f}",
                f"{statistics.fmean(tests):.2f}",
                f"{statistics.fmean(r.macs for _, r in results) / 1e6:.1f}",
                f"{statistics.fmean(moved(r, init) for init, r in results):.2f}",
                f"{statistics.fmean(r.wall_seconds for _, r in results):.0f}",
                learned,
            ]
        )
    total = time.perf_counter() - start_all
    body = table(
        [
            "arm",
            "val acc % (mean over inits)",
            "min-max over inits",
            "test acc % (mean)",
            "MMACs / image",
            "mean |stride - init|",
            "s / run",
            "learned strides of stages 1..3 per init",
        ],
        rows,
    )
    strides = f"strides: {args.stride_optimizer}, lr {args.stride_lr:g}, cosine"
    what = {
        "optimizer": "the strides' optimizer, learning rate and schedule (ramp inside, R auto)",
        "short": "Adam's learning rate for the strides at a short budget (ramp inside, R auto)",
        "layer": f"the layer ({strides})",
        "lambda": f"the complexity weight lambda, accuracy against MACs ({strides})",
    }[args.part]
    results_module.RESULTS = Path(args.results)
    write_section(
        f"stride-sweep-{args.part}",
        f"""## DiffStride's defaults: {what} (`bench/stride_sweep.py --part {args.part}`)

Machine: {machine()}.

`resnet_narrow_fmnist` with stages 1..3 as DiffStride from the inits
{", ".join(str(i) for i in args.inits)}; real Fashion-MNIST, subset of {args.subset:,} images
({data.num_train:,} training, {data.num_val:,} validation), {args.epochs} epochs, seed {args.seed},
weights: {recipe()}.
Selection metric: validation accuracy, mean over inits. Test accuracy on the
{data.num_test:,} official test images is reported only. One seed per cell: the standard error of
one validation accuracy here is about {100 * (0.85 * 0.15 / data.num_val) ** 0.5:.1f} points.
Total wall time {total:.0f} s.

{body}
""",
    )
    print(f"wrote section 'stride-sweep-{args.part}' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
