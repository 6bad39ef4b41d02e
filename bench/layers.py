"""Cost of the downsampling kinds, measured in one run, plus a full Fashion-MNIST epoch.

1. forward+backward time of one training step of the same small-image ResNet (quarter-width
   ResNet-18 on 28x28; stage 0 at stride 1, stages 1..3 at stride 2, as the DiffStride
   strategy builds it) with strided convolution, fixed spectral pooling, DiffStride with the
   product's defaults (ramp inside, R auto; strides on their own Adam) and the paper's DiffStride
   (R = 4, ramp outside), as ratios to the strided step measured in interleaved rounds;
2. the downsampling layer alone on the same tensor: DiffStride by matrix products (ours) and by
   torch.fft (the definition), spectral pooling, average pooling;
3. one epoch on the full Fashion-MNIST training split (54,000 images, 6,000 validation).

    python bench/layers.py [--batch 128] [--rounds 5] [--repeats 10] [--skip-epoch]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import machine, table, write_section
from nas.data import load
from nas.flops import complexity
from nas.layers.diffstride import DiffStride
from nas.layers.spectral import spectral_resample_fft
from nas.layers.spectral_pool import SpectralPool
from nas.models import build_model, preset
from nas.spec import ArchSpec
from nas.train import make_stride_optimizer, split_parameters, train
from nas.trial import TrainOptions

AIM_RATIO = 2.0  # the defaults' training step at most this many strided steps


def variant(kind: str, layer: dict[str, str | float] | None = None) -> ArchSpec:
    """Stages 1..3 downsample by ``kind`` (stage 0 stays a stride-1 strided stage)."""
    base = preset("resnet_narrow_fmnist")
    stages = [base.stages[0]]
    for stage in base.stages[1:]:
        stages.append(stage.model_copy(update={"downsample": kind, "extras": dict(layer or {})}))
    return base.with_stages(stages)


def median_ms(step: Callable[[], object], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def train_step(spec: ArchSpec, batch: int) -> Callable[[], None]:
    """One SGD step of ``spec`` on a fixed batch, strides on their own Adam as in training."""
    torch.manual_seed(0)
    model = build_model(spec)
    layers = [m for m in model.modules() if isinstance(m, DiffStride)]
    weights, _ = split_parameters(model, layers)
    optimizer = torch.optim.SGD(weights, lr=0.01, momentum=0.9)
    strides = make_stride_optimizer(layers, TrainOptions(stride_lr=1e-9))  # measured, not moved
    x = torch.randn(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))

    def step() -> None:
        optimizer.zero_grad()
        if strides is not None:
            strides.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if strides is not None:
            strides.step()

    return step


def interleaved_ms(steps: list[Callable[[], None]], rounds: int, repeats: int) -> list[list[float]]:
    """Per step, the median ms of each round; rounds run every step in turn, so a slow phase
    of the machine hits all of them alike."""
    per_round: list[list[float]] = [[] for _ in steps]
    for _ in range(rounds):
        for k, step in enumerate(steps):
            per_round[k].append(median_ms(step, repeats, warmup=2))
    return per_round


def layer_ms(layer: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, repeats: int) -> float:
    def step() -> None:
        x.grad = None
        layer(x).square().mean().backward()

    return median_ms(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=10, help="steps timed per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--skip-epoch", action="store_true")
    args = parser.parse_args()

    models = [
        ("strided convolution", variant("strided")),
        ("spectral pooling (the reference's size rule)", variant("spectral")),
        (
            "DiffStride, defaults (ramp inside, R auto)",
            variant("diffstride", {"ramp": "inside", "smoothness": "auto"}),
        ),
        ("DiffStride, R = 4 (paper, ramp outside)", variant("diffstride")),
    ]
    steps = [train_step(spec, args.batch) for _, spec in models]
    timings = interleaved_ms(steps, args.rounds, args.repeats)
    rows = []
    ratios: list[float] = []
    for k, (name, spec) in enumerate(models):
        ms = statistics.median(timings[k])
        per_round = [t / base for t, base in zip(timings[k], timings[0], strict=True)]
        ratio = statistics.median(per_round)
        ratios.append(ratio)
        macs = complexity(spec).macs
        rows.append(
            [
                name,
                f"{ms:.1f}",
                f"{ratio:.2f}x ({min(per_round):.2f}-{max(per_round):.2f})",
                f"{macs / 1e6:.1f}",
            ]
        )
        print(rows[-1], flush=True)
    step_table = table(
        ["downsampling (stages 1..3)", "train step (ms)", "vs strided (rounds)", "MMACs / image"],
        rows,
    )
    met = ratios[2] <= AIM_RATIO
    aim = (
        f"Aim: the defaults' step at most {AIM_RATIO:g}x the strided step at the same init: "
        f"**{ratios[2]:.2f}x, {'met' if met else 'not met'}**."
    )

    x = torch.randn(args.batch, 32, 28, 28, requires_grad=True)
    diffstride = DiffStride((2.0, 2.0))
    diffstride(x)
    out_h, out_w = diffstride.output_size(28, 28)
    layers: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = [
        ("DiffStride, R = 4, outside (matrix products)", diffstride),
        ("DiffStride, defaults", DiffStride((2.0, 2.0), smoothness="auto", ramp="inside")),
        (
            "same crop by torch.fft (no mask, no stride grad)",
            lambda t: spectral_resample_fft(t, out_h, out_w, None, None),
        ),
        ("SpectralPool (2, 2)", SpectralPool((2, 2))),
        ("AvgPool2d 2x2", lambda t: F.avg_pool2d(t, 2)),
    ]
    layer_rows = []
    for name, layer in layers:
        ms = layer_ms(layer, x, args.repeats)
        layer_rows.append([name, f"{ms:.2f}", str(tuple(layer(x).shape[-2:]))])
        print(layer_rows[-1], flush=True)
    layer_table = table(["layer on (128, 32, 28, 28), fwd+bwd", "ms", "output"], layer_rows)

    epoch_text = "(skipped)"
    if not args.skip_epoch:
        data = load("fashion-mnist", seed=0)
        result = train(variant("strided"), data, 1, TrainOptions(batch_size=128, augment=False))
        epoch_text = (
            f"One epoch of the strided network on the full training split "
            f"({data.num_train:,} images, batch 128, SGD, no augmentation): validation accuracy "
            f"**{result.accuracy:.4f}** on {data.num_val:,} images in "
            f"**{result.wall_seconds:.0f} s**."
        )
        print(epoch_text, flush=True)

    write_section(
        "layers",
        f"""## Downsampling layers (`bench/layers.py`)

Machine: {machine()}.

Training step of the quarter-width ResNet-18 (`resnet_narrow_fmnist`, 28x28x1, batch
{args.batch}) with stages 1..3 at stride 2, the network the DiffStride strategy searches:
{args.rounds} interleaved rounds of {args.repeats} timed steps each; the ratio is the median of
the per-round ratios (min-max in brackets), all in one run. The paper's layer keeps the
reference's crop, the ramp of its mask outside the target, so its maps are about `H/S + 2R`
pixels (28 -> 22 at stride 2 with R = 4, where strided convolution gives 14); the defaults put
the ramp inside the target, so the maps are about `H/S` (28 -> 14 -> 8 -> 4), the size of
spectral pooling. Both spectral layers pool the 1x1 shortcut's input before its convolution
(they commute), and run the unstrided 3x3 convolution before the pool, as the reference does.

{step_table}

{aim}

The layer alone (median of {args.repeats} forward+backward):

{layer_table}

{epoch_text}
""",
    )


if __name__ == "__main__":
    main()
