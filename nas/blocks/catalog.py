"""Every built-in block kind, in the order the registries file them."""

from __future__ import annotations

from nas.blocks import dense, dynamic_conv, fire, inception, mbconv, plain, resnet
from nas.blocks.kind import BlockKind

BUILTINS: tuple[BlockKind, ...] = (
    *resnet.KINDS,
    *mbconv.KINDS,
    *plain.KINDS,
    *dense.KINDS,
    *fire.KINDS,
    *dynamic_conv.KINDS,
    *inception.KINDS,
)
