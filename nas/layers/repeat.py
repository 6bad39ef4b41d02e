"""A stage of ``repeats`` blocks of one kind; only the first changes channels and resolution."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from nas.layers.downsample import ConvStride, make_downsampler
from nas.spec_types import StageSpec

# (in_channels, conv_stride, pool, is_first) -> block
BlockFactory = Callable[[int, ConvStride, nn.Module | None, bool], nn.Module]


def repeat_blocks(stage: StageSpec, in_channels: int, make: BlockFactory) -> nn.Sequential:
    """``stage.repeats`` blocks; the first one gets the stage's downsampler."""
    conv_stride, pool = make_downsampler(stage)
    blocks = [make(in_channels, conv_stride, pool, True)]
    blocks += [make(stage.out_channels, (1, 1), None, False) for _ in range(stage.repeats - 1)]
    return nn.Sequential(*blocks)
