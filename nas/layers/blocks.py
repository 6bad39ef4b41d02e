"""The built-in stage builders: each stage = ``repeats`` blocks, the first one downsampling."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nas.layers.downsample import ConvStride, make_downsampler, needs_projection
from nas.layers.mbconv import MBConv
from nas.layers.registry import register_block
from nas.layers.resnet import BasicBlock, Bottleneck
from nas.spec import Activation, StageSpec

# (in_channels, conv_stride, pool, is_first) -> block
BlockFactory = Callable[[int, ConvStride, nn.Module | None, bool], nn.Module]


def repeat_blocks(stage: StageSpec, in_channels: int, make: BlockFactory) -> nn.Sequential:
    """``stage.repeats`` blocks; only the first changes channels and resolution."""
    conv_stride, pool = make_downsampler(stage)
    blocks = [make(in_channels, conv_stride, pool, True)]
    blocks += [make(stage.out_channels, (1, 1), None, False) for _ in range(stage.repeats - 1)]
    return nn.Sequential(*blocks)


@register_block("basic", "ResNet basic block: two 3x3 convs + shortcut (optional SE)")
def basic_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
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
        )

    return repeat_blocks(stage, in_channels, make)


def bottleneck_mid_channels(stage: StageSpec) -> int:
    """Bottleneck width: out/4 (ResNet) times ``expand_ratio`` (e.g. 2 for ResNeXt 32x4d)."""
    mid = int(stage.out_channels // 4 * stage.expand_ratio)
    return max(stage.groups, mid // stage.groups * stage.groups)


@register_block("bottleneck", "ResNet bottleneck 1x1-3x3-1x1; groups>1 makes it ResNeXt")
def bottleneck_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
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


def _mbconv_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    def make(cin: int, stride: ConvStride, pool: nn.Module | None, first: bool) -> nn.Module:
        return MBConv(
            cin,
            stage.out_channels,
            kernel=stage.kernel,
            expand_ratio=stage.expand_ratio,
            se_ratio=stage.se_ratio,
            conv_stride=stride,
            pool=pool,
            act=act,
        )

    return repeat_blocks(stage, in_channels, make)


register_block("ir", "MBConv inverted residual: expand 1x1, depthwise kxk, SE, project 1x1")(
    _mbconv_stage
)
register_block("ds", "depthwise-separable conv (MBConv with expand ratio 1), SE optional")(
    _mbconv_stage
)
