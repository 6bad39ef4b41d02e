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

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.inception import PLANS, Conv, Plan
from nas.layers.conv import conv_bn_act, make_activation
from nas.layers.downsample import ConvStride, make_downsampler, max_pool
from nas.spec_types import Activation, StageSpec

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
