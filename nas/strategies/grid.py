"""Grid search over fixed integer strides, block types, downsampling kinds, widths, depths and
resolutions: every valid point of ``nas.strategies.space.Space`` once.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nas.strategies import register
from nas.strategies.base import SearchStrategy, StrategyContext
from nas.strategies.space import Space, key_of_params
from nas.trial import TrialRequest

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
