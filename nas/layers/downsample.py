"""How a stage reduces resolution: strided convolution, max pooling, fixed spectral pooling,
DiffStride, or Inception-v3's efficient grid reduction.

A block asks :func:`make_downsampler` once per stage; it returns the stride the block's strided
convolution (and 1x1 shortcut) should use and an optional pooling module applied right after that
(then unstrided) convolution. As in the DiffStride reference ResNet, the same pooling instance
also follows the shortcut's 1x1 projection, so both branches agree on the output size and both
contribute gradient to a learned stride.

``gridreduce`` is different: it is a module of its own in front of the stage
(:class:`GridReduction`, put there by ``nas.layers.builders.build_stage``), so any block type
can take it. Szegedy et al. 2016 (Rethinking the Inception Architecture, Sec. 7, Fig. 10):
pooling before a convolution loses information and a convolution before pooling is expensive;
a stride-``s`` 3x3 convolution and a stride-``s`` max pool *in parallel*, concatenated, are
both cheap and keep the representation: ``(N, C, H, W) -> (N, 2C, H/s, W/s)``.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.layers.conv import conv_bn_act
from nas.layers.diffstride import DiffStride, Ramp, Smoothness
from nas.layers.spectral_pool import SpectralPool
from nas.spec_types import Activation, StageSpec

ConvStride = tuple[int, int]
DEFAULT_SMOOTHNESS = 4.0  # R of the DiffStride paper; a stage overrides it with smoothness=<R>
DEFAULT_RAMP = "outside"  # the paper's mask; a stage overrides it with ramp=inside


def max_pool(stride: ConvStride) -> nn.MaxPool2d:
    """3x3 max pool with padding 1: ``ceil(H / s)`` rows, like a 'same' strided convolution."""
    return nn.MaxPool2d(3, stride=stride, padding=1)


def make_downsampler(stage: StageSpec) -> tuple[ConvStride, nn.Module | None]:
    """``(conv_stride, pool)`` for the first block of ``stage``."""
    if stage.downsample == "diffstride":
        # Learnable even from stride 1: DiffStride may learn to downsample where the init did not.
        raw = stage.extras.get("smoothness", DEFAULT_SMOOTHNESS)
        smoothness: Smoothness = "auto" if raw == "auto" else float(raw)
        placement: Ramp = "inside" if stage.extras.get("ramp") == "inside" else "outside"
        learnable = not stage.extras.get("frozen", 0)  # frozen=1: strides held at their init
        layer = DiffStride(stage.stride, smoothness=smoothness, ramp=placement, learnable=learnable)
        return (1, 1), layer
    if stage.downsample == "spectral":
        return (1, 1), (SpectralPool(stride=stage.stride) if stage.is_downsampling else None)
    integer = (int(stage.stride[0]), int(stage.stride[1]))
    if stage.downsample == "maxpool":
        return (1, 1), (max_pool(integer) if stage.is_downsampling else None)
    if stage.downsample == "gridreduce" and stage.is_downsampling:
        raise ValueError("a gridreduce stage is built by nas.layers.builders.build_stage")
    return integer, None


def needs_projection(in_channels: int, out_channels: int, stage: StageSpec) -> bool:
    """A residual shortcut needs a 1x1 projection when shape changes (or may change)."""
    return in_channels != out_channels or stage.is_downsampling or stage.downsample == "diffstride"


class GridReduction(nn.Module):
    """Strided 3x3 conv-BN-act (``C`` filters) next to a strided 3x3 max pool, concatenated."""

    def __init__(
        self, in_channels: int, stride: tuple[float, float], act: Activation = "relu"
    ) -> None:
        super().__init__()
        integer = (int(stride[0]), int(stride[1]))
        self.conv = conv_bn_act(in_channels, in_channels, 3, integer, act=act)
        self.pool = max_pool(integer)
        self.out_channels = 2 * in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv(x)  # (N, C, H/s, W/s)
        pool = self.pool(x)  # (N, C, H/s, W/s)
        return torch.cat([conv, pool], 1)  # (N, 2C, H/s, W/s)
