"""The shapes of the blocks whose widths are not just ``out_channels`` x ``repeats``: DenseNet's
growth and transition, SqueezeNet Fire's squeeze and expands, Inception-v3's branch plans, dynamic
convolution's kernels and temperature schedule.

Pure, torch-free functions of ``(stage, in channels)``: the builders (``nas.layers.dense``,
``fire``, ``inception``, ``blocks``) build what they return, and the block rules
(``nas.validation``) run them to reject an impossible stage with a ``SpecError`` naming the
field, when a spec is created, without importing torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nas.errors import SpecError
from nas.layers.extras import float_extra, int_extra

if TYPE_CHECKING:
    from nas.spec import StageSpec

# ---- DenseNet (nas.layers.dense) ----------------------------------------------------------------

DEFAULT_BOTTLENECK = 4
DENSE_EXTRAS = frozenset({"growth", "bn", "theta"})


@dataclass(frozen=True)
class DenseWidths:
    growth: int
    bottleneck: int  # the bottleneck's multiple of growth; 0 = none
    transition: int  # channels entering the dense block (the transition's output)
    has_transition: bool


def dense_widths(stage: StageSpec, in_channels: int, field: str = "stage") -> DenseWidths:
    """The stage's growth rate and transition width; ``SpecError`` when they cannot work."""
    default_growth = max(1, stage.out_channels // (2 * stage.repeats))
    growth = int_extra(stage, "growth", default_growth, field, minimum=1)
    bottleneck = int_extra(stage, "bn", DEFAULT_BOTTLENECK, field, minimum=0, maximum=64)
    transition = stage.out_channels - stage.repeats * growth
    if transition < 1:
        raise SpecError(
            f"{stage.repeats} layers of growth {growth} need more than {stage.repeats * growth} "
            f"out channels (out = transition + repeats * growth), got {stage.out_channels}",
            field=f"{field}.out_channels",
        )
    if "theta" in stage.extras:
        theta = float_extra(stage, "theta", 0.5, field, minimum=1e-6, maximum=1.0)
        expected = math.floor(theta * in_channels)
        if expected < 1 or transition != expected:
            raise SpecError(
                f"theta={theta} compresses {in_channels} channels to {expected}, so out_channels "
                f"must be {expected} + {stage.repeats} x {growth} = "
                f"{expected + stage.repeats * growth}, got {stage.out_channels}",
                field=f"{field}.out_channels",
            )
    learnable = stage.downsample == "diffstride"  # may learn to downsample from stride 1
    has_transition = stage.is_downsampling or learnable or transition != in_channels
    return DenseWidths(growth, bottleneck, transition, has_transition)


# ---- SqueezeNet Fire (nas.layers.fire) ---------------------------------------------------------

SQUEEZE_RATIO = 8  # out / squeeze in every SqueezeNet Fire module
FIRE_EXTRAS = frozenset({"squeeze", "pct3", "bn"})


@dataclass(frozen=True)
class FireWidths:
    squeeze: int
    expand1: int
    expand3: int
    norm: bool


def fire_widths(stage: StageSpec, field: str = "stage") -> FireWidths:
    """Squeeze and expand widths of the stage's Fire modules (``SpecError`` if impossible)."""
    out = stage.out_channels
    if out < 2:
        raise SpecError(
            f"a Fire module concatenates a 1x1 and a 3x3 expand: needs >= 2, got {out}",
            field=f"{field}.out_channels",
        )
    squeeze = int_extra(stage, "squeeze", max(1, out // SQUEEZE_RATIO), field, minimum=1)
    if squeeze >= out:
        raise SpecError(
            f"the squeeze ({squeeze}) must be below the expand channels (out_channels = {out})",
            field=f"{field}.extras.squeeze",
        )
    share = float_extra(stage, "pct3", 0.5, field, minimum=0.0, maximum=1.0)
    expand3 = round(out * share)
    if not 1 <= expand3 <= out - 1:
        raise SpecError(
            f"pct3={share} leaves {expand3} of {out} channels to the 3x3 expand; both expands "
            "need >= 1",
            field=f"{field}.extras.pct3",
        )
    norm = bool(int_extra(stage, "bn", 0, field, minimum=0, maximum=1))
    return FireWidths(squeeze, out - expand3, expand3, norm)


# ---- Inception-v3 (nas.layers.inception) -------------------------------------------------------

Kernel = tuple[int, int]
Conv = tuple[int, Kernel]  # (out channels, (kh, kw))
INCEPTION_EXTRAS: dict[str, frozenset[str]] = {
    "inceptiona": frozenset({"pool"}),
    "inceptionb": frozenset(),
    "inceptionc": frozenset({"mid"}),
    "inceptiond": frozenset(),
    "inceptione": frozenset(),
}
"""The extras each Inception module reads (its channel counts: scaled with width)."""


def split(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders; sums to ``total``)."""
    whole = sum(weights)
    shares = [total * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def _positive(widths: list[int], stage: StageSpec, field: str, what: str) -> None:
    if min(widths) < 1:
        raise SpecError(
            f"{stage.block} needs more channels: {what} would get {widths}",
            field=f"{field}.out_channels",
        )


@dataclass(frozen=True)
class Plan:
    """Every branch as a chain of convolutions (or splits), plus the pooling branch."""

    branches: list[list[Conv | list[Conv]]]  # a list[Conv] element: parallel convs, concatenated
    pool: Literal["avg", "max"]
    pool_conv: int  # channels of the 1x1 after the pool (0: the pool passes the input)


def plan_a(stage: StageSpec, in_channels: int, field: str = "stage") -> Plan:
    out = stage.out_channels
    pool = int_extra(stage, "pool", max(1, out // 8), field, minimum=1)
    rest = out - pool
    if rest < 3:
        raise SpecError(
            f"the pool branch takes {pool} of {out} channels; the other three need >= 3",
            field=f"{field}.extras.pool",
        )
    b1, b2, b3 = split(rest, [4, 4, 6])
    unit = rest / 14  # torchvision: 16 (224 = 14 x 16)
    r2, r3, m3 = (max(1, round(unit * w)) for w in (3, 4, 6))
    k = stage.kernel
    return Plan(
        [[(b1, (1, 1))], [(r2, (1, 1)), (b2, (k, k))], [(r3, (1, 1)), (m3, (3, 3)), (b3, (3, 3))]],
        "avg",
        pool,
    )


def plan_c(stage: StageSpec, in_channels: int, field: str = "stage") -> Plan:
    out = stage.out_channels
    o1, o2, o3, o4 = split(out, [1, 1, 1, 1])
    _positive([o1, o2, o3, o4], stage, field, "its four branches")
    mid = int_extra(stage, "mid", max(1, out // 6), field, minimum=1)
    n = stage.kernel
    row, col = (1, n), (n, 1)
    return Plan(
        [
            [(o1, (1, 1))],
            [(mid, (1, 1)), (mid, row), (o2, col)],
            [(mid, (1, 1)), (mid, col), (mid, row), (mid, col), (o3, row)],
        ],
        "avg",
        o4,
    )


def plan_e(stage: StageSpec, in_channels: int, field: str = "stage") -> Plan:
    out = stage.out_channels
    b1, a1, a2, d1, d2, pool = split(out, [10, 12, 12, 12, 12, 6])
    _positive([b1, a1, a2, d1, d2, pool], stage, field, "its six outputs")
    unit = out / 64  # torchvision: 32 (2048 = 64 x 32)
    r3, rd, md = (max(1, round(unit * w)) for w in (12, 14, 12))
    n = stage.kernel
    row, col = (1, n), (n, 1)
    return Plan(
        [
            [(b1, (1, 1))],
            [(r3, (1, 1)), [(a1, row), (a2, col)]],
            [(rd, (1, 1)), (md, (3, 3)), [(d1, row), (d2, col)]],
        ],
        "avg",
        pool,
    )


def _reduction_channels(stage: StageSpec, in_channels: int, field: str, parts: int) -> int:
    if stage.repeats != 1:
        raise SpecError(
            f"{stage.block} adds channels to its input (out = in + conv branches), so a stage "
            f"holds one of it; got {stage.repeats} repeats",
            field=f"{field}.repeats",
        )
    conv = stage.out_channels - in_channels
    if conv < parts:
        raise SpecError(
            f"{stage.block} keeps its {in_channels} input channels in the pooling branch, so "
            f"out_channels must be >= {in_channels + parts}, got {stage.out_channels}",
            field=f"{field}.out_channels",
        )
    return conv


def plan_b(stage: StageSpec, in_channels: int, field: str = "stage") -> Plan:
    conv = _reduction_channels(stage, in_channels, field, 2)
    b3, dbl = split(conv, [24, 6])  # torchvision: 384, 96 (480 = 30 x 16)
    unit = conv / 30
    r, m = (max(1, round(unit * w)) for w in (4, 6))
    k = stage.kernel
    return Plan([[(b3, (k, k))], [(r, (1, 1)), (m, (k, k)), (dbl, (k, k))]], "max", 0)


def plan_d(stage: StageSpec, in_channels: int, field: str = "stage") -> Plan:
    conv = _reduction_channels(stage, in_channels, field, 2)
    b3, b7 = split(conv, [10, 6])  # torchvision: 320, 192 (512 = 16 x 32)
    unit = conv / 16
    r3, m7 = (max(1, round(unit * w)) for w in (6, 6))
    n = stage.kernel
    return Plan(
        [[(r3, (1, 1)), (b3, (3, 3))], [(m7, (1, 1)), (m7, (1, n)), (m7, (n, 1)), (b7, (3, 3))]],
        "max",
        0,
    )


PLANS = {
    "inceptiona": plan_a,
    "inceptionb": plan_b,
    "inceptionc": plan_c,
    "inceptiond": plan_d,
    "inceptione": plan_e,
}


# ---- dynamic convolution (nas.layers.dynamic_conv) ---------------------------------------------

DEFAULT_KERNELS = 4
DYNAMIC_EXTRAS = frozenset({"kernels", "t0", "tepochs"})


def dynamic_options(stage: StageSpec, field: str = "stage") -> tuple[int, float, int]:
    """K, the starting temperature and the epochs it falls over, from a ``dynamic`` stage's
    extras."""
    kernels = int_extra(stage, "kernels", DEFAULT_KERNELS, field, minimum=1, maximum=64)
    start = float_extra(stage, "t0", 30.0, field, minimum=1.0, maximum=1000.0)
    epochs = int_extra(stage, "tepochs", 10, field, minimum=0, maximum=10_000)
    return kernels, start, epochs
