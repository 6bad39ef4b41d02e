"""Plain convolutions (``conv``: conv-BN-act layers, e.g. Inception-v3's stem): no extras, the
default scaling. Builder: ``nas.layers.plain``."""

from __future__ import annotations

from nas.blocks.kind import BlockKind

KINDS = (
    BlockKind(
        "conv",
        "conv-BN-act layers, kxk; the first one downsamples",
        "nas.layers.plain:conv_stage",
        extras=frozenset(),
    ),
)
