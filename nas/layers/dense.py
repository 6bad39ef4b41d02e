"""DenseNet (Huang et al., CVPR 2017): dense blocks and transition layers, DenseNet-BC.

A dense layer is BN-ReLU-Conv (pre-activation) and adds ``k`` (the growth rate) feature maps to
everything before it: layer ``l`` of a block sees ``C_0 + l * k`` channels, the concatenation of
the block input and every earlier layer's output. DenseNet-B puts a bottleneck BN-ReLU-Conv1x1 to
``bn * k`` channels (``bn = 4`` in the paper) before the 3x3. A transition (BN-ReLU-Conv1x1, then
2x2 average pooling) sits between blocks; DenseNet-C compresses there by ``theta`` (0.5 in
DenseNet-BC). Layout as in torchvision's ``densenet.py``.

One stage is ``[transition] + dense block``: ``out_channels = t + repeats * k`` where ``t`` is
the transition's width. Extras: ``growth=<k>`` (default ``out // (2 * repeats)``, so width
scaling keeps the stage valid), ``bn=<4>`` (0: plain DenseNet layers), ``theta=<0.5>``
(optional; requires ``t == floor(theta * C_in)``, the DenseNet-C rule). The transition is there
when the stage downsamples or ``t != C_in``; it downsamples with the stage's kind, average
pooling for ``strided`` (DenseNet's own).
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.dense import dense_widths
from nas.layers.conv import make_activation
from nas.layers.downsample import make_downsampler
from nas.spec_types import Activation, StageSpec


class DenseLayer(nn.Module):
    """[BN-act-Conv1x1 to ``bn * k``] - BN-act-Conv kxk to ``k`` new feature maps."""

    def __init__(
        self, in_channels: int, growth: int, bottleneck: int, kernel: int, act: Activation
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        if bottleneck:
            width = bottleneck * growth
            layers += [
                nn.BatchNorm2d(channels),
                make_activation(act),
                nn.Conv2d(channels, width, 1, bias=False),
            ]
            channels = width
        layers += [
            nn.BatchNorm2d(channels),
            make_activation(act),
            nn.Conv2d(channels, growth, kernel, padding=kernel // 2, bias=False),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # type: ignore[no-any-return]  # (N, k, H, W)


class DenseBlock(nn.Module):
    """``repeats`` dense layers; output = input and every layer's maps, concatenated."""

    def __init__(
        self,
        in_channels: int,
        repeats: int,
        growth: int,
        bottleneck: int,
        kernel: int,
        act: Activation,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth, growth, bottleneck, kernel, act)
            for i in range(repeats)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]  # [(N, C_0, H, W)]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))  # + (N, k, H, W)
        return torch.cat(features, 1)  # (N, C_0 + repeats * k, H, W)


class Transition(nn.Module):
    """BN-act-Conv1x1 to ``out_channels``, then the downsampling pool (if any)."""

    def __init__(
        self, in_channels: int, out_channels: int, pool: nn.Module | None, act: Activation
    ) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_channels)
        self.act = make_activation(act)
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(self.act(self.norm(x)))  # (N, t, H, W)
        if self.pool is not None:
            x = self.pool(x)  # (N, t, H/s, W/s)
        return x


def dense_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """[transition] + dense block, ``(N, C_in, H, W) -> (N, out_channels, H/s, W/s)``."""
    widths = dense_widths(stage, in_channels)
    modules: list[nn.Module] = []
    if widths.has_transition:
        conv_stride, pool = make_downsampler(stage)
        if pool is None and conv_stride != (1, 1):  # DenseNet's own: average pooling
            pool = nn.AvgPool2d(conv_stride, stride=conv_stride, ceil_mode=True)
        modules.append(Transition(in_channels, widths.transition, pool, act))
    modules.append(
        DenseBlock(
            widths.transition, stage.repeats, widths.growth, widths.bottleneck, stage.kernel, act
        )
    )
    return nn.Sequential(*modules)
