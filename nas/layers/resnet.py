"""ResNet residual blocks (He et al. 2016): basic (two 3x3) and bottleneck (1x1-3x3-1x1).

The bottleneck's middle convolution may be grouped (``groups`` = cardinality), which makes it the
ResNeXt block (Xie et al. 2017). Optional squeeze-excitation on the residual branch (SE-ResNet,
squeeze = ``se_ratio`` x out channels). Downsampling follows ``nas.layers.downsample``. The basic
block's two kxk convolutions come from a factory (``nn.Conv2d`` by default), so the dynamic
convolution block is the same block with ``nas.layers.dynamic_conv.DynamicConv2d``.

The ``basic`` and ``bottleneck`` stages; their rules and the bottleneck's width are
``nas.blocks.resnet``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nas.blocks.resnet import bottleneck_mid_channels
from nas.layers.conv import conv2d, conv_bn, conv_bn_act, make_activation
from nas.layers.downsample import ConvStride, needs_projection
from nas.layers.repeat import repeat_blocks
from nas.layers.se import SqueezeExcite, squeeze_channels
from nas.spec_types import Activation, StageSpec

ConvFactory = Callable[[int, int, int, ConvStride], nn.Module]
"""``(in_channels, out_channels, kernel, stride) -> conv`` with 'same' padding and no bias."""


def plain_conv(in_channels: int, out_channels: int, kernel: int, stride: ConvStride) -> nn.Module:
    return nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False)


class Shortcut(nn.Module):
    """Identity, or 1x1 conv (strided, or with the block's shared pool) + BN.

    A linear pool (spectral pooling, DiffStride: ``pool.linear``) acts on the pixels and the 1x1
    convolution on the channels, so the two commute: the pool goes first, on the fewer input
    channels, and the convolution runs at the reduced size. The output is the reference's
    ``pool(conv(x))`` up to float rounding; a max pool keeps that order.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        conv_stride: ConvStride,
        pool: nn.Module | None,
        project: bool,
    ) -> None:
        super().__init__()
        self.conv = conv2d(in_channels, out_channels, 1, conv_stride) if project else None
        self.pool = pool
        self.bn = nn.BatchNorm2d(out_channels) if project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is None or self.bn is None:
            return x  # (N, C, H, W)
        if self.pool is not None and getattr(self.pool, "linear", False):
            x = self.pool(x)  # (N, C_in, H', W')
            return self.bn(self.conv(x))  # type: ignore[no-any-return]  # (N, C_out, H', W')
        x = self.conv(x)  # (N, C_out, H/s, W/s) or (N, C_out, H, W) before a pool
        if self.pool is not None:
            x = self.pool(x)  # (N, C_out, H', W')
        return self.bn(x)  # type: ignore[no-any-return]


class BasicBlock(nn.Module):
    """conv3x3(stride)-[pool]-BN-act, conv3x3-BN, [SE], add shortcut, act."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel: int = 3,
        conv_stride: ConvStride = (1, 1),
        pool: nn.Module | None = None,
        project: bool = False,
        se_ratio: float = 0.0,
        act: Activation = "relu",
        make_conv: ConvFactory = plain_conv,
    ) -> None:
        super().__init__()
        self.conv1 = make_conv(in_channels, out_channels, kernel, conv_stride)
        self.pool = pool
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act = make_activation(act)
        self.conv2 = nn.Sequential(
            make_conv(out_channels, out_channels, kernel, (1, 1)), nn.BatchNorm2d(out_channels)
        )
        self.se = (
            SqueezeExcite(out_channels, squeeze_channels(out_channels, se_ratio), act)
            if se_ratio
            else None
        )
        self.shortcut = Shortcut(in_channels, out_channels, conv_stride, pool, project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)  # (N, C_out, H/s, W/s), or (N, C_out, H, W) before a pool
        if self.pool is not None:
            out = self.pool(out)  # (N, C_out, H', W')
        out = self.act(self.bn1(out))
        out = self.conv2(out)  # (N, C_out, H', W')
        if self.se is not None:
            out = self.se(out)
        return self.act(out + self.shortcut(x))  # type: ignore[no-any-return]


class Bottleneck(nn.Module):
    """1x1 reduce-BN-act, 3x3(stride, groups)-[pool]-BN-act, 1x1 expand-BN, [SE], add, act."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        mid_channels: int,
        kernel: int = 3,
        groups: int = 1,
        conv_stride: ConvStride = (1, 1),
        pool: nn.Module | None = None,
        project: bool = False,
        se_ratio: float = 0.0,
        act: Activation = "relu",
    ) -> None:
        super().__init__()
        self.reduce = conv_bn_act(in_channels, mid_channels, 1, act=act)
        self.conv = nn.Conv2d(
            mid_channels, mid_channels, kernel, conv_stride, kernel // 2, groups=groups, bias=False
        )
        self.pool = pool
        self.bn = nn.BatchNorm2d(mid_channels)
        self.act = make_activation(act)
        self.expand = conv_bn(mid_channels, out_channels, 1)
        self.se = (
            SqueezeExcite(out_channels, squeeze_channels(out_channels, se_ratio), act)
            if se_ratio
            else None
        )
        self.shortcut = Shortcut(in_channels, out_channels, conv_stride, pool, project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.reduce(x)  # (N, C_mid, H, W)
        out = self.conv(out)  # (N, C_mid, H/s, W/s), or (N, C_mid, H, W) before a pool
        if self.pool is not None:
            out = self.pool(out)  # (N, C_mid, H', W')
        out = self.act(self.bn(out))
        out = self.expand(out)  # (N, C_out, H', W')
        if self.se is not None:
            out = self.se(out)
        return self.act(out + self.shortcut(x))  # type: ignore[no-any-return]


def basic_stage(
    stage: StageSpec, in_channels: int, act: Activation, make_conv: ConvFactory = plain_conv
) -> nn.Module:
    """``repeats`` basic blocks; the first one downsamples (and projects the shortcut). Their
    convolutions come from ``make_conv`` (dynamic convolutions for the ``dynamic`` kind)."""

    def make(cin: int, stride: ConvStride, pool: nn.Module | None, first: bool) -> nn.Module:
        return BasicBlock(
            cin,
            stage.out_channels,
            kernel=stage.kernel,
            conv_stride=stride,
            pool=pool,
            project=first and needs_projection(cin, stage.out_channels, stage),
            se_ratio=stage.se_ratio,
            act=act,
            make_conv=make_conv,
        )

    return repeat_blocks(stage, in_channels, make)


def bottleneck_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """``repeats`` bottleneck blocks (ResNeXt with ``groups``); the first one downsamples."""
    mid = bottleneck_mid_channels(stage)

    def make(cin: int, stride: ConvStride, pool: nn.Module | None, first: bool) -> nn.Module:
        return Bottleneck(
            cin,
            stage.out_channels,
            mid_channels=mid,
            kernel=stage.kernel,
            groups=stage.groups,
            conv_stride=stride,
            pool=pool,
            project=first and needs_projection(cin, stage.out_channels, stage),
            se_ratio=stage.se_ratio,
            act=act,
        )

    return repeat_blocks(stage, in_channels, make)
