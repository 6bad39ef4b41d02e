"""How a stage reduces resolution: strided convolution, fixed spectral pooling, or DiffStride.

A block asks :func:`make_downsampler` once per stage; it returns the stride the block's strided
convolution (and 1x1 shortcut) should use and an optional pooling module applied right after that
(then unstrided) convolution. As in the DiffStride reference ResNet, the same pooling instance
also follows the shortcut's 1x1 projection, so both branches agree on the output size and both
contribute gradient to a learned stride.
"""

from __future__ import annotations

from torch import nn

from nas.layers.diffstride import DiffStride
from nas.layers.spectral_pool import SpectralPool
from nas.spec import StageSpec

ConvStride = tuple[int, int]
DEFAULT_SMOOTHNESS = 4.0  # R of the DiffStride paper; a stage overrides it with smoothness=<R>


def make_downsampler(stage: StageSpec) -> tuple[ConvStride, nn.Module | None]:
    """``(conv_stride, pool)`` for the first block of ``stage``."""
    if stage.downsample == "diffstride":
        # Learnable even from stride 1: DiffStride may learn to downsample where the init did not.
        smoothness = float(stage.extras.get("smoothness", DEFAULT_SMOOTHNESS))
        return (1, 1), DiffStride(init_stride=stage.stride, smoothness=smoothness)
    if stage.downsample == "spectral":
        return (1, 1), (SpectralPool(stride=stage.stride) if stage.is_downsampling else None)
    return (int(stage.stride[0]), int(stage.stride[1])), None


def needs_projection(in_channels: int, out_channels: int, stage: StageSpec) -> bool:
    """A residual shortcut needs a 1x1 projection when shape changes (or may change)."""
    return in_channels != out_channels or stage.is_downsampling or stage.downsample == "diffstride"
