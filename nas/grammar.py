"""The block string: the short text form of an ``ArchSpec`` (``nas.spec``), both ways.

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
every canonical string. ``format_spec`` writes a spec; ``parse_fields`` reads a string into the
fields ``ArchSpec.create`` validates (``SpecError`` naming the bad token). This module knows the
words of the language and the plain types (``nas.spec_types``), not the rules: ``nas.spec``
imports it, never the other way round.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from nas.errors import SpecError
from nas.spec_types import DOWNSAMPLE_KINDS, ExtraValue

if TYPE_CHECKING:
    from nas.spec_types import ArchFields, HeadSpec, StageSpec, StemSpec


def format_spec(spec: ArchFields) -> str:
    """The block string of ``spec``."""
    header = [
        spec.family,
        f"r{spec.resolution}",
        f"c{spec.in_channels}",
        f"n{spec.num_classes}",
        spec.activation,
    ]
    return ":".join(
        [
            *header,
            _stem_to_string(spec.stem),
            *(_stage_to_string(s) for s in spec.stages),
            _head_to_string(spec.head),
        ]
    )


def parse_fields(text: str) -> dict[str, Any]:
    """The fields of the spec ``text`` writes (to validate with ``ArchSpec.create``);
    ``SpecError`` names the token it cannot read."""
    tokens = [t for t in text.strip().split(":")]
    if len(tokens) < 7:
        raise SpecError(
            "a block string needs family, r, c, n, activation, stem, >= 1 stage and head",
            field="spec",
        )
    family, res, chans, classes, activation, stem, *stage_tokens, head = tokens
    return {
        "family": family,
        "resolution": _header_int(res, "r", "resolution"),
        "in_channels": _header_int(chans, "c", "in_channels"),
        "num_classes": _header_int(classes, "n", "num_classes"),
        "activation": activation,
        "stem": _parse_stem(stem),
        "stages": [_parse_stage(tok, i) for i, tok in enumerate(stage_tokens)],
        "head": _parse_head(head),
    }


# ---- tokens --------------------------------------------------------------------------------------

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
    if head.aux_weight != type(head).model_fields["aux_weight"].default:
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
