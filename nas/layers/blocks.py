"""The built-in stage builders: each stage = ``repeats`` blocks, the first one downsampling.

Their rules (checks, extras) are ``nas.validation``'s, their scaling rules ``nas.scaling``'s.

Block names are lowercase words without underscores (the block string splits tokens on ``_``);
``nas.spec``'s module docstring lists the fields and extras each block reads.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nas.layers import dense, fire, inception
from nas.layers.conv import conv_bn_act
from nas.layers.downsample import ConvStride, make_downsampler, needs_projection
from nas.layers.dynamic_conv import dynamic_conv_factory
from nas.layers.mbconv import MBConv
from nas.layers.plans import dynamic_options
from nas.layers.registry import register_block
from nas.layers.resnet import BasicBlock, Bottleneck
from nas.layers.schedules import TemperatureSchedule
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
    """Bottleneck width: out/4 (ResNet) times ``expand_ratio``, a multiple of ``groups``.

    ResNeXt (Xie et al. 2017) in these terms: cardinality ``C = groups``, bottleneck width per
    group ``d = mid / groups``. ResNeXt-50 32x4d: ``g32`` and ``e2`` (mid = 256/4 * 2 = 128 =
    32 x 4 in its first stage), torchvision's ``width = planes * width_per_group / 64 * groups``.
    """
    mid = int(stage.out_channels // 4 * stage.expand_ratio)
    return max(stage.groups, mid // stage.groups * stage.groups)


@register_block(
    "bottleneck",
    "ResNet bottleneck 1x1-3x3-1x1 (optional SE); g<C> groups = ResNeXt cardinality C, width "
    "per group d = c/4 * e / C (ResNeXt-50 32x4d: e2, g32)",
)
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


# ---- plain convolutions (e.g. Inception-v3's stem) ----------------------------------------------


@register_block("conv", "conv-BN-act layers, kxk; the first one downsamples")
def conv_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    conv_stride, pool = make_downsampler(stage)
    layers: list[nn.Module] = [
        conv_bn_act(in_channels, stage.out_channels, stage.kernel, conv_stride, act=act)
    ]
    if pool is not None:
        layers.append(pool)
    layers += [
        conv_bn_act(stage.out_channels, stage.out_channels, stage.kernel, act=act)
        for _ in range(stage.repeats - 1)
    ]
    return nn.Sequential(*layers)


# ---- DenseNet, SqueezeNet ---------------------------------------------------------------------

register_block(
    "dense",
    "DenseNet(-BC) dense block: [transition BN-act-1x1-pool] + r BN-act-conv layers of growth k",
)(dense.dense_stage)
register_block(
    "fire",
    "SqueezeNet Fire: squeeze 1x1, expand 1x1 + 3x3 concatenated (squeeze < expand)",
)(fire.fire_stage)


# ---- dynamic convolution ----------------------------------------------------------------------


@register_block(
    "dynamic",
    "ResNet basic block of dynamic convolutions (K kernels mixed by attention; optional SE)",
)
def dynamic_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    kernels, start, epochs = dynamic_options(stage)
    make_conv = dynamic_conv_factory(
        kernels, TemperatureSchedule(start=start, end=1.0, epochs=epochs)
    )

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


# ---- Inception-v3 -----------------------------------------------------------------------------

_INCEPTION = {
    "inceptiona": "Inception-v3 35x35 module: 1x1 | 1x1-kxk | 1x1-3x3-3x3 | pool-1x1",
    "inceptionb": "Inception-v3 grid reduction (Mixed_6a): 3x3 | 1x1-3x3-3x3 | max pool",
    "inceptionc": "Inception-v3 17x17 module: n x 1 + 1 x n factorized 7x7 branches",
    "inceptiond": "Inception-v3 grid reduction (Mixed_7a): 1x1-3x3 | 1x1-1xn-nx1-3x3 | pool",
    "inceptione": "Inception-v3 8x8 module: expanded filter bank, parallel 1xn and nx1",
}
for _name, _description in _INCEPTION.items():
    register_block(_name, _description)(inception.inception_stage)
