"""Plain convolution stages (the ``conv`` block, e.g. Inception-v3's stem): conv-BN-act layers.

Its rules are ``nas.blocks.plain``'s.
"""

from __future__ import annotations

from torch import nn

from nas.layers.conv import conv_bn_act
from nas.layers.downsample import make_downsampler
from nas.spec_types import Activation, StageSpec


def conv_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """``repeats`` conv-BN-act layers, kxk; the first one downsamples."""
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
