"""Architectures as values: a frozen, validated ``ArchSpec`` (stem, stages, head).

Its plain types (``StemSpec``, ``StageSpec``, ``HeadSpec``, ``ArchFields``) are
``nas.spec_types``' (re-exported here). Its short block string
(``resnet:r28:c1:n10:relu:stem_c16:basic_r2_c16:...:head_d0``, the grammar and the fields each
block type reads) is ``nas.grammar``'s; ``to_string`` and ``from_string`` go through it.
Block-specific checks are ``nas.validation``'s, run whenever a spec is created, so
``ArchSpec.model_validate_json(spec.model_dump_json()) == spec`` and
``from_string(s).to_string() == s`` for every canonical string.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from nas.errors import SpecError
from nas.grammar import format_spec, parse_fields
from nas.spec_types import DOWNSAMPLE_KINDS as DOWNSAMPLE_KINDS
from nas.spec_types import INTEGER_STRIDE_KINDS as INTEGER_STRIDE_KINDS
from nas.spec_types import Activation as Activation
from nas.spec_types import ArchFields
from nas.spec_types import DownsampleKind as DownsampleKind
from nas.spec_types import ExtraValue as ExtraValue
from nas.spec_types import HeadSpec as HeadSpec
from nas.spec_types import StageSpec as StageSpec
from nas.spec_types import StemSpec as StemSpec
from nas.validation import check_blocks


class ArchSpec(ArchFields):
    """A whole CNN: the model is a function of this value (see ``nas.models.build_model``)."""

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
