"""SqueezeNet's Fire module: squeeze 1x1, then expand 1x1 and 3x3, concatenated.

Its plan is the squeeze and the two expand widths (extras ``squeeze``, ``pct3``; ``bn``: conv-BN
instead of biased convolutions); its scaling scales the squeeze with width. Builder:
``nas.layers.fire``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.blocks.extras import float_extra, int_extra
from nas.blocks.kind import BlockKind
from nas.blocks.rounding import channel_extras_rule
from nas.errors import SpecError

if TYPE_CHECKING:
    from nas.spec_types import StageSpec

SQUEEZE_RATIO = 8  # out / squeeze in every SqueezeNet Fire module
FIRE_EXTRAS = frozenset({"squeeze", "pct3", "bn"})


@dataclass(frozen=True)
class FireWidths:
    squeeze: int
    expand1: int
    expand3: int
    norm: bool


def fire_widths(stage: StageSpec, field: str = "stage") -> FireWidths:
    """Squeeze and expand widths of the stage's Fire modules (``SpecError`` if impossible)."""
    out = stage.out_channels
    if out < 2:
        raise SpecError(
            f"a Fire module concatenates a 1x1 and a 3x3 expand: needs >= 2, got {out}",
            field=f"{field}.out_channels",
        )
    squeeze = int_extra(stage, "squeeze", max(1, out // SQUEEZE_RATIO), field, minimum=1)
    if squeeze >= out:
        raise SpecError(
            f"the squeeze ({squeeze}) must be below the expand channels (out_channels = {out})",
            field=f"{field}.extras.squeeze",
        )
    share = float_extra(stage, "pct3", 0.5, field, minimum=0.0, maximum=1.0)
    expand3 = round(out * share)
    if not 1 <= expand3 <= out - 1:
        raise SpecError(
            f"pct3={share} leaves {expand3} of {out} channels to the 3x3 expand; both expands "
            "need >= 1",
            field=f"{field}.extras.pct3",
        )
    norm = bool(int_extra(stage, "bn", 0, field, minimum=0, maximum=1))
    return FireWidths(squeeze, out - expand3, expand3, norm)


def _check(stage: StageSpec, in_channels: int, field: str) -> None:
    fire_widths(stage, field)


KINDS = (
    BlockKind(
        "fire",
        "SqueezeNet Fire: squeeze 1x1, expand 1x1 + 3x3 concatenated (squeeze < expand)",
        "nas.layers.fire:fire_stage",
        check=_check,
        extras=FIRE_EXTRAS,
        scale=channel_extras_rule(frozenset({"squeeze"})),
    ),
)
