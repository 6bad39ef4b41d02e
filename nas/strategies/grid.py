"""Grid search over fixed integer strides, block types, downsampling kinds, widths, depths and
resolutions.

Also home of ``Space``, the discrete search space shared by the fixed-stride strategies (grid,
random, Optuna): the cartesian product of ``SearchSpace.strides`` (per stage; empty means the
base's strides), ``blocks`` (per stage; empty means the base's), ``downsamples`` (empty means the
base's), ``widths``, ``depths`` and ``resolutions`` (empty means the base's), indexed in
``itertools.product`` order, with impossible points (``apply_choice`` raising ``SpecError``)
recognised and skipped. Block types and the downsampling kind enter a point's key and its
request ``params`` only when the space chooses them, so keys of spaces without them (and of
trials stored before they existed) are unchanged.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nas.errors import SpecError
from nas.job import SearchSpace
from nas.spec import ArchSpec, DownsampleKind
from nas.strategies import register
from nas.strategies.base import SearchStrategy, StrategyContext, TrialRecord
from nas.strategies.space import apply_choice
from nas.trial import TrialRequest

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


MAX_SHUFFLED = 1_000_000  # larger grids keep product order (a permutation would not fit)


class GridOptions(BaseModel):
    """``order``: ``shuffled`` (seeded by the job's seed: a grid cut short by its budget is a
    uniform sample, not the first corner of the space) or ``product`` (itertools order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    order: Literal["shuffled", "product"] = "shuffled"


@register
class GridSearch(SearchStrategy):
    """Every valid point of the space once, in a seeded shuffled (or product) order."""

    name = "grid"
    description = (
        "Exhaustive grid over the job's stride and block choices per stage, downsampling kinds, "
        "widths, depths and resolutions (cartesian product in a seeded shuffled order; "
        "impossible points skipped)."
    )
    Options = GridOptions

    def __init__(
        self, context: StrategyContext, options: BaseModel | dict[str, Any] | None = None
    ) -> None:
        super().__init__(context, options)
        self.space = Space(context.base, context.space)
        self._order: list[int] | None = None
        self._position: dict[int, int] = {}
        self._decided = False

    def _shuffled(self) -> bool:
        """Whether this run walks a shuffled order. A job whose first trial was asked before
        grids were shuffled (its params name no ``order``) keeps walking product order."""
        if self.records and "order" not in self.records[0].request.params:
            return False
        return self.options.order == "shuffled" and self.space.size <= MAX_SHUFFLED

    def _index_at(self, position: int) -> int:
        if not self._decided:
            self._decided = True
            if self._shuffled():
                self._order = list(range(self.space.size))
                random.Random(f"grid:{self.context.seed}").shuffle(self._order)
                self._position = {index: k for k, index in enumerate(self._order)}
        return self._order[position] if self._order is not None else position

    def _next_index(self) -> int | None:
        start = 0
        if self.records:
            key = key_of_params(self.records[-1].request.params)
            last = self.space.index_of(key) if key is not None else None
            if last is not None:
                self._index_at(0)  # decide the order
                start = (self._position[last] if self._order is not None else last) + 1
        for position in range(start, self.space.size):
            index = self._index_at(position)
            if self.space.is_valid(index):
                return index
        return None

    def is_finished(self) -> bool:
        return self._next_index() is None

    def propose(self) -> TrialRequest | None:
        index = self._next_index()
        if index is None:
            return None
        spec = self.space.spec(index)
        assert spec is not None
        order = "shuffled" if self._order is not None else "product"
        return self.request(spec, {**self.space.params(index), "order": order})
