"""The discrete search space of the fixed-stride strategies (grid, random, Optuna), and turning
one of its points into an architecture.

``Space`` is the cartesian product of ``SearchSpace.strides`` (per stage; empty means the base's
strides), ``blocks`` (per stage; empty means the base's), ``downsamples`` (empty means the
base's), ``widths``, ``depths`` and ``resolutions`` (empty means the base's), indexed in
``itertools.product`` order, with impossible points (``apply_choice`` raising ``SpecError``)
recognised and skipped. Block types and the downsampling kind enter a point's key and its
request ``params`` only when the space chooses them, so keys of spaces without them (and of
trials stored before they existed) are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nas.errors import NotFoundError, SpecError
from nas.scaling import scale
from nas.search_space import SearchSpace
from nas.spec import ArchSpec, DownsampleKind, ExtraValue
from nas.strategies.base import TrialRecord
from nas.validation import block_extras


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


PointKey = tuple[tuple[float, ...], float, float, int, tuple[str, ...] | None, str | None]
"""A point as (per-stage strides, width, depth, resolution, per-stage blocks, downsampling
kind): the first four explicit, the last two None when the space does not choose them."""


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


@dataclass(frozen=True)
class Point:
    """One point of the space; ``strides``/``blocks``/``downsample``/``resolution`` None means
    the base's."""

    strides: tuple[int, ...] | None
    width: float
    depth: float
    resolution: int | None
    blocks: tuple[str, ...] | None = None
    downsample: DownsampleKind | None = None


class Space:
    """The discrete space of a job's ``SearchSpace`` around ``base``; specs are cached."""

    def __init__(self, base: ArchSpec, space: SearchSpace) -> None:
        self.base = base
        self.space = space
        self.stride_choices: list[list[int]] = [list(c) for c in space.strides]
        self.block_choices: list[list[str]] = space.stage_blocks(len(base.stages))
        self.downsample_choices: list[DownsampleKind] = list(space.downsamples)
        self.dims: list[list[Any]] = [
            *self.stride_choices,
            *self.block_choices,
            list(self.downsample_choices) or [None],
            list(space.widths),
            list(space.depths),
            list(space.resolutions) or [None],
        ]
        self.size = math.prod(len(d) for d in self.dims)
        self._specs: dict[int, ArchSpec | None] = {}

    def point(self, index: int) -> Point:
        """The point at ``index`` (0 <= index < size) in product order (last dim fastest)."""
        values = [dim[i] for dim, i in zip(self.dims, self.coords(index), strict=True)]
        n, b = len(self.stride_choices), len(self.block_choices)
        strides = tuple(values[:n]) if n else None
        blocks = tuple(values[n : n + b]) if b else None
        downsample, width, depth, resolution = values[n + b :]
        return Point(strides, float(width), float(depth), resolution, blocks, downsample)

    def coords(self, index: int) -> list[int]:
        """Per dimension, the position of ``index``'s choice (mixed radix, last fastest)."""
        if not 0 <= index < self.size:
            raise IndexError(index)
        coords: list[int] = []
        for dim in reversed(self.dims):
            index, i = divmod(index, len(dim))
            coords.append(i)
        return coords[::-1]

    def index_from_coords(self, coords: list[int]) -> int:
        index = 0
        for dim, i in zip(self.dims, coords, strict=True):
            if not 0 <= i < len(dim):
                raise IndexError(coords)
            index = index * len(dim) + i
        return index

    def spec(self, index: int) -> ArchSpec | None:
        """The architecture at ``index``, or None when the point is impossible."""
        if index not in self._specs:
            p = self.point(index)
            try:
                self._specs[index] = apply_choice(
                    self.base,
                    strides=p.strides,
                    width=p.width,
                    depth=p.depth,
                    resolution=p.resolution,
                    downsample=p.downsample,
                    blocks=p.blocks,
                )
            except SpecError:
                self._specs[index] = None
        return self._specs[index]

    def is_valid(self, index: int) -> bool:
        return self.spec(index) is not None

    def valid_indices(self) -> Iterator[int]:
        return (i for i in range(self.size) if self.is_valid(i))

    def key(self, index: int) -> PointKey:
        """The explicit key of ``index`` (base strides/resolution filled in)."""
        p = self.point(index)
        strides = (
            tuple(float(s) for s in p.strides)
            if p.strides is not None
            else tuple(float(s[0]) for s in self.base.strides)
        )
        resolution = p.resolution if p.resolution is not None else self.base.resolution
        return (strides, p.width, p.depth, resolution, p.blocks, p.downsample)

    def params(self, index: int) -> dict[str, Any]:
        """The JSON-able ``params`` of a request for ``index`` (see ``key_of_params``)."""
        strides, width, depth, resolution, blocks, downsample = self.key(index)
        params: dict[str, Any] = {
            "strides": [_number(s) for s in strides],
            "width": width,
            "depth": depth,
            "resolution": resolution,
        }
        if blocks is not None:
            params["blocks"] = list(blocks)
        if downsample is not None:
            params["downsample"] = downsample
        return params

    def index_of(self, key: PointKey) -> int | None:
        """The index of ``key``, or None if it is not a point of this space."""
        strides, width, depth, resolution, blocks, downsample = key
        values: list[Any]
        if self.stride_choices:
            values = list(strides)
        elif strides != tuple(float(s[0]) for s in self.base.strides):
            return None
        else:
            values = []
        if (blocks is None) != (not self.block_choices):
            return None
        values += list(blocks or ())
        if (downsample is None) != (not self.downsample_choices):
            return None
        values += [downsample, width, depth, resolution if self.space.resolutions else None]
        if not self.space.resolutions and resolution != self.base.resolution:
            return None
        try:
            coords = [dim.index(v) for dim, v in zip(self.dims, values, strict=True)]
        except ValueError:
            return None
        return self.index_from_coords(coords)


def key_of_params(params: Mapping[str, Any]) -> PointKey | None:
    """The key of a request's ``params`` as written by ``Space.params``; None if malformed."""
    try:
        blocks = params.get("blocks")
        downsample = params.get("downsample")
        return (
            tuple(float(s) for s in params["strides"]),
            float(params["width"]),
            float(params["depth"]),
            int(params["resolution"]),
            tuple(str(b) for b in blocks) if blocks is not None else None,
            str(downsample) if downsample is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def asked_keys(records: list[TrialRecord]) -> set[PointKey]:
    """Keys of every point already asked (pending or finished)."""
    keys = (key_of_params(r.request.params) for r in records)
    return {k for k in keys if k is not None}
