"""Conv-BN-activation helpers shared by every block."""

from __future__ import annotations

from torch import nn

from nas.spec import Activation


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
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    conv = nn.Conv2d(
        in_channels,
        out_channels,
        (kh, kw),
        stride=stride,
        padding=(kh // 2, kw // 2),
        groups=groups,
        bias=False,
    )
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
