"""Block registry: stage builders looked up by the ``block`` name of a ``StageSpec``.

A builder turns one stage spec and its input channel count into a module whose output has
``stage.out_channels`` channels. Register new block types with :func:`register_block`, with an
optional validator that rejects impossible stages with a ``SpecError`` naming the field (run by
``ArchSpec.check_blocks`` whenever a spec is created); the contract tests run over every entry.
Build stages with :func:`build_stage`: it puts the grid reduction of a ``gridreduce`` stage in
front of the block's stage, so every block type takes every downsampling kind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from nas.errors import NotFoundError, SpecError

if TYPE_CHECKING:
    from torch import nn

    from nas.spec import Activation, StageSpec

StageBuilder = Callable[["StageSpec", int, "Activation"], "nn.Module"]
StageValidator = Callable[["StageSpec", int, str], None]
"""``(stage, channels into its first block, field prefix such as "stages[2]")``; raises
``SpecError``."""
StageScaler = Callable[["StageSpec", float, float], "StageSpec"]
"""``(stage, width, depth) -> scaled stage`` for blocks whose widths or depth are not just
``out_channels`` and ``repeats`` (see ``nas.scaling.scale_stage``)."""

_BUILDERS: dict[str, StageBuilder] = {}
_VALIDATORS: dict[str, StageValidator] = {}
_EXTRAS: dict[str, frozenset[str]] = {}
_SCALERS: dict[str, StageScaler] = {}
COMMON_EXTRAS = frozenset({"smoothness", "ramp"})
"""Extras every block accepts (DiffStride's ``smoothness`` and ``ramp``, read by
``nas.layers.downsample``)."""
MAX_SMOOTHNESS = 64.0


def register_block(
    name: str,
    description: str,
    validate: StageValidator | None = None,
    extras: frozenset[str] | None = None,
    scale: StageScaler | None = None,
) -> Callable[[StageBuilder], StageBuilder]:
    """Decorator: register ``builder`` under ``name`` (a lowercase word, no underscores).

    ``extras`` names the ``key=value`` extras the block reads; when given, any other key is
    rejected (a typo would otherwise be ignored) and a search that swaps block types drops the
    old block's extras. ``scale`` replaces the default width/depth scaling of its stages.
    """
    if not re.fullmatch(r"[a-z][a-z0-9]*", name):
        raise ValueError(f"block names are lowercase words without underscores, got {name!r}")

    def decorate(builder: StageBuilder) -> StageBuilder:
        if name in _BUILDERS:
            raise ValueError(f"block {name!r} is already registered")
        _BUILDERS[name] = builder
        if validate is not None:
            _VALIDATORS[name] = validate
        if extras is not None:
            _EXTRAS[name] = frozenset(extras)
        if scale is not None:
            _SCALERS[name] = scale
        return builder

    return decorate


def _ensure_loaded() -> None:
    import nas.layers.blocks  # noqa: F401  (registers the built-in blocks)


def block_names() -> list[str]:
    _ensure_loaded()
    return sorted(_BUILDERS)


def get_block(name: str) -> StageBuilder:
    """The raw builder of ``name`` (stride-1 or in-block downsampling; see ``build_stage``)."""
    _ensure_loaded()
    try:
        return _BUILDERS[name]
    except KeyError:
        raise NotFoundError(
            f"unknown block {name!r}; known: {', '.join(sorted(_BUILDERS))}", field="block"
        ) from None


def block_extras(name: str) -> frozenset[str] | None:
    """The extras ``name`` reads (plus the common ones), or None when it does not declare them."""
    get_block(name)
    known = _EXTRAS.get(name)
    return None if known is None else known | COMMON_EXTRAS


def block_scaler(name: str) -> StageScaler | None:
    """The block's own scaling rule, or None for the default one (unknown blocks too)."""
    _ensure_loaded()
    return _SCALERS.get(name)


def validate_stage(stage: StageSpec, in_channels: int, field: str = "stage") -> None:
    """Run ``stage.block``'s checks for a first block fed ``in_channels`` (``SpecError``)."""
    known = block_extras(stage.block)
    if known is not None:
        for key in sorted(set(stage.extras) - known):
            raise SpecError(
                f"{stage.block} does not read {key!r}; its extras: {', '.join(sorted(known))}",
                field=f"{field}.extras.{key}",
            )
    _validate_diffstride_extras(stage, field)
    validator = _VALIDATORS.get(stage.block)
    if validator is not None:
        validator(stage, in_channels, field)


def _validate_diffstride_extras(stage: StageSpec, field: str) -> None:
    """``smoothness``: a number in (0, 64] or ``auto``; ``ramp``: ``outside`` or ``inside``."""
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


def build_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """The module of one stage: ``(N, in_channels, H, W) -> (N, stage.out_channels, H', W')``.

    A downsampling ``gridreduce`` stage is Inception-v3's grid reduction (which doubles the
    channels) followed by the block's stage at stride 1; every other kind is the block's own.
    """
    from torch import nn

    from nas.layers.downsample import GridReduction

    builder = get_block(stage.block)
    validate_stage(stage, stage.block_in_channels(in_channels))
    if stage.downsample == "gridreduce" and stage.is_downsampling:
        reduce = GridReduction(in_channels, stage.stride, act)
        rest = stage.model_copy(update={"stride": (1.0, 1.0), "downsample": "strided"})
        return nn.Sequential(reduce, builder(rest, reduce.out_channels, act))
    return builder(stage, in_channels, act)
