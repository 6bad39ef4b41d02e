"""Architectures as values: a frozen, validated ``ArchSpec`` and its short block string.

The block string reads left to right like the network itself, tokens joined by ``:``::

    resnet:r224:c3:n1000:relu:stem_c64_k7_s2_mp:basic_r2_c64:basic_r2_c128_s2:...:head_d0

- header: family, ``r`` input resolution, ``c`` input channels, ``n`` classes, activation;
- ``stem_*``: the stem convolution (``mp`` adds the 3x3/2 max pool of ResNet, ``nobn`` makes it a
  biased convolution without batch norm, as in SqueezeNet);
- one token per stage, in the style of timm's ``ir_r2_k3_s2_e6_c24_se0.25``: block type, then
  ``r`` repeats, ``k`` kernel, ``s`` stride (``s2`` or ``s2x1`` for height x width), ``e`` expand
  ratio, ``c`` out channels, ``se`` squeeze-excitation ratio, ``g`` groups, a downsampling kind
  (``spectral``, ``diffstride``, ``maxpool``, ``gridreduce``; ``strided`` is the default and
  omitted) and ``key=value`` extras;
- ``head_*``: ``c`` channels of the 1x1 conv before pooling (0 = none), ``bn`` batch norm and
  activation on the last features (DenseNet), ``conv`` a 1x1-conv classifier before the pooling
  (SqueezeNet), ``d`` dropout, ``aux<i>`` an auxiliary classifier on the output of stage ``i``
  (Inception-v3) and ``auxw<w>`` its loss weight in training (default 0.4).

Block types (``nas.validation.block_names()``; the fields each one reads):

- ``basic``, ``bottleneck``: ResNet blocks, ``k``, ``se``; the bottleneck's middle width is
  ``c/4 * e`` split into ``g`` groups: ResNeXt's cardinality is ``g`` and its bottleneck width
  per group ``d = c/4 * e / g``, so ResNeXt-50 32x4d's first stage is ``bottleneck_r3_e2_c256_g32``
  (128 channels = 32 groups x 4);
- ``ir``, ``ds``: MBConv / MobileNetV2 inverted residual, ``k``, ``e``, ``se``;
- ``conv``: plain conv-BN-activation layers (``k``), e.g. Inception's stem;
- ``dense``: a DenseNet(-BC) dense block of ``r`` layers, ``growth=<k>``, ``bn=<4>`` (DenseNet-B
  bottleneck to ``bn * k``; 0 = none), ``theta=<compression>``, see ``nas.layers.dense``;
- ``fire``: SqueezeNet's Fire module, ``squeeze=<channels>``, ``pct3=<fraction of 3x3 expand>``;
- ``dynamic``: a ResNet basic block of dynamic convolutions, ``kernels=<K>``, ``t0=<30>``,
  ``tepochs=<10>`` (temperature schedule), see ``nas.layers.dynamic_conv``;
- ``inceptiona``/``inceptionc``/``inceptione``: Inception-v3's modules for the 35/17/8-pixel
  grids (``k`` is the factorized kernel size; ``pool=``, ``mid=``), ``inceptionb``/``inceptiond``
  its two grid-reduction modules, see ``nas.layers.inception``.

Only values that differ from the defaults are written, so ``from_string(s).to_string() == s`` for
every canonical string and ``ArchSpec.model_validate_json(spec.model_dump_json()) == spec``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nas.errors import SpecError
from nas.validation import check_blocks

DownsampleKind = Literal["strided", "spectral", "diffstride", "maxpool", "gridreduce"]
"""How a stage's first block reduces resolution (see ``nas.layers.downsample``): the block's own
strided convolution (``strided``), fixed spectral pooling, DiffStride, a 3x3 max pool after the
(unstrided) first convolution, or Inception-v3's efficient grid reduction in front of the stage
(a strided 3x3 convolution and a max pool in parallel, concatenated: channels double)."""
DOWNSAMPLE_KINDS: tuple[str, ...] = ("strided", "spectral", "diffstride", "maxpool", "gridreduce")
INTEGER_STRIDE_KINDS: tuple[str, ...] = ("strided", "maxpool", "gridreduce")
Activation = Literal["relu", "silu", "relu6"]
ExtraValue = int | float | str

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
        header = [
            self.family,
            f"r{self.resolution}",
            f"c{self.in_channels}",
            f"n{self.num_classes}",
            self.activation,
        ]
        return ":".join(
            [
                *header,
                _stem_to_string(self.stem),
                *(_stage_to_string(s) for s in self.stages),
                _head_to_string(self.head),
            ]
        )

    @classmethod
    def from_string(cls, text: str) -> ArchSpec:
        """Parse a block string (see the module docstring); ``SpecError`` names the bad token."""
        tokens = [t for t in text.strip().split(":")]
        if len(tokens) < 7:
            raise SpecError(
                "a block string needs family, r, c, n, activation, stem, >= 1 stage and head",
                field="spec",
            )
        family, res, chans, classes, activation, stem, *stage_tokens, head = tokens
        fields: dict[str, Any] = {
            "family": family,
            "resolution": _header_int(res, "r", "resolution"),
            "in_channels": _header_int(chans, "c", "in_channels"),
            "num_classes": _header_int(classes, "n", "num_classes"),
            "activation": activation,
            "stem": _parse_stem(stem),
            "stages": [_parse_stage(tok, i) for i, tok in enumerate(stage_tokens)],
            "head": _parse_head(head),
        }
        return cls.create(**fields)

    def __str__(self) -> str:
        return self.to_string()


def parse_spec(text: str) -> ArchSpec:
    """Accept a block string, a JSON object, or a preset name."""
    stripped = text.strip()
    if stripped.startswith("{"):
        return ArchSpec.from_json(stripped)
    if ":" in stripped:
        return ArchSpec.from_string(stripped)
    from nas.models.presets import preset

    return preset(stripped)


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


# ---- string helpers ----------------------------------------------------------------------

_STAGE_KEYS = {  # token prefix -> field; longest prefixes first when parsing
    "se": "se_ratio",
    "r": "repeats",
    "k": "kernel",
    "s": "stride",
    "e": "expand_ratio",
    "c": "out_channels",
    "g": "groups",
}
_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


def _fmt(value: float) -> str:
    """Shortest exact text for a number: 2.0 -> '2', 0.25 -> '0.25'."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _stride_to_string(stride: tuple[float, float]) -> str:
    h, w = stride
    return _fmt(h) if h == w else f"{_fmt(h)}x{_fmt(w)}"


