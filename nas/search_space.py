"""What a job searches and what it optimises: ``SearchSpace`` and ``Objectives``.

Strategies read both (``nas.strategies.base.StrategyContext``); ``nas.job.JobSpec`` holds them.
They live apart from the job so that the strategies, which the job validates its strategy
configs against, never import the job.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nas.spec import DownsampleKind
from nas.validation import block_names

_STRICT = ConfigDict(frozen=True, extra="forbid")


class SearchSpace(BaseModel):
    """What the fixed-stride strategies may choose; DiffStride and compound read parts of it.

    ``strides[i]`` lists the integer strides stage ``i`` may take (one list per stage of the
    base; a single-element list fixes it). ``blocks[i]`` lists the block types stage ``i`` may
    take (``nas.validation.block_names()``; one list per stage, or a single list for every
    stage; empty: the base's). ``downsamples`` lists downsampling kinds for all stages at once
    (e.g. ``["strided", "gridreduce"]``; empty: the base's). ``widths`` and ``depths`` are
    multipliers of the base, ``resolutions`` input sizes (empty: the base's).
    """

    model_config = _STRICT
    strides: list[list[int]] = Field(default_factory=list)
    blocks: list[list[str]] = Field(default_factory=list)
    downsamples: list[DownsampleKind] = Field(default_factory=list)
    widths: list[float] = Field(default_factory=lambda: [1.0])
    depths: list[float] = Field(default_factory=lambda: [1.0])
    resolutions: list[int] = Field(default_factory=list)

    @field_validator("blocks")
    @classmethod
    def _blocks_known(cls, value: list[list[str]]) -> list[list[str]]:
        known = block_names()
        for i, choices in enumerate(value):
            if not choices:
                raise ValueError(f"stage {i} has no block choices")
            if len(set(choices)) != len(choices):
                raise ValueError(f"stage {i} lists a block twice: {choices}")
            unknown = [b for b in choices if b not in known]
            if unknown:
                raise ValueError(
                    f"stage {i}: unknown block {unknown[0]!r}; known: {', '.join(known)}"
                )
        return value

    @field_validator("downsamples")
    @classmethod
    def _downsamples_distinct(cls, value: list[DownsampleKind]) -> list[DownsampleKind]:
        if len(set(value)) != len(value):
            raise ValueError(f"a downsampling kind is listed twice: {value}")
        return value

    def stage_blocks(self, stages: int) -> list[list[str]]:
        """Block choices per stage (a single list applies to every stage; empty: none)."""
        if len(self.blocks) == 1 and stages != 1:
            return [list(self.blocks[0]) for _ in range(stages)]
        return [list(c) for c in self.blocks]

    @field_validator("strides")
    @classmethod
    def _strides_valid(cls, value: list[list[int]]) -> list[list[int]]:
        for i, choices in enumerate(value):
            if not choices:
                raise ValueError(f"stage {i} has no stride choices")
            if any(s < 1 or s > 8 for s in choices):
                raise ValueError(f"stage {i}: strides must be integers in 1..8, got {choices}")
        return value

    @field_validator("widths", "depths")
    @classmethod
    def _multipliers_valid(cls, value: list[float]) -> list[float]:
        if not value:
            raise ValueError("needs at least one multiplier")
        if any(v <= 0 or v > 8 for v in value):
            raise ValueError(f"multipliers must be in (0, 8], got {value}")
        return value

    @field_validator("resolutions")
    @classmethod
    def _resolutions_valid(cls, value: list[int]) -> list[int]:
        if any(r < 8 or r > 1024 for r in value):
            raise ValueError(f"resolutions must be in 8..1024, got {value}")
        return value


class Objectives(BaseModel):
    """Validation accuracy is maximised; optionally a cost is minimised as a second objective."""

    model_config = _STRICT
    secondary: Literal["macs", "params"] | None = None
    max_macs: int | None = Field(default=None, gt=0, description="ceiling for compound scaling")
    max_params: int | None = Field(default=None, gt=0)
