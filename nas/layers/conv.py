"""Conv-BN-activation helpers shared by every block."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from nas.spec_types import Activation


class SubsampledConv2d(nn.Conv2d):
    """A strided 1x1 convolution computed as what it is: every ``s``-th pixel, then a 1x1
    convolution (the same parameters, output, MACs and gradients as ``nn.Conv2d``).

    oneDNN 3.12 (torch 2.13 on CPU) corrupts the heap in the weight gradient of a stride-2 1x1
    convolution in channels_last with fewer than 16 input channels and an odd batch on 2
    threads (a segfault or "corrupted size vs. prev_size"); this path never calls that kernel.
    The subsampling is a 1x1 average pool, whose backward keeps channels_last (a slice's
    scatters into a plain-layout gradient: 20-30% slower steps on the 3-stage ResNet).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool2d(x, 1, self.stride)  # (N, C_in, ceil(H/sh), ceil(W/sw)): x[::sh, ::sw]
        return F.conv2d(x, self.weight, self.bias, groups=self.groups)  # (N, C_out, H/sh, W/sw)


def conv2d(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    groups: int = 1,
    bias: bool = False,
) -> nn.Conv2d:
    """``nn.Conv2d`` with 'same' padding (odd kernels); a strided 1x1 one subsamples first
    (:class:`SubsampledConv2d`)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    kind = SubsampledConv2d if (kh, kw) == (1, 1) and (sh, sw) != (1, 1) else nn.Conv2d
    return kind(
        in_channels,
        out_channels,
        (kh, kw),
        stride=(sh, sw),
        padding=(kh // 2, kw // 2),
        groups=groups,
        bias=bias,
    )


def make_activation(name: Activation) -> nn.Module:
    """``relu`` (ResNet family), ``silu`` (swish, EfficientNet) or ``relu6`` (MobileNetV2)."""
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "relu6":
        return nn.ReLU6(inplace=True)
    return nn.ReLU(inplace=True)


def conv_bn(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, int] = 3,
    stride: int | tuple[int, int] = 1,
    groups: int = 1,
) -> nn.Sequential:
    """Convolution with 'same' padding (odd kernels) followed by batch norm; no activation."""
    conv = conv2d(in_channels, out_channels, kernel, stride, groups)
    return nn.Sequential(conv, nn.BatchNorm2d(out_channels))


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, int] = 3,
    stride: int | tuple[int, int] = 1,
    groups: int = 1,
    act: Activation = "relu",
) -> nn.Sequential:
    """Convolution, batch norm, activation."""
    layers = conv_bn(in_channels, out_channels, kernel, stride, groups)
    layers.append(make_activation(act))
    return layers
