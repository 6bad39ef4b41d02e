"""Dynamic convolution's block (``dynamic``): a ResNet basic block of K-kernel convolutions.

Its plan is K and the attention's temperature schedule (extras ``kernels``, ``t0``,
``tepochs``); it scales by the default rule. Builder: ``nas.layers.dynamic_conv``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.blocks.extras import float_extra, int_extra
from nas.blocks.kind import BlockKind

if TYPE_CHECKING:
    from nas.spec_types import StageSpec

DEFAULT_KERNELS = 4
DYNAMIC_EXTRAS = frozenset({"kernels", "t0", "tepochs"})


def dynamic_options(stage: StageSpec, field: str = "stage") -> tuple[int, float, int]:
    """K, the starting temperature and the epochs it falls over, from a ``dynamic`` stage's
    extras."""
    kernels = int_extra(stage, "kernels", DEFAULT_KERNELS, field, minimum=1, maximum=64)
    start = float_extra(stage, "t0", 30.0, field, minimum=1.0, maximum=1000.0)
    epochs = int_extra(stage, "tepochs", 10, field, minimum=0, maximum=10_000)
    return kernels, start, epochs


def _check(stage: StageSpec, in_channels: int, field: str) -> None:
    dynamic_options(stage, field)


KINDS = (
    BlockKind(
        "dynamic",
        "ResNet basic block of dynamic convolutions (K kernels mixed by attention; optional SE)",
        "nas.layers.dynamic_conv:dynamic_stage",
        check=_check,
        extras=DYNAMIC_EXTRAS,
    ),
)
