"""The block zoo at equal compute on real Fashion-MNIST: accuracy, params, MACs, step time.

Every variant is the layout of `resnet_narrow_fmnist` (16-channel stem; four stages of 2 blocks,
16/32/64/128 channels at strides 1, 2, 2, 2) with its blocks swapped for one type (Inception:
the paper's module per grid size), then scaled by the one width multiplier (`nas.scaling.scale`,
as a width search would) that brings its MACs per image closest to the basic ResNet's. All are
trained for the same epochs on the same images with the same options, so every variant gets
about the same FLOPs; the table reports what each was charged (the width grid is coarse on
16-channel stages, so MACs match within about 30%). Step time is the median
forward+backward+SGD step on one batch, measured after training.

Full size (the defaults) takes about 35 minutes on 2 CPU cores: the 11 variants' batch-128 steps
add up to about 9 s, times 211 steps (9,000 images x 3 epochs), plus evaluation and timing.

    python bench/blocks.py [--subset 10000] [--epochs 3] [--batch 128] [--repeats 10]
                           [--match macs|none] [--quick] [--results docs/results.md]

`--quick` (500 images, 1 epoch, batch 32, 2 timed steps, a coarser width match) checks the script
end to end in a few minutes; write its table elsewhere with `--results /tmp/blocks_quick.md`.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, table, write_section
from nas.data import ImageData, load
from nas.errors import SpecError, TrainingDiverged
from nas.flops import complexity
from nas.models import build_model, preset
from nas.scaling import scale
from nas.spec import ArchSpec
from nas.train import train
from nas.trial import TrainOptions

WIDTHS = [
    0.25,
    0.3,
    0.35,
    0.42,
    0.5,
    0.6,
    0.7,
    0.85,
    1,
    1.2,
    1.4,
    1.7,
    2,
    2.4,
    2.8,
    3.4,
    4,
    4.8,
    5.6,
]


@dataclass(frozen=True)
class Variant:
    name: str
    stages: list[dict[str, Any]]  # per stage: the fields that replace the base's
    head: dict[str, Any] | None = None


def variants(epochs: int) -> list[Variant]:
    def every(**fields: Any) -> list[dict[str, Any]]:
        return [dict(fields) for _ in range(4)]

    anneal = max(1, math.ceil(epochs / 10))  # the paper anneals over the first ~10% of training
    return [
        Variant("ResNet basic", every(block="basic")),
        Variant("SE-ResNet basic (se 0.25)", every(block="basic", se_ratio=0.25)),
        Variant("ResNet bottleneck", every(block="bottleneck")),
        Variant("ResNeXt bottleneck (g4, e2)", every(block="bottleneck", groups=4, expand_ratio=2)),
        Variant("MBConv (e6, se 0.25)", every(block="ir", expand_ratio=6, se_ratio=0.25)),
        Variant("DenseNet-B dense (bn 4)", every(block="dense")),
        # SqueezeNet's Fire has no batch norm; at this lr and batch the plain block's loss turns
        # NaN in the first epoch (every other block here normalizes), so it trains with bn=1
        Variant("SqueezeNet Fire (bn=1)", every(block="fire", extras={"bn": 1})),
        Variant(
            f"dynamic conv (K 4, t 30->1 over {anneal} ep)",
            every(block="dynamic", extras={"kernels": 4, "t0": 30, "tepochs": anneal}),
        ),
        Variant(
            "Inception-v3 A / C (n 7) / E / E",
            [
                {"block": "inceptiona"},
                {"block": "inceptionc", "kernel": 7},
                {"block": "inceptione"},
                {"block": "inceptione"},
            ],
        ),
        Variant(
            "Inception-v3, aux head on stage 2",
            [
                {"block": "inceptiona"},
                {"block": "inceptionc", "kernel": 7},
                {"block": "inceptione"},
                {"block": "inceptione"},
            ],
            head={"aux_stage": 2},
        ),
        Variant("ResNet basic, grid reduction", every(block="basic", downsample="gridreduce")),
    ]


def build_spec(base: ArchSpec, variant: Variant) -> ArchSpec:
    stages = [
        {**stage.model_dump(), **update}
        for stage, update in zip(base.stages, variant.stages, strict=True)
    ]
    head = {**base.head.model_dump(), **(variant.head or {})}
    return base.replace(stages=stages, head=head)


def macs_of(spec: ArchSpec) -> int:
    return complexity(spec).macs


def match_width(spec: ArchSpec, target: int, widths: list[float]) -> tuple[float, ArchSpec, int]:
    """Bisect ``widths`` for the scaled spec whose MACs are closest to ``target`` (log scale).

    MACs grow with the width; widths too small for a block (its validator refuses) count as
    below the target.
    """
    cache: dict[int, tuple[ArchSpec, int] | None] = {}

    def at(i: int) -> tuple[ArchSpec, int] | None:
        if i not in cache:
            try:
                scaled = scale(spec, width=widths[i]) if widths[i] != 1.0 else spec
                cache[i] = (scaled, macs_of(scaled))
            except SpecError:
                cache[i] = None
        return cache[i]

    low, high = 0, len(widths) - 1
    while high - low > 1:
        mid = (low + high) // 2
        point = at(mid)
        if point is None or point[1] < target:
            low = mid
        else:
            high = mid
    candidates = [(i, p) for i in (low, high) if (p := at(i)) is not None]
    if not candidates:
        raise SpecError(f"no width in {widths} makes {spec.to_string()} valid")
    i, (best, macs) = min(candidates, key=lambda c: abs(math.log(c[1][1] / target)))
    return widths[i], best, macs


def step_ms(spec: ArchSpec, data: ImageData, batch: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = build_model(spec)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = data.train_x[:batch], data.train_y[:batch]

    def step() -> None:
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(2):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--subset", type=int, default=10_000, help="images (then 10%% val)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--match", choices=["macs", "none"], default="macs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="500 images, 1 epoch: a smoke run")
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    args = parser.parse_args()
    widths = WIDTHS
    if args.quick:
        args.subset, args.epochs, args.batch, args.repeats = 500, 1, 32, 2
        widths = WIDTHS[::2]
    results_module.RESULTS = Path(args.results)

    start_all = time.perf_counter()
    data = load("fashion-mnist", subset=args.subset, seed=args.seed)
    base = preset("resnet_narrow_fmnist")
    target = macs_of(base)
    options = TrainOptions(batch_size=args.batch, augment=False, seed=args.seed)
    rows = []
    for variant in variants(args.epochs):
        spec = build_spec(base, variant)
        width, macs = 1.0, macs_of(spec)
        if args.match == "macs":
            width, spec, macs = match_width(spec, target, widths)
        try:
            result = train(spec, data, args.epochs, options)
        except TrainingDiverged as exc:  # reported as such, not as chance accuracy
            rows.append([variant.name, f"diverged ({exc.message.split(';')[0]})"] + ["-"] * 6)
            print(rows[-1], spec.to_string(), flush=True)
            continue
        ms = step_ms(spec, data, args.batch, args.repeats)
        rows.append(
            [
                variant.name,
                f"{100 * result.accuracy:.2f}",
                f"{result.params / 1e3:,.0f}",
                f"{macs / 1e6:.1f}",
                f"{width:g}",
                f"{ms:.0f}",
                f"{result.cost_flops / 1e12:.3f}",
                f"{result.wall_seconds:.0f}",
            ]
        )
        print(rows[-1], spec.to_string(), flush=True)
    total = time.perf_counter() - start_all
    headers = [
        "block type",
        "val acc %",
        "params (k)",
        "MMACs / image",
        "width x",
        f"train step (ms, batch {args.batch})",
        "compute (TFLOPs)",
        "wall s",
    ]
    matched = (
        f"scaled by the width multiplier (of {widths[0]:g}..{widths[-1]:g}) that brings its MACs "
        f"closest to the basic ResNet's {target / 1e6:.1f} M"
        if args.match == "macs"
        else "at the base widths (no MACs matching)"
    )
    write_section(
        "blocks",
        f"""## Block types at equal compute (`bench/blocks.py`)

Machine: {machine()}.

Real Fashion-MNIST: subset of {args.subset:,} images ({data.num_train:,} train,
{data.num_val:,} validation), {args.epochs} epoch(s), batch {args.batch}, SGD with Nesterov
momentum, cosine schedule, no augmentation, seed {args.seed}{" (--quick)" if args.quick else ""}.
Every row is the 4-stage layout of `resnet_narrow_fmnist` (strides 1, 2, 2, 2, 2 blocks per
stage) with its blocks swapped, {matched}. Train step: median of {args.repeats}. Total wall time
{total:.0f} s.

{table(headers, rows)}
""",
    )
    print(f"wrote section 'blocks' to {results_module.RESULTS} in {total:.0f} s", flush=True)


if __name__ == "__main__":
    main()
