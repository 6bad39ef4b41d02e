"""MBConv (the inverted residual of MobileNetV2 and EfficientNet) and its depthwise-separable
form (expand ratio 1): widths ``out_channels`` and ``e``, no extras of their own, the default
scaling. Builder: ``nas.layers.mbconv``."""

from __future__ import annotations

from nas.blocks.kind import BlockKind

KINDS = (
    BlockKind(
        "ir",
        "MBConv inverted residual: expand 1x1, depthwise kxk, SE, project 1x1",
        "nas.layers.mbconv:mbconv_stage",
        extras=frozenset(),  # none of its own: a typo is an error, not ignored
    ),
    BlockKind(
        "ds",
        "depthwise-separable conv (MBConv with expand ratio 1), SE optional",
        "nas.layers.mbconv:mbconv_stage",
        extras=frozenset(),  # none of its own: a typo is an error, not ignored
    ),
)
