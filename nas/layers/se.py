"""Squeeze-and-excitation (Hu et al. 2018): channel attention from globally pooled features."""

from __future__ import annotations

import torch
from torch import nn

from nas.layers.conv import make_activation
from nas.spec_types import Activation


class SqueezeExcite(nn.Module):
    """Pool, 1x1 conv down to ``squeeze_channels``, activation, 1x1 conv up, sigmoid gate."""

    def __init__(self, channels: int, squeeze_channels: int, act: Activation = "relu") -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze_channels, 1)
        self.act = make_activation(act)
        self.expand = nn.Conv2d(squeeze_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)  # (N, C, 1, 1)
        scale = self.act(self.reduce(scale))  # (N, C_squeeze, 1, 1)
        scale = torch.sigmoid(self.expand(scale))  # (N, C, 1, 1)
        return x * scale  # (N, C, H, W)


def squeeze_channels(channels: int, ratio: float) -> int:
    """Channels of the squeeze bottleneck: ``channels * ratio``, at least 1."""
    return max(1, int(channels * ratio))
