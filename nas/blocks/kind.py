"""``BlockKind``: everything the product knows of one block type, torch-free."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nas.spec_types import StageSpec

StageValidator = Callable[["StageSpec", int, str], object]
"""``(stage, channels into its first block, field prefix such as "stages[2]")``; raises
``SpecError``. What it returns (a block's plan) is not used."""

StageScaler = Callable[["StageSpec", float, float], "StageSpec"]
"""``(stage, width, depth) -> scaled stage`` for blocks whose widths or depth are not just
``out_channels`` and ``repeats`` (see ``nas.scaling.scale_stage``)."""


@dataclass(frozen=True)
class BlockKind:
    """One block type: its name in the block string (a lowercase word, no underscores), what it
    is, its torch builder as ``"module:function"`` (resolved by ``nas.layers.builders`` only
    when a model is built), its check (None: any stage), the extras it reads (None: undeclared,
    any) and its scaling rule (None: channels x width, repeats x depth)."""

    name: str
    description: str
    builder: str
    check: StageValidator | None = None
    extras: frozenset[str] | None = None
    scale: StageScaler | None = None
