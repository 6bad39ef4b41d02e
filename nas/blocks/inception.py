"""Inception-v3's modules: A, C, E for the 35/17/8-pixel grids, B and D the grid reductions.

Each module's plan is its branches as chains of convolutions (widths split from
``out_channels`` as in torchvision, the extras ``pool`` and ``mid``); the reductions add their
convolutions' channels to the input's, so their stage holds one module. Scaling scales the
extras' widths with width (and keeps a reduction's stage at one module). Builder:
``nas.layers.inception``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nas.blocks.extras import int_extra
from nas.blocks.kind import BlockKind
from nas.blocks.rounding import channel_extras_rule
from nas.errors import SpecError

if TYPE_CHECKING:
    from nas.spec_types import StageSpec

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


def _check(stage: StageSpec, in_channels: int, field: str) -> None:
    PLANS[stage.block](stage, in_channels, field)


_DESCRIPTIONS = {
    "inceptiona": "Inception-v3 35x35 module: 1x1 | 1x1-kxk | 1x1-3x3-3x3 | pool-1x1",
    "inceptionb": "Inception-v3 grid reduction (Mixed_6a): 3x3 | 1x1-3x3-3x3 | max pool",
    "inceptionc": "Inception-v3 17x17 module: n x 1 + 1 x n factorized 7x7 branches",
    "inceptiond": "Inception-v3 grid reduction (Mixed_7a): 1x1-3x3 | 1x1-1xn-nx1-3x3 | pool",
    "inceptione": "Inception-v3 8x8 module: expanded filter bank, parallel 1xn and nx1",
}
KINDS = tuple(
    BlockKind(
        name,
        description,
        "nas.layers.inception:inception_stage",
        check=_check,
        extras=INCEPTION_EXTRAS[name],
        # the grid reductions add channels to their input: a stage holds exactly one
        scale=channel_extras_rule(
            INCEPTION_EXTRAS[name], fixed_depth=name in {"inceptionb", "inceptiond"}
        ),
    )
    for name, description in _DESCRIPTIONS.items()
)
