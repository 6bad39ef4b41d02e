"""Turning a point of the search space into an architecture."""

from __future__ import annotations

from collections.abc import Sequence

from nas.errors import SpecError
from nas.scaling import scale
from nas.spec import ArchSpec, DownsampleKind


def apply_choice(
    base: ArchSpec,
    *,
    strides: Sequence[float] | None = None,
    width: float = 1.0,
    depth: float = 1.0,
    resolution: int | None = None,
    downsample: DownsampleKind | None = None,
) -> ArchSpec:
    """``base`` with per-stage (square) strides, multipliers, resolution and downsampling kind.

    Raises ``SpecError`` when the combination is impossible (e.g. strides that reduce the
    resolution below one pixel), so strategies can skip such points.
    """
    spec = base
    if strides is not None or downsample is not None:
        if strides is not None and len(strides) != len(base.stages):
            raise SpecError(
                f"{len(strides)} strides for {len(base.stages)} stages", field="space.strides"
            )
        stages = []
        for i, stage in enumerate(base.stages):
            update: dict[str, object] = {}
            if strides is not None:
                update["stride"] = (float(strides[i]), float(strides[i]))
            if downsample is not None:
                update["downsample"] = downsample
            stages.append({**stage.model_dump(), **update})
        spec = spec.replace(stages=stages)
    if width != 1.0 or depth != 1.0 or resolution is not None:
        spec = scale(spec, width=width, depth=depth, resolution=resolution)
    return spec


def is_valid_choice(base: ArchSpec, **choice: object) -> bool:
    try:
        apply_choice(base, **choice)  # type: ignore[arg-type]
    except SpecError:
        return False
    return True
