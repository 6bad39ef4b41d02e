"""The rounding every scaling rule shares: widths to multiples of 8, depths up, extras' widths.

``nas.scaling`` scales whole specs with these; a block's own scaling rule (``nas.blocks.dense``,
``fire``, ``inception``) uses them for the widths it keeps in extras.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas.blocks.kind import StageScaler
    from nas.spec_types import StageSpec


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor`` (at least one), never below 90% of value."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def scale_depth(repeats: int, depth: float) -> int:
    return math.ceil(repeats * depth)


def channel_extras_rule(names: frozenset[str], *, fixed_depth: bool = False) -> StageScaler:
    """A scaling rule for blocks whose extras ``names`` are channel counts (scaled with width,
    rounded, at least 1) and, with ``fixed_depth``, whose stage always holds one block."""

    def rule(stage: StageSpec, width: float, depth: float) -> StageSpec:
        extras = dict(stage.extras)
        for name in names & set(extras):
            extras[name] = max(1, round(float(extras[name]) * width))
        return stage.model_copy(
            update={
                "out_channels": make_divisible(stage.out_channels * width),
                "repeats": stage.repeats if fixed_depth else scale_depth(stage.repeats, depth),
                "extras": extras,
            }
        )

    return rule
