"""Robustness to the stride initialisation (the DiffStride paper's experiment) on Fashion-MNIST.

The same small-image ResNet (`resnet_narrow_fmnist`, quarter-width ResNet-18, 28x28x1; stage 0
keeps stride 1, stages 1..3 downsample) with three downsampling kinds: strided convolution,
spectral pooling and DiffStride (learned strides, smoothness R). Each starts from the paper's six
stride initialisations of stages 1..3 and is trained over several seeds with `nas.train.train`
(SGD, batch 128). Per method x init: validation accuracy (mean and min-max over seeds), MMACs
per image at the final strides, and for DiffStride the learned strides.

    python bench/robustness.py [--seeds 2] [--subset 10000] [--epochs 3] [--smoothness 4]
                               [--inits 2,2,2 3,1,3] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, table, write_section
from nas.data import load
from nas.errors import SpecError
from nas.models import preset
from nas.spec import ArchSpec
from nas.train import train
from nas.trial import TrainOptions, TrialResult

INITS: list[tuple[int, int, int]] = [
    (2, 2, 2),
    (2, 2, 3),
    (1, 3, 1),
    (3, 1, 3),
    (3, 1, 2),
    (3, 2, 3),
]
METHODS: list[tuple[str, str]] = [
    ("strided", "strided convolution"),
    ("spectral", "spectral pooling"),
    ("diffstride", "DiffStride"),
]


def parse_init(text: str) -> tuple[int, int, int]:
    parts = [int(p) for p in text.replace("(", "").replace(")", "").split(",")]
    if len(parts) != 3 or any(p < 1 for p in parts):
        raise argparse.ArgumentTypeError(f"an init is three strides >= 1 like 2,2,3; got {text!r}")
    return parts[0], parts[1], parts[2]


def variant(kind: str, init: tuple[int, int, int], smoothness: float) -> ArchSpec:
    """The base with stage 0 at stride 1 and stages 1..3 at ``init``, downsampling by ``kind``.

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
            extras = {k: v for k, v in stage.extras.items() if k != "smoothness"}
            if kind == "diffstride":
                extras["smoothness"] = smoothness
            update.update(downsample=kind, extras=extras)
        staged.append({**stage.model_dump(), **update})
    return base.replace(stages=staged)


def fmt_stride(value: tuple[float, float]) -> str:
    h, w = value
    return f"{h:.2f}" if round(h, 2) == round(w, 2) else f"{h:.2f}x{w:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per method x init")
    parser.add_argument("--subset", type=int, default=10000, help="training images (then 10%% val)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--smoothness", type=float, default=4.0, help="R of DiffStride")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument(
        "--inits", type=parse_init, nargs="+", default=INITS, help="stride inits of stages 1..3"
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=[m for m, _ in METHODS],
        default=[m for m, _ in METHODS],
    )
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    args = parser.parse_args()

    data = load("fashion-mnist", subset=args.subset, seed=0)
    print(f"data: {data.num_train} train, {data.num_val} val images", flush=True)
    rows: list[list[str]] = []
    start_all = time.perf_counter()
    for kind, label in [m for m in METHODS if m[0] in args.methods]:
        for init in args.inits:
            name = f"{label} {init}"
            try:
                spec = variant(kind, init, args.smoothness)
            except SpecError as exc:
                print(f"{name}: n/a ({exc})", flush=True)
                rows.append([label, str(init), "n/a", "-", "-", f"n/a: {exc}"])
                continue
            results: list[TrialResult] = []
            failure = ""
            for seed in range(args.seeds):
                options = TrainOptions(batch_size=args.batch, seed=seed)
                try:
                    result = train(spec, data, args.epochs, options)
                except SpecError as exc:  # maps too small once built/trained
                    failure = str(exc)
                    break
                results.append(result)
                print(
                    f"{name} seed {seed}: acc {result.accuracy:.4f}, "
                    f"{result.macs / 1e6:.1f} MMACs, {result.wall_seconds:.0f} s"
                    + (
                        f", strides {[fmt_stride(s) for s in result.learned_strides if s]}"
                        if kind == "diffstride"
                        else ""
                    ),
                    flush=True,
                )
            if failure:
                print(f"{name}: n/a ({failure})", flush=True)
                rows.append([label, str(init), "n/a", "-", "-", f"n/a: {failure}"])
                continue
            accs = [100 * r.accuracy for r in results]
            mean = statistics.fmean(accs)
            spread = f"{min(accs):.2f}-{max(accs):.2f}" if len(accs) > 1 else "-"
            macs = statistics.fmean(r.macs for r in results) / 1e6
            learned = "-"
            if kind == "diffstride":
                per_stage = []
                for stage in range(1, 4):
                    values = [r.learned_strides[stage] for r in results]
                    if any(v is None for v in values):
                        per_stage.append("?")
                        continue
                    h = statistics.fmean(v[0] for v in values if v is not None)
                    w = statistics.fmean(v[1] for v in values if v is not None)
                    per_stage.append(fmt_stride((h, w)))
                learned = "(" + ", ".join(per_stage) + ")"
            rows.append([label, str(init), f"{mean:.2f}", spread, f"{macs:.1f}", learned])
    total = time.perf_counter() - start_all
    print(f"total {total:.0f} s", flush=True)

    body = table(
        [
            "method",
            "init (stages 1..3)",
            "val acc % (mean)",
            "min-max over seeds",
            "MMACs / image",
            "learned strides (mean)",
        ],
        rows,
    )
    results_module.RESULTS = Path(args.results)
    write_section(
        "robustness",
        f"""## Robustness to the stride initialisation (`bench/robustness.py`)

Machine: {machine()}.

The DiffStride paper's experiment on Fashion-MNIST: `resnet_narrow_fmnist` (quarter-width
ResNet-18, 28x28x1) with stage 0 at stride 1 and stages 1..3 started from each stride
initialisation, downsampling by strided convolution, spectral pooling or DiffStride
(R = {args.smoothness:g}). Data: subset of {args.subset:,} images ({data.num_train:,} training,
{data.num_val:,} validation); {args.epochs} epoch(s); {args.seeds} seed(s) per cell; SGD
(Nesterov, cosine), batch {args.batch}, augmentation (random crop, horizontal flip). Accuracy is
the validation accuracy after the last epoch, mean and min-max over seeds; MMACs are per image
at the final strides (DiffStride: the learned ones, mean over seeds); learned strides are the
mean over seeds of stages 1..3. Total wall time {total:.0f} s.

{body}
""",
    )
    print(f"wrote section 'robustness' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
