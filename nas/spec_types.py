"""The plain types of an architecture: stem, stages, head and the whole spec's fields.

Values only: frozen pydantic models with their structural checks (strides at least 1 and leaving
a pixel, integer strides where the downsampling kind needs them). They sit below the rules that
read them: the block string (``nas.grammar``), the block rules (``nas.validation``) and each
block's plan (``nas.blocks``) import these types; ``nas.spec.ArchSpec`` puts them together.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Self, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Activation = Literal["relu", "silu", "relu6"]
DownsampleKind = Literal["strided", "spectral", "diffstride", "maxpool", "gridreduce"]
"""How a stage's first block reduces resolution (see ``nas.layers.downsample``): the block's own
strided convolution (``strided``), fixed spectral pooling, DiffStride, a 3x3 max pool after the
(unstrided) first convolution, or Inception-v3's efficient grid reduction in front of the stage
(a strided 3x3 convolution and a max pool in parallel, concatenated: channels double). Each is
also a word of a stage token (``nas.grammar``)."""
DOWNSAMPLE_KINDS: tuple[str, ...] = get_args(DownsampleKind)
ExtraValue = int | float | str

INTEGER_STRIDE_KINDS: tuple[str, ...] = ("strided", "maxpool", "gridreduce")

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


class ArchFields(BaseModel):
    """A whole CNN's fields and their structural checks (``nas.spec.ArchSpec`` adds the block
    rules, the construction with clear errors and the block string)."""

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

    def stage_in_channels(self) -> list[int]:
        """Input channels of every stage (the stem's, then each previous stage's output)."""
        return [self.stem.out_channels, *(s.out_channels for s in self.stages[:-1])]

    @property
    def strides(self) -> tuple[tuple[float, float], ...]:
        return tuple(stage.stride for stage in self.stages)

    def output_resolution(self) -> float:
        """Nominal side of the last feature map: resolution / product of all strides (height)."""
        return self.resolution / self.stem.reduction / math.prod(s.stride[0] for s in self.stages)
