"""The network assembled from an ArchSpec: stem, stages from the block registry, head."""

from __future__ import annotations

import torch
from torch import nn

from nas.layers.conv import conv_bn_act
from nas.layers.registry import get_block
from nas.spec import ArchSpec


class Network(nn.Module):
    """stem -> stages -> [1x1 conv] -> global average pool -> dropout -> linear."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        stem = spec.stem
        self.stem = conv_bn_act(
            spec.in_channels, stem.out_channels, stem.kernel, stem.stride, act=spec.activation
        )
        if stem.max_pool:
            self.stem.append(nn.MaxPool2d(3, 2, 1))
        channels = stem.out_channels
        stages = []
        for stage in spec.stages:
            stages.append(get_block(stage.block)(stage, channels, spec.activation))
            channels = stage.out_channels
        self.stages = nn.Sequential(*stages)
        head = spec.head
        self.head_conv = (
            conv_bn_act(channels, head.channels, 1, act=spec.activation) if head.channels else None
        )
        features = head.channels or channels
        self.dropout = nn.Dropout(head.dropout) if head.dropout else nn.Identity()
        self.classifier = nn.Linear(features, spec.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torchvision's initialisation: He (fan-out) convs, unit BN, small linear weights."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, C_stem, H/s, W/s)
        x = self.stages(x)  # (N, C_last, H/S, W/S), S = product of strides
        if self.head_conv is not None:
            x = self.head_conv(x)  # (N, C_head, H/S, W/S)
        x = x.mean((2, 3))  # (N, C)
        return self.classifier(self.dropout(x))  # type: ignore[no-any-return]  # (N, classes)


def build_model(spec: ArchSpec) -> Network:
    """The model is a function of its spec (weights initialised by torch's defaults)."""
    spec.check_blocks()
    return Network(spec)
