"""Turning a point of the search space into an architecture."""

from __future__ import annotations

from collections.abc import Sequence

from nas.errors import NotFoundError, SpecError
from nas.scaling import scale
from nas.spec import ArchSpec, DownsampleKind, ExtraValue


def apply_choice(
    base: ArchSpec,
    *,
    strides: Sequence[float] | None = None,
    width: float = 1.0,
    depth: float = 1.0,
    resolution: int | None = None,
    downsample: DownsampleKind | None = None,
    blocks: Sequence[str] | None = None,
) -> ArchSpec:
    """``base`` with per-stage (square) strides and block types, multipliers, resolution and
    downsampling kind (for every stage).

    A stage whose block type changes keeps its other fields; extras the new block does not read
    are dropped (when it declares them, see ``register_block``). Raises ``SpecError`` when the
    combination is impossible (e.g. strides that reduce the resolution below one pixel, or a
    Fire module with too few channels), so strategies can skip such points.
    """
    spec = base
    if strides is not None or downsample is not None or blocks is not None:
        if strides is not None and len(strides) != len(base.stages):
            raise SpecError(
                f"{len(strides)} strides for {len(base.stages)} stages", field="space.strides"
            )
        if blocks is not None and len(blocks) != len(base.stages):
            raise SpecError(
                f"{len(blocks)} block types for {len(base.stages)} stages", field="space.blocks"
            )
        stages = []
        for i, stage in enumerate(base.stages):
            update: dict[str, object] = {}
            if strides is not None:
                update["stride"] = (float(strides[i]), float(strides[i]))
            if downsample is not None:
                update["downsample"] = downsample
            if blocks is not None and blocks[i] != stage.block:
                update["block"] = blocks[i]
                update["extras"] = _extras_for(blocks[i], stage.extras)
            stages.append({**stage.model_dump(), **update})
        spec = spec.replace(stages=stages)
    if width != 1.0 or depth != 1.0 or resolution is not None:
        spec = scale(spec, width=width, depth=depth, resolution=resolution)
    return spec


def _extras_for(block: str, extras: dict[str, ExtraValue]) -> dict[str, ExtraValue]:
    from nas.layers.registry import block_extras  # imports torch: keep it lazy

    try:
        known = block_extras(block)
    except NotFoundError as exc:
        raise SpecError(exc.message, field="space.blocks") from None
    return dict(extras) if known is None else {k: v for k, v in extras.items() if k in known}


def is_valid_choice(base: ArchSpec, **choice: object) -> bool:
    try:
        apply_choice(base, **choice)  # type: ignore[arg-type]
    except SpecError:
        return False
    return True
