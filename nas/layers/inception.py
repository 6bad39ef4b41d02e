"""Inception-v3 (Szegedy et al., CVPR 2016, "Rethinking the Inception Architecture"): factorized
modules, the grid reductions and the auxiliary classifier. Layout as in torchvision's
``inception.py`` (ported from TensorFlow); every convolution is conv-BN-act.

- ``inceptiona`` (Fig. 5, the 35x35 grid): 1x1 | 1x1-kxk | 1x1-3x3-3x3 (a 5x5 factorized into two
  3x3) | 3x3 avg pool-1x1. ``k3`` is the paper's figure; torchvision (and TF) use a 5x5 in the
  second branch: ``k5``. ``pool=<P>`` sets the pool branch (default ``out // 8``); the rest is
  split 4:4:6 as in torchvision (64, 64, 96 of 224).
- ``inceptionc`` (Fig. 6, the 17x17 grid: "n x 1 + 1 x n works well on 12 to 20 pixel grids"):
  1x1 | 1x1-1xn-nx1 | 1x1-nx1-1xn-nx1-1xn | pool-1x1, ``n`` = the stage's ``k`` (7 in the
  paper), four equal branches; ``mid=<m>`` the inner width (default ``out // 6``: 128 of 768).
- ``inceptione`` (Fig. 7, the 8x8 grid, expanded filter bank): 1x1 | 1x1-(1xn, nx1) |
  1x1-3x3-(1xn, nx1) | pool-1x1, the pairs in parallel; widths 10:12+12:12+12:6 of 64.
- ``inceptionb``, ``inceptiond`` (Fig. 10, efficient grid reduction, torchvision's Mixed_6a and
  Mixed_7a): strided convolution branches next to a strided max pool that keeps the input
  channels: ``out = in + conv branches``, so a stage holds one (``r1``). B: 3x3 | 1x1-3x3-3x3
  (24:6 units, reduce 4); D: 1x1-3x3 | 1x1-1xn-nx1-3x3 (10:6 units, reduce 6).
- :class:`InceptionAux` (Sec. 4): the auxiliary classifier, a regularizer in training (see
  ``HeadSpec.aux_stage``).

In a downsampling stage the first module's stride goes on the last convolution of every branch
(as in the reductions) and on the pooling branch's pool; spectral/DiffStride kinds pool the
concatenated output instead (the same pool per channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from nas.errors import SpecError
from nas.layers.conv import conv_bn_act, make_activation
from nas.layers.downsample import ConvStride, make_downsampler, max_pool
from nas.layers.extras import int_extra
from nas.spec import Activation, StageSpec

Kernel = tuple[int, int]
Conv = tuple[int, Kernel]  # (out channels, (kh, kw))
EXTRAS_A = frozenset({"pool"})
EXTRAS_C = frozenset({"mid"})
NO_EXTRAS: frozenset[str] = frozenset()


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


# ---- branch plans: pure functions of (stage, in channels), shared by builder and validator ----


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


def validate_inception(stage: StageSpec, in_channels: int, field: str) -> None:
    PLANS[stage.block](stage, in_channels, field)


# ---- modules ----------------------------------------------------------------------------------


class Parallel(nn.Module):
    """Modules applied to the same input, outputs concatenated along channels."""

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__()
        self.branches = nn.ModuleList(modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], 1)  # (N, sum C_b, H', W')


def _branch(
    in_channels: int, chain: list[Conv | list[Conv]], stride: ConvStride, act: Activation
) -> nn.Sequential:
    """conv-BN-act layers; the stride goes on the last one (on each conv of a final split)."""
    layers: list[nn.Module] = []
    channels = in_channels
    for i, step in enumerate(chain):
        s = stride if i == len(chain) - 1 else (1, 1)
        if isinstance(step, list):
            layers.append(Parallel(*(conv_bn_act(channels, c, k, s, act=act) for c, k in step)))
            channels = sum(c for c, _ in step)
        else:
            c, k = step
            layers.append(conv_bn_act(channels, c, k, s, act=act))
            channels = c
    return nn.Sequential(*layers)


class InceptionModule(nn.Module):
    """The branches of a :class:`Plan` on one input, concatenated, then the optional pool."""

    def __init__(
        self,
        in_channels: int,
        plan: Plan,
        conv_stride: ConvStride,
        pool: nn.Module | None,
        act: Activation,
    ) -> None:
        super().__init__()
        branches = [_branch(in_channels, chain, conv_stride, act) for chain in plan.branches]
        if plan.pool == "max":
            pooling: nn.Module = max_pool(conv_stride)
        else:
            pooling = nn.AvgPool2d(3, stride=conv_stride, padding=1)
        pool_branch = (
            nn.Sequential(pooling, conv_bn_act(in_channels, plan.pool_conv, 1, act=act))
            if plan.pool_conv
            else pooling
        )
        self.branches = Parallel(*branches, pool_branch)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branches(x)  # (N, C_out, H/s, W/s), or (N, C_out, H, W) before a pool
        if self.pool is not None:
            out = self.pool(out)  # (N, C_out, H', W')
        return out  # type: ignore[no-any-return]


def inception_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """``repeats`` modules of ``stage.block``; the first one carries the stage's stride."""
    make_plan = PLANS[stage.block]
    conv_stride, pool = make_downsampler(stage)
    modules: list[nn.Module] = []
    channels = in_channels
    for i in range(stage.repeats):
        first = i == 0
        modules.append(
            InceptionModule(
                channels,
                make_plan(stage, channels),
                conv_stride if first else (1, 1),
                pool if first else None,
                act,
            )
        )
        channels = stage.out_channels
    return nn.Sequential(*modules)


class InceptionAux(nn.Module):
    """The auxiliary classifier: 5x5 average pool, 1x1 conv, 5x5 conv, linear.

    torchvision pools 17x17 maps with a 5x5/3 average pool to 5x5; here an adaptive pool to 5x5
    does that for any grid (the same parameters). Widths scale with the input: ``C/6`` then
    ``C`` (torchvision: 128 and 768 on 768 channels).
    """

    def __init__(self, in_channels: int, num_classes: int, act: Activation = "relu") -> None:
        super().__init__()
        reduce = max(1, in_channels // 6)
        self.conv0 = conv_bn_act(in_channels, reduce, 1, act=act)
        conv1 = nn.Conv2d(reduce, in_channels, 5, bias=False)  # valid 5x5: 5x5 -> 1x1
        self.conv1 = nn.Sequential(conv1, nn.BatchNorm2d(in_channels), make_activation(act))
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 5)  # (N, C, 5, 5)
        x = self.conv0(x)  # (N, C/6, 5, 5)
        x = self.conv1(x)  # (N, C, 1, 1)
        return self.fc(x.flatten(1))  # type: ignore[no-any-return]  # (N, classes)
