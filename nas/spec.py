"""Architectures as values: a frozen, validated ``ArchSpec`` (stem, stages, head).

Its short block string (``resnet:r28:c1:n10:relu:stem_c16:basic_r2_c16:...:head_d0``, the
grammar and the fields each block type reads) is ``nas.grammar``'s; ``to_string`` and
``from_string`` go through it. Block-specific checks are ``nas.validation``'s, run whenever a
spec is created, so ``ArchSpec.model_validate_json(spec.model_dump_json()) == spec`` and
``from_string(s).to_string() == s`` for every canonical string.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nas.errors import SpecError
from nas.grammar import DOWNSAMPLE_KINDS as DOWNSAMPLE_KINDS
from nas.grammar import DownsampleKind as DownsampleKind
from nas.grammar import ExtraValue as ExtraValue
from nas.grammar import format_spec, parse_fields
from nas.validation import check_blocks

INTEGER_STRIDE_KINDS: tuple[str, ...] = ("strided", "maxpool", "gridreduce")
Activation = Literal["relu", "silu", "relu6"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")
PositiveInt = Annotated[int, Field(gt=0)]


class StemSpec(BaseModel):
    """The first convolution (conv-BN-act), optionally followed by a 3x3 stride-2 max pool."""

    model_config = _FROZEN
    out_channels: PositiveInt = 32
    kernel: PositiveInt = 3
    stride: PositiveInt = 1
    max_pool: bool = False
    norm: bool = Field(default=True, description="batch norm after the conv (False: biased conv)")

    @property
    def reduction(self) -> int:
        return self.stride * (2 if self.max_pool else 1)


class StageSpec(BaseModel):
    """``repeats`` blocks of one type; the first block carries the stage's stride."""

    model_config = _FROZEN
    block: str
    repeats: PositiveInt = 1
    out_channels: PositiveInt
    stride: tuple[float, float] = (1.0, 1.0)
    kernel: PositiveInt = 3
    expand_ratio: float = Field(default=1.0, gt=0)
    se_ratio: float = Field(default=0.0, ge=0, le=1)
    groups: PositiveInt = 1
    downsample: DownsampleKind = "strided"
    extras: dict[str, ExtraValue] = Field(default_factory=dict)

    @field_validator("stride", mode="before")
    @classmethod
    def _broadcast_stride(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            return (value, value)
        return value

    @field_validator("stride")
    @classmethod
    def _stride_at_least_one(cls, value: tuple[float, float]) -> tuple[float, float]:
        if min(value) < 1:
            raise ValueError(f"every stride must be >= 1, got {value}")
        return value

    @model_validator(mode="after")
    def _integer_stride_when_strided(self) -> Self:
        if self.downsample in INTEGER_STRIDE_KINDS and any(s != int(s) for s in self.stride):
            raise ValueError(
                f"{self.downsample} downsampling needs integer strides, got {self.stride}"
            )
        return self

    @property
    def is_downsampling(self) -> bool:
        return self.stride != (1.0, 1.0)

    def block_in_channels(self, in_channels: int) -> int:
        """Channels the first block sees: a grid reduction in front of the stage doubles them."""
        if self.downsample == "gridreduce" and self.is_downsampling:
            return 2 * in_channels
        return in_channels


class HeadSpec(BaseModel):
    """Optional 1x1 conv to ``channels`` (EfficientNet), global average pool, dropout, linear.

    ``norm`` adds batch norm and the activation first (DenseNet's final BN-ReLU). The ``conv``
    classifier is SqueezeNet's: dropout, 1x1 conv to the classes, activation, global average
    pool. ``aux_stage`` attaches Inception-v3's auxiliary classifier to that stage's output; in
    training its cross-entropy, times ``aux_weight``, is added to the loss (``nas.train``).
    """

    model_config = _FROZEN
    channels: int = Field(default=0, ge=0)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    norm: bool = False
    classifier: Literal["linear", "conv"] = "linear"
    aux_stage: int | None = Field(default=None, ge=0)
    aux_weight: float = Field(default=0.4, ge=0, le=10)


class ArchSpec(BaseModel):
    """A whole CNN: the model is a function of this value (see ``nas.models.build_model``)."""

    model_config = _FROZEN
    family: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    resolution: PositiveInt = 224
    in_channels: PositiveInt = 3
    num_classes: PositiveInt = 1000
    activation: Activation = "relu"
    stem: StemSpec = StemSpec()
    stages: tuple[StageSpec, ...] = Field(min_length=1)
    head: HeadSpec = HeadSpec()

    @model_validator(mode="after")
    def _aux_stage_exists(self) -> Self:
        aux = self.head.aux_stage
        if aux is not None and aux >= len(self.stages):
            raise ValueError(
                f"head.aux_stage: stage {aux} does not exist ({len(self.stages)} stages)"
            )
        return self

    @model_validator(mode="after")
    def _strides_leave_pixels(self) -> Self:
        for axis, name in ((0, "height"), (1, "width")):
            size = self.resolution / self.stem.reduction
            for index, stage in enumerate(self.stages):
                size /= stage.stride[axis]
                if size < 1:
                    raise ValueError(
                        f"stages[{index}].stride: the strides reduce the {name} of a "
                        f"{self.resolution}px input below 1 pixel"
                    )
        return self

    # ---- construction with clear errors ---------------------------------------------------

    @classmethod
    def create(cls, **fields: Any) -> ArchSpec:
        """Validate ``fields`` into a spec, raising ``SpecError`` that names the bad field."""
        try:
            spec = cls.model_validate(fields)
        except ValidationError as exc:
            raise spec_error_from(exc) from None
        spec.check_blocks()
        return spec

    @classmethod
    def from_json(cls, text: str | bytes) -> ArchSpec:
        try:
            spec = cls.model_validate_json(text)
        except ValidationError as exc:
            raise spec_error_from(exc) from None
        spec.check_blocks()
        return spec

    def check_blocks(self) -> None:
        """Every stage's block type must be declared and accept its stage (``SpecError``).

        Block-specific rules (a Fire module's squeeze below its expand channels, a dense block's
        growth, ...) are the block rules' (``nas.validation``), given the channels each stage's
        first block receives.
        """
        check_blocks(self)

    def stage_in_channels(self) -> list[int]:
        """Input channels of every stage (the stem's, then each previous stage's output)."""
        return [self.stem.out_channels, *(s.out_channels for s in self.stages[:-1])]

    def replace(self, **changes: Any) -> ArchSpec:
        """A validated copy with ``changes`` applied (specs are values; never mutate)."""
        return ArchSpec.create(**{**self.model_dump(), **changes})

    def with_stages(self, stages: list[StageSpec] | tuple[StageSpec, ...]) -> ArchSpec:
        return self.replace(stages=[s.model_dump() for s in stages])

    def with_strides(self, strides: Sequence[float]) -> ArchSpec:
        """A copy with stage ``i`` at the square stride ``strides[i]`` (one per stage)."""
        if len(strides) != len(self.stages):
            raise SpecError(f"{len(strides)} strides for {len(self.stages)} stages", field="stages")
        return self.replace(
            stages=[
                {**stage.model_dump(), "stride": (float(s), float(s))}
                for stage, s in zip(self.stages, strides, strict=True)
            ]
        )

    # ---- derived facts --------------------------------------------------------------------

    @property
    def strides(self) -> tuple[tuple[float, float], ...]:
        return tuple(stage.stride for stage in self.stages)

    def output_resolution(self) -> float:
        """Nominal side of the last feature map: resolution / product of all strides (height)."""
        return self.resolution / self.stem.reduction / math.prod(s.stride[0] for s in self.stages)

    # ---- block string ---------------------------------------------------------------------

    def to_string(self) -> str:
        """The block string (``nas.grammar``)."""
        return format_spec(self)

    @classmethod
    def from_string(cls, text: str) -> ArchSpec:
        """Parse a block string (``nas.grammar``); ``SpecError`` names the bad token."""
        return cls.create(**parse_fields(text))

    def __str__(self) -> str:
        return self.to_string()


def spec_error_from(exc: ValidationError) -> SpecError:
    """Turn pydantic's report into one ``SpecError`` naming the first bad field."""
    first = exc.errors()[0]
    field = _dotted(first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    # A model-level validator names its own field at the start of the message.
    match = re.match(r"^((?:stages\[\d+\]|head)\.\w+): (.*)$", message)
    if match:
        field, message = match.group(1), match.group(2)
    return SpecError(message, field=field or "spec")


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
