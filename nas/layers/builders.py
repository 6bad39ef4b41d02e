"""Block registry: stage builders looked up by the ``block`` name of a ``StageSpec``.

A builder turns one stage spec and its input channel count into a module whose output has
``stage.out_channels`` channels. The built-in blocks' builders are in their torch modules
(``nas.layers.resnet``, ``dense``, ``fire``, ...), named by each block kind of
``nas.blocks.catalog`` (``"module:function"``) and imported at the first lookup. Register new
block types with :func:`register_block`; its checks and extras go to the torch-free block rules
(``nas.validation``, run by ``ArchSpec`` whenever a spec is created) and its scaling rule to
``nas.scaling``; the contract tests run over every entry. Build stages with
:func:`build_stage`: it puts the grid reduction of a ``gridreduce`` stage in front of the block's
stage, so every block type takes every downsampling kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import nn

from nas.blocks.catalog import BUILTINS
from nas.layers.downsample import GridReduction
from nas.registry import Registry
from nas.scaling import StageScaler, register_scaler
from nas.validation import StageValidator, declare_block, is_declared, validate_stage

if TYPE_CHECKING:
    from nas.spec_types import Activation, StageSpec

StageBuilder = Callable[["StageSpec", int, "Activation"], nn.Module]


def resolve_builder(where: str) -> StageBuilder:
    """The builder a block kind names as ``"module:function"`` (imports its module)."""
    module, _, name = where.partition(":")
    builder: StageBuilder = getattr(importlib.import_module(module), name)
    return builder


def _load_builtins() -> None:
    for kind in BUILTINS:
        BLOCKS.add(kind.name, resolve_builder(kind.builder))


BLOCKS: Registry[StageBuilder] = Registry("block", load=_load_builtins)


def register_block(
    name: str,
    description: str,
    validate: StageValidator | None = None,
    extras: frozenset[str] | None = None,
    scale: StageScaler | None = None,
) -> Callable[[StageBuilder], StageBuilder]:
    """Decorator: register ``builder`` under ``name`` (a lowercase word, no underscores).

    ``description`` says what the block is, at the registration. ``validate`` and ``extras``
    declare the block's rules (``nas.validation.declare_block``) unless they are declared there
    already (the built-in blocks', from ``nas.blocks``); ``scale`` replaces the default
    width/depth scaling of its stages (``nas.scaling.register_scaler``).
    """

    def decorate(builder: StageBuilder) -> StageBuilder:
        if name in BLOCKS:
            raise ValueError(f"block {name!r} is already registered")
        if validate is not None or extras is not None or not is_declared(name):
            declare_block(name, validate, extras)
        if scale is not None:
            register_scaler(name, scale)
        return BLOCKS.add(name, builder)

    return decorate


def get_block(name: str) -> StageBuilder:
    """The raw builder of ``name`` (stride-1 or in-block downsampling; see ``build_stage``)."""
    return BLOCKS.get(name)


def build_stage(stage: StageSpec, in_channels: int, act: Activation) -> nn.Module:
    """The module of one stage: ``(N, in_channels, H, W) -> (N, stage.out_channels, H', W')``.

    A downsampling ``gridreduce`` stage is Inception-v3's grid reduction (which doubles the
    channels) followed by the block's stage at stride 1; every other kind is the block's own.
    """
    builder = get_block(stage.block)
    validate_stage(stage, stage.block_in_channels(in_channels))
    if stage.downsample == "gridreduce" and stage.is_downsampling:
        reduce = GridReduction(in_channels, stage.stride, act)
        rest = stage.model_copy(update={"stride": (1.0, 1.0), "downsample": "strided"})
        return nn.Sequential(reduce, builder(rest, reduce.out_channels, act))
    return builder(stage, in_channels, act)
