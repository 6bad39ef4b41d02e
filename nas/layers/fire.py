"""SqueezeNet's Fire module (Iandola et al. 2016), layout as in torchvision's ``squeezenet.py``.

squeeze: 1x1 conv to ``s`` channels + act; expand: a 1x1 conv (``e1``) and a 3x3 conv (``e3``) on
the squeezed maps, each + act, concatenated: ``out_channels = e1 + e3``. The squeeze must stay
below the expand channels (``s < e1 + e3``, the paper's Strategy 2: few input channels to the 3x3
filters). Convolutions are biased and there is no batch norm, as in SqueezeNet; ``bn=1`` makes
them conv-BN (no bias).

Extras: ``squeeze=<s>`` (default ``out // 8``, SqueezeNet's squeeze ratio 0.125), ``pct3=<p>``
(the 3x3 share of the expand channels, default 0.5), ``bn=<0|1>``. A downsampling stage opens
with a 3x3 max pool for ``strided``/``maxpool`` (SqueezeNet's late downsampling) or the kind's
pool for ``spectral``/``diffstride``, before its first Fire module.
"""

from __future__ import annotations

import torch
from torch import nn

from nas.blocks.fire import FireWidths, fire_widths
from nas.layers.conv import make_activation
from nas.layers.downsample import make_downsampler, max_pool
from nas.spec_types import Activation, StageSpec


def _conv(cin: int, cout: int, kernel: int, norm: bool, act: Activation) -> nn.Sequential:
    conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=not norm)
    layers: list[nn.Module] = [conv, nn.BatchNorm2d(cout)] if norm else [conv]
    return nn.Sequential(*layers, make_activation(act))


class Fire(nn.Module):
    """Squeeze 1x1, then expand 1x1 and 3x3 in parallel, concatenated."""

    def __init__(self, in_channels: int, widths: FireWidths, act: Activation = "relu") -> None:
        super().__init__()
        self.squeeze = _conv(in_channels, widths.squeeze, 1, widths.norm, act)
        self.expand1x1 = _conv(widths.squeeze, widths.expand1, 1, widths.norm, act)
        self.expand3x3 = _conv(widths.squeeze, widths.expand3, 3, widths.norm, act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.squeeze(x)  # (N, S, H, W)
        return torch.cat([self.expand1x1(s), self.expand3x3(s)], 1)  # (N, E1 + E3, H, W)


def fire_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """[pool] + ``repeats`` Fire modules, ``(N, C_in, H, W) -> (N, out, H/s, W/s)``."""
    widths = fire_widths(stage)
    conv_stride, pool = make_downsampler(stage)
    if pool is None and conv_stride != (1, 1):
        pool = max_pool(conv_stride)
    modules: list[nn.Module] = [pool] if pool is not None else []
    modules += [
        Fire(in_channels if i == 0 else stage.out_channels, widths, act)
        for i in range(stage.repeats)
    ]
    return nn.Sequential(*modules)
