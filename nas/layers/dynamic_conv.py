"""Dynamic convolution (Chen et al., CVPR 2020, "Dynamic Convolution: Attention over Convolution
Kernels").

``K`` parallel kernels ``W_k`` (and biases) are aggregated per input by an attention
``pi(x) = softmax(FC(ReLU(FC(GAP(x)))) / tau)``, which sums to 1 over the kernels: an SE-style
squeeze whose first FC reduces the channels by 4 (paper Sec. 4.1). The kernels are aggregated
first, ``W(x) = sum_k pi_k(x) W_k``, and **one** convolution is applied; since convolution is
linear in its weight, that equals the attention-weighted sum of the K convolutions' outputs at
about the cost of one convolution (plus ``K x |W|`` MACs of aggregation per image). A batch is
convolved in one call: the images become the groups of a grouped convolution,
``(1, N*C_in, H, W) * (N*C_out, C_in/g, k, k)`` with ``N*g`` groups.

The temperature ``tau`` follows a :class:`~nas.layers.schedules.TemperatureSchedule` (paper: 30
falling linearly to 1 over the first 10 epochs), stepped by the training loop through
``set_epoch``. Block extras: ``kernels=<K>`` (default 4), ``t0=<start>`` (30), ``tepochs=<n>`` (10):
the ``dynamic`` stage, a ResNet basic block of these; its rules are ``nas.blocks.dynamic_conv``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nas.blocks.dynamic_conv import DEFAULT_KERNELS, dynamic_options
from nas.layers.downsample import ConvStride
from nas.layers.resnet import basic_stage
from nas.layers.schedules import TemperatureSchedule
from nas.spec_types import Activation, StageSpec

ATTENTION_REDUCTION = 4


class KernelAttention(nn.Module):
    """GAP, FC to ``C/4``, ReLU, FC to ``K``, softmax(logits / temperature) over the kernels."""

    def __init__(self, in_channels: int, kernels: int) -> None:
        super().__init__()
        hidden = max(1, in_channels // ATTENTION_REDUCTION)
        self.reduce = nn.Linear(in_channels, hidden)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Linear(hidden, kernels)

    def forward(self, x: torch.Tensor, temperature: float) -> torch.Tensor:
        pooled = x.mean((2, 3))  # (N, C)
        logits = self.expand(self.act(self.reduce(pooled)))  # (N, K)
        return torch.softmax(logits / temperature, dim=1)  # (N, K), rows sum to 1


class DynamicConv2d(nn.Module):
    """A ``kernel x kernel`` convolution whose weight is an input-dependent mix of K kernels."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 3,
        stride: ConvStride = (1, 1),
        *,
        kernels: int = DEFAULT_KERNELS,
        groups: int = 1,
        bias: bool = False,
        schedule: TemperatureSchedule | None = None,
    ) -> None:
        super().__init__()
        if kernels < 1:
            raise ValueError(f"kernels must be >= 1, got {kernels}")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide {in_channels} and {out_channels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel, self.stride, self.padding = kernel, stride, kernel // 2
        self.groups, self.kernels = groups, kernels
        # (K, C_out, C_in/g * k * k): 3-D, so ``model.to(memory_format=channels_last)`` (which
        # restrides every 4-D and refuses 5-D parameters) leaves it alone; see ``kernel_weight``.
        self.weight = nn.Parameter(
            torch.empty(kernels, out_channels, in_channels // groups * kernel * kernel)
        )
        self.bias = nn.Parameter(torch.zeros(kernels, out_channels)) if bias else None
        self.attention = KernelAttention(in_channels, kernels)
        self.schedule = schedule or TemperatureSchedule()
        self.temperature = self.schedule(0)
        with torch.no_grad():  # each kernel initialised like a standalone convolution
            for k in range(kernels):
                nn.init.kaiming_normal_(self.kernel_weight(k), mode="fan_out", nonlinearity="relu")

    def kernel_weight(self, k: int) -> torch.Tensor:
        """Kernel ``W_k`` as a convolution weight (C_out, C_in/g, k, k), a view of the parameter."""
        return self.weight[k].view(
            self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel
        )

    def set_epoch(self, epoch: int) -> None:
        """Set the temperature for ``epoch`` from the schedule (called by the training loop)."""
        self.temperature = self.schedule(epoch)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``pi(x)``: (N, K), non-negative, each row summing to 1."""
        return self.attention(x, self.temperature)  # type: ignore[no-any-return]

    def aggregate(self, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-image kernel ``sum_k pi_k W_k`` and bias, stacked for the grouped convolution."""
        n = weights.shape[0]
        kernel = weights @ self.weight.flatten(1)  # (N, C_out * C_in/g * k * k): sum_k pi_k W_k
        kernel = kernel.view(
            n * self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel
        )
        bias = (weights @ self.bias).flatten() if self.bias is not None else None  # (N*C_out,)
        return kernel, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        weights = self.attention_weights(x)  # (N, K)
        kernel, bias = self.aggregate(weights)  # (N*C_out, C_in/g, k, k)
        out = F.conv2d(
            x.reshape(1, n * c, h, w),  # (1, N*C_in, H, W): images as groups
            kernel,
            bias,
            stride=self.stride,
            padding=self.padding,
            groups=n * self.groups,
        )  # (1, N*C_out, H/s, W/s)
        return out.view(n, self.out_channels, out.shape[-2], out.shape[-1])  # (N, C_out, H/s, W/s)

    def macs_per_image(self, out_height: int, out_width: int) -> int:
        """An independent count: the convolution, the kernel aggregation and the attention FCs."""
        per_output = self.in_channels // self.groups * self.kernel * self.kernel
        conv = self.out_channels * out_height * out_width * per_output
        aggregate = self.weight.numel() + (self.bias.numel() if self.bias is not None else 0)
        hidden = self.attention.reduce.out_features
        attention = self.in_channels * hidden + hidden * self.kernels
        return conv + aggregate + attention

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel={self.kernel}, "
            f"stride={self.stride}, kernels={self.kernels}, temperature={self.temperature:g}"
        )


def dynamic_conv_factory(
    kernels: int, schedule: TemperatureSchedule
) -> Callable[[int, int, int, ConvStride], nn.Module]:
    """A ``ConvFactory`` for ``nas.layers.resnet.BasicBlock``: dynamic kxk convolutions."""

    def make(in_channels: int, out_channels: int, kernel: int, stride: ConvStride) -> nn.Module:
        return DynamicConv2d(
            in_channels, out_channels, kernel, stride, kernels=kernels, schedule=schedule
        )

    return make


def dynamic_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """``repeats`` ResNet basic blocks of dynamic convolutions; the first one downsamples."""
    kernels, start, epochs = dynamic_options(stage)
    make_conv = dynamic_conv_factory(
        kernels, TemperatureSchedule(start=start, end=1.0, epochs=epochs)
    )
    return basic_stage(stage, in_channels, act, make_conv)
