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

from dataclasses import dataclass

import torch
from torch import nn

from nas.errors import SpecError
from nas.layers.conv import make_activation
from nas.layers.downsample import make_downsampler, max_pool
from nas.layers.extras import float_extra, int_extra
from nas.spec import Activation, StageSpec

SQUEEZE_RATIO = 8  # out / squeeze in every SqueezeNet Fire module
EXTRAS = frozenset({"squeeze", "pct3", "bn"})


@dataclass(frozen=True)
class FireWidths:
    squeeze: int
    expand1: int
    expand3: int
    norm: bool


def fire_widths(stage: StageSpec, field: str = "stage") -> FireWidths:
    """Squeeze and expand widths of the stage's Fire modules (``SpecError`` if impossible)."""
    out = stage.out_channels
    if out < 2:
        raise SpecError(
            f"a Fire module concatenates a 1x1 and a 3x3 expand: needs >= 2, got {out}",
            field=f"{field}.out_channels",
        )
    squeeze = int_extra(stage, "squeeze", max(1, out // SQUEEZE_RATIO), field, minimum=1)
    if squeeze >= out:
        raise SpecError(
            f"the squeeze ({squeeze}) must be below the expand channels (out_channels = {out})",
            field=f"{field}.extras.squeeze",
        )
    share = float_extra(stage, "pct3", 0.5, field, minimum=0.0, maximum=1.0)
    expand3 = round(out * share)
    if not 1 <= expand3 <= out - 1:
        raise SpecError(
            f"pct3={share} leaves {expand3} of {out} channels to the 3x3 expand; both expands "
            "need >= 1",
            field=f"{field}.extras.pct3",
        )
    norm = bool(int_extra(stage, "bn", 0, field, minimum=0, maximum=1))
    return FireWidths(squeeze, out - expand3, expand3, norm)


def validate_fire(stage: StageSpec, in_channels: int, field: str) -> None:
    fire_widths(stage, field)


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
