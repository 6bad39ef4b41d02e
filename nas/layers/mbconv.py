"""Mobile inverted bottleneck (MBConv, Sandler et al. 2018; Tan & Le 2019) and its e=1 form.

expand 1x1 (skipped when expand ratio is 1) - depthwise kxk (stride) - [pool] - SE - project 1x1
(linear, no activation); identity residual when shape is unchanged. SE squeezes to ``se_ratio``
of the *block input* channels (0.25 in EfficientNet) with the block's activation (swish).

The ``ir`` and ``ds`` stages; their rules are ``nas.blocks.mbconv``'s.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.layers.conv import conv_bn, conv_bn_act, make_activation
from nas.layers.downsample import ConvStride
from nas.layers.repeat import repeat_blocks
from nas.layers.se import SqueezeExcite, squeeze_channels
from nas.spec_types import Activation, StageSpec


def expanded_channels(in_channels: int, expand_ratio: float) -> int:
    return round(in_channels * expand_ratio)


class MBConv(nn.Module):
    """Inverted residual block with optional squeeze-excitation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel: int = 3,
        expand_ratio: float = 6.0,
        se_ratio: float = 0.25,
        conv_stride: ConvStride = (1, 1),
        pool: nn.Module | None = None,
        act: Activation = "silu",
    ) -> None:
        super().__init__()
        mid = expanded_channels(in_channels, expand_ratio)
        self.expand = conv_bn_act(in_channels, mid, 1, act=act) if mid != in_channels else None
        self.depthwise = nn.Conv2d(
            mid, mid, kernel, conv_stride, kernel // 2, groups=mid, bias=False
        )
        self.pool = pool
        self.bn = nn.BatchNorm2d(mid)
        self.act = make_activation(act)
        self.se = (
            SqueezeExcite(mid, squeeze_channels(in_channels, se_ratio), act) if se_ratio else None
        )
        self.project = conv_bn(mid, out_channels, 1)
        self.residual = conv_stride == (1, 1) and pool is None and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.expand(x) if self.expand is not None else x  # (N, C_mid, H, W)
        out = self.depthwise(out)  # (N, C_mid, H/s, W/s), or (N, C_mid, H, W) before a pool
        if self.pool is not None:
            out = self.pool(out)  # (N, C_mid, H', W')
        out = self.act(self.bn(out))
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)  # (N, C_out, H', W')
        assert isinstance(out, torch.Tensor)
        return out + x if self.residual else out


def mbconv_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """``repeats`` MBConv blocks (``ir``; ``ds`` with expand ratio 1); the first downsamples."""

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
