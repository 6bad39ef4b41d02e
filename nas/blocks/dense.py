"""DenseNet(-BC)'s dense stage: ``[transition] + r`` layers of growth ``k``.

Its plan is the growth rate and the transition's width (``out_channels = t + repeats * k``),
from the extras ``growth``, ``bn`` (the bottleneck's multiple of growth) and ``theta`` (the
DenseNet-C compression, a check); its scaling keeps that sum. Builder: ``nas.layers.dense``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.blocks.extras import float_extra, int_extra
from nas.blocks.kind import BlockKind
from nas.blocks.rounding import make_divisible, scale_depth
from nas.errors import SpecError

if TYPE_CHECKING:
    from nas.spec_types import StageSpec

DEFAULT_BOTTLENECK = 4
DENSE_EXTRAS = frozenset({"growth", "bn", "theta"})


@dataclass(frozen=True)
class DenseWidths:
    growth: int
    bottleneck: int  # the bottleneck's multiple of growth; 0 = none
    transition: int  # channels entering the dense block (the transition's output)
    has_transition: bool


def dense_widths(stage: StageSpec, in_channels: int, field: str = "stage") -> DenseWidths:
    """The stage's growth rate and transition width; ``SpecError`` when they cannot work."""
    default_growth = max(1, stage.out_channels // (2 * stage.repeats))
    growth = int_extra(stage, "growth", default_growth, field, minimum=1)
    bottleneck = int_extra(stage, "bn", DEFAULT_BOTTLENECK, field, minimum=0, maximum=64)
    transition = stage.out_channels - stage.repeats * growth
    if transition < 1:
        raise SpecError(
            f"{stage.repeats} layers of growth {growth} need more than {stage.repeats * growth} "
            f"out channels (out = transition + repeats * growth), got {stage.out_channels}",
            field=f"{field}.out_channels",
        )
    if "theta" in stage.extras:
        theta = float_extra(stage, "theta", 0.5, field, minimum=1e-6, maximum=1.0)
        expected = math.floor(theta * in_channels)
        if expected < 1 or transition != expected:
            raise SpecError(
                f"theta={theta} compresses {in_channels} channels to {expected}, so out_channels "
                f"must be {expected} + {stage.repeats} x {growth} = "
                f"{expected + stage.repeats * growth}, got {stage.out_channels}",
                field=f"{field}.out_channels",
            )
    learnable = stage.downsample == "diffstride"  # may learn to downsample from stride 1
    has_transition = stage.is_downsampling or learnable or transition != in_channels
    return DenseWidths(growth, bottleneck, transition, has_transition)


def scale_dense(stage: StageSpec, width: float, depth: float) -> StageSpec:
    """A dense stage scaled: growth and transition widths x ``width``, layers x ``depth``, and
    out_channels recomputed as transition + repeats x growth. ``theta`` (a check tied to the
    unscaled widths) is dropped from a scaled stage."""
    if width == 1 and depth == 1:
        return stage
    extras = {k: v for k, v in stage.extras.items() if k != "theta"}
    repeats = scale_depth(stage.repeats, depth)
    if "growth" not in stage.extras:  # the default growth follows out_channels
        out = make_divisible(stage.out_channels * width)
        return stage.model_copy(update={"out_channels": out, "repeats": repeats, "extras": extras})
    growth = int(stage.extras["growth"])
    transition = stage.out_channels - stage.repeats * growth
    new_growth = max(1, round(growth * width))
    extras["growth"] = new_growth
    out = make_divisible(transition * width) + repeats * new_growth
    return stage.model_copy(update={"out_channels": out, "repeats": repeats, "extras": extras})


KINDS = (
    BlockKind(
        "dense",
        "DenseNet(-BC) dense block: [transition BN-act-1x1-pool] + r BN-act-conv layers of "
        "growth k",
        "nas.layers.dense:dense_stage",
        check=dense_widths,
        extras=DENSE_EXTRAS,
        scale=scale_dense,
    ),
)