def _stage_to_string(stage: StageSpec) -> str:
    parts = [stage.block, f"r{stage.repeats}"]
    if stage.kernel != 3:
        parts.append(f"k{stage.kernel}")
    if stage.is_downsampling:
        parts.append(f"s{_stride_to_string(stage.stride)}")
    if stage.expand_ratio != 1:
        parts.append(f"e{_fmt(stage.expand_ratio)}")
    parts.append(f"c{stage.out_channels}")
    if stage.se_ratio:
        parts.append(f"se{_fmt(stage.se_ratio)}")
    if stage.groups != 1:
        parts.append(f"g{stage.groups}")
    if stage.downsample != "strided":
        parts.append(stage.downsample)
    for key in sorted(stage.extras):
        value = stage.extras[key]
        parts.append(f"{key}={_fmt(value) if isinstance(value, int | float) else value}")
    return "_".join(parts)


def _parse_stage(token: str, index: int) -> dict[str, Any]:
    field = f"stages[{index}]"
    block, *parts = token.split("_")
    if not block:
        raise SpecError(f"empty block type in {token!r}", field=f"{field}.block")
    stage: dict[str, Any] = {"block": block}
    extras: dict[str, ExtraValue] = {}
    for part in parts:
        if part in DOWNSAMPLE_KINDS:
            stage["downsample"] = part
        elif "=" in part:
            key, _, raw = part.partition("=")
            extras[key] = _parse_extra(raw)
        else:
            key, value = _split_key(part, f"{field}", token)
            name = _STAGE_KEYS[key]
            if name == "stride":
                stage[name] = _parse_stride(value, f"{field}.stride")
            else:
                stage[name] = _number(value, f"{field}.{name}")
    if extras:
        stage["extras"] = extras
    if "out_channels" not in stage:
        raise SpecError(f"stage {token!r} needs out channels (c<N>)", field=f"{field}.out_channels")
    return stage


