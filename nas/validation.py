"""The block rules: which block types exist, which extras each reads, and the checks that reject
an impossible stage with a ``SpecError`` naming the field. Torch-free.

``nas.spec.ArchSpec`` runs ``check_blocks`` whenever a spec is created; the builders
(``nas.layers.builders``, which imports torch) are looked up by the same names. The built-in
blocks' rules are each block's own (``nas.blocks.<block>``: its check runs the pure shape rule
its builder uses), filed here from ``nas.blocks.catalog``; a block registered elsewhere with
``nas.layers.builders.register_block(validate=..., extras=...)`` declares its own through
``declare_block``. The rules common to every block (DiffStride's extras) are here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nas.blocks.catalog import BUILTINS
from nas.blocks.kind import StageValidator as StageValidator
from nas.errors import SpecError
from nas.registry import Registry

if TYPE_CHECKING:
    from nas.spec_types import ArchFields, StageSpec

COMMON_EXTRAS = frozenset({"smoothness", "ramp", "frozen"})
"""Extras every block accepts (DiffStride's ``smoothness``, ``ramp`` and ``frozen``, read by
``nas.layers.downsample``)."""
MAX_SMOOTHNESS = 64.0


@dataclass(frozen=True)
class BlockRules:
    """A block type's checks (None: any stage) and the extras it reads (None: undeclared, any)."""

    validate: StageValidator | None = None
    extras: frozenset[str] | None = None


BLOCK_RULES: Registry[BlockRules] = Registry("block")


def declare_block(
    name: str, validate: StageValidator | None = None, extras: frozenset[str] | None = None
) -> None:
    """Declare block type ``name`` (a lowercase word, no underscores: the block string splits
    tokens on ``_``) with its checks and the extras it reads. When ``extras`` is given, any
    other key is rejected (a typo would otherwise be ignored) and a search that swaps block
    types drops the old block's extras."""
    if not re.fullmatch(r"[a-z][a-z0-9]*", name):
        raise ValueError(f"block names are lowercase words without underscores, got {name!r}")
    BLOCK_RULES.add(name, BlockRules(validate, None if extras is None else frozenset(extras)))


def is_declared(name: str) -> bool:
    return name in BLOCK_RULES


def block_names() -> list[str]:
    return BLOCK_RULES.names()


def block_extras(name: str) -> frozenset[str] | None:
    """The extras ``name`` reads (plus the common ones), or None when it does not declare them."""
    known = BLOCK_RULES.get(name).extras
    return None if known is None else known | COMMON_EXTRAS


def validate_stage(stage: StageSpec, in_channels: int, field: str = "stage") -> None:
    """Run ``stage.block``'s checks for a first block fed ``in_channels`` (``SpecError``)."""
    rules = BLOCK_RULES.get(stage.block)
    known = block_extras(stage.block)
    if known is not None:
        for key in sorted(set(stage.extras) - known):
            raise SpecError(
                f"{stage.block} does not read {key!r}; its extras: {', '.join(sorted(known))}",
                field=f"{field}.extras.{key}",
            )
    _validate_diffstride_extras(stage, field)
    if rules.validate is not None:
        rules.validate(stage, in_channels, field)


def check_blocks(spec: ArchFields) -> None:
    """Every stage's block type must be declared and accept its stage (``SpecError``), given
    the channels each stage's first block receives."""
    channels = spec.stem.out_channels
    for index, stage in enumerate(spec.stages):
        if stage.block not in BLOCK_RULES:
            raise SpecError(
                f"unknown block {stage.block!r}; known: {', '.join(block_names())}",
                field=f"stages[{index}].block",
            )
        validate_stage(stage, stage.block_in_channels(channels), f"stages[{index}]")
        channels = stage.out_channels


def _validate_diffstride_extras(stage: StageSpec, field: str) -> None:
    """``smoothness``: a number in (0, 64] or ``auto``; ``ramp``: ``outside`` or ``inside``;
    ``frozen``: 0 or 1."""
    smoothness = stage.extras.get("smoothness")
    if (
        smoothness is not None
        and smoothness != "auto"
        and (isinstance(smoothness, str) or not 0 < smoothness <= MAX_SMOOTHNESS)
    ):
        raise SpecError(
            f"smoothness must be a number in (0, {MAX_SMOOTHNESS:g}] or 'auto', got {smoothness!r}",
            field=f"{field}.extras.smoothness",
        )
    placement = stage.extras.get("ramp")
    if placement is not None and placement not in ("outside", "inside"):
        raise SpecError(
            f"ramp must be 'outside' or 'inside', got {placement!r}", field=f"{field}.extras.ramp"
        )
    frozen = stage.extras.get("frozen")
    if frozen is not None and frozen not in (0, 1):
        raise SpecError(
            f"frozen must be 0 or 1 (1: DiffStride's strides held at their init), got {frozen!r}",
            field=f"{field}.extras.frozen",
        )


# ---- the built-in blocks: each one's rules are its module's (nas.blocks.<block>) -----------------

for _kind in BUILTINS:
    declare_block(_kind.name, _kind.check, _kind.extras)