def _split_key(part: str, field: str, token: str) -> tuple[str, str]:
    for key in _STAGE_KEYS:  # "se" is tried before "s"
        if part.startswith(key) and re.fullmatch(
            _NUMBER + r"(?:x" + _NUMBER + ")?", part[len(key) :]
        ):
            return key, part[len(key) :]
    raise SpecError(f"cannot read {part!r} in {token!r}", field=field)


def _parse_stride(value: str, field: str) -> list[float]:
    h, _, w = value.partition("x")
    return [_number(h, field), _number(w or h, field)]


def _number(text: str, field: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        raise SpecError(f"{text!r} is not a number", field=field) from None
    return int(number) if number.is_integer() and "." not in text else number


def _parse_extra(raw: str) -> ExtraValue:
    try:
        number = float(raw)
    except ValueError:
        return raw
    return int(number) if number.is_integer() and "." not in raw else number


def _header_int(token: str, prefix: str, field: str) -> int:
    if not re.fullmatch(prefix + r"\d+", token):
        raise SpecError(f"expected {prefix}<integer>, got {token!r}", field=field)
    return int(token[len(prefix) :])


def _stem_to_string(stem: StemSpec) -> str:
    parts = ["stem", f"c{stem.out_channels}"]
    if stem.kernel != 3:
        parts.append(f"k{stem.kernel}")
    if stem.stride != 1:
        parts.append(f"s{stem.stride}")
    if not stem.norm:
        parts.append("nobn")
    if stem.max_pool:
        parts.append("mp")
    return "_".join(parts)


def _parse_stem(token: str) -> dict[str, Any]:
    name, *parts = token.split("_")
    if name != "stem":
        raise SpecError(f"expected the stem token 'stem_...', got {token!r}", field="stem")
    stem: dict[str, Any] = {}
    keys = {"c": "out_channels", "k": "kernel", "s": "stride"}
    for part in parts:
        if part == "mp":
            stem["max_pool"] = True
        elif part == "nobn":
            stem["norm"] = False
        elif part[:1] in keys and part[1:].isdigit():
            stem[keys[part[0]]] = int(part[1:])
        else:
            raise SpecError(f"cannot read {part!r} in {token!r}", field="stem")
    return stem


def _head_to_string(head: HeadSpec) -> str:
    parts = ["head"]
    if head.channels:
        parts.append(f"c{head.channels}")
    if head.norm:
        parts.append("bn")
    if head.classifier == "conv":
        parts.append("conv")
    parts.append(f"d{_fmt(head.dropout)}")
    if head.aux_stage is not None:
        parts.append(f"aux{head.aux_stage}")
    if head.aux_weight != HeadSpec.model_fields["aux_weight"].default:
        parts.append(f"auxw{_fmt(head.aux_weight)}")
    return "_".join(parts)


def _parse_head(token: str) -> dict[str, Any]:
    name, *parts = token.split("_")
    if name != "head":
        raise SpecError(f"expected the head token 'head_...', got {token!r}", field="head")
    head: dict[str, Any] = {}
    for part in parts:
        if part.startswith("c") and part[1:].isdigit():
            head["channels"] = int(part[1:])
        elif part.startswith("d") and re.fullmatch(_NUMBER, part[1:]):
            head["dropout"] = float(part[1:])
        elif part == "bn":
            head["norm"] = True
        elif part == "conv":
            head["classifier"] = "conv"
        elif part.startswith("auxw") and re.fullmatch(_NUMBER, part[4:]):
            head["aux_weight"] = float(part[4:])
        elif part.startswith("aux") and part[3:].isdigit():
            head["aux_stage"] = int(part[3:])
        else:
            raise SpecError(f"cannot read {part!r} in {token!r}", field="head")
    return head
