"""Grid search over fixed integer strides, block types, downsampling kinds, widths, depths and
resolutions: every valid point of ``nas.strategies.space.Space`` once, in one of three orders.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from nas.errors import OptionsError
from nas.strategies.base import RecordState, SearchStrategy, StrategyContext
from nas.strategies.space import Space, key_of_params
from nas.trial import TrialRequest

MAX_SHUFFLED = 1_000_000  # larger grids keep product order (a permutation would not fit)
MAX_COST_ORDERED = 1024
"""Larger grids cannot take ``order: cost``: every point's estimate is made before the first
trial, and one estimate builds the model on the meta device (50 ms for a small ResNet, 130 ms
for EfficientNet-B0: a minute or two for this many points)."""

Order = Literal["shuffled", "product", "cost"]


class GridOptions(BaseModel):
    """``order``: ``shuffled`` (seeded by the job's seed: a grid cut short by its budget is a
    uniform sample, not the first corner of the space), ``product`` (itertools order) or
    ``cost`` (cheapest first by the job's own estimate of a trial's cost, the one its budget
    charges and skips by; ties in product order)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    order: Order = "shuffled"


class GridSearch(SearchStrategy):
    """Every valid point of the space once, in a seeded shuffled, product or cost order."""

    name = "grid"
    description = (
        "Exhaustive grid over the job's stride and block choices per stage, downsampling kinds, "
        "widths, depths and resolutions (cartesian product in a seeded shuffled order, product "
        "order, or cheapest first; impossible points skipped)."
    )
    Options = GridOptions

    def __init__(
        self, context: StrategyContext, options: BaseModel | dict[str, Any] | None = None
    ) -> None:
        super().__init__(context, options)
        self.space = Space(context.base, context.space)
        if self.options.order == "cost" and self.space.size > MAX_COST_ORDERED:
            raise OptionsError(
                f"a grid of {self.space.size:,} points is too large to order by cost (at most "
                f"{MAX_COST_ORDERED:,}): use shuffled or product",
                field="options.order",
            )
        self._walk: Order | None = None  # the order this run walks, once decided
        self._order: list[int] | None = None  # indices in walking order; None: product order
        self._position: dict[int, int] = {}

    def _walking(self) -> Order:
        """The order this run walks (decided once; a pure function of the options, the context
        and the first record). A job whose first trial was asked before grids had orders (its
        params name none) keeps walking product order."""
        if self._walk is None:
            legacy = bool(self.records) and "order" not in self.records[0].request.params
            too_big = self.options.order == "shuffled" and self.space.size > MAX_SHUFFLED
            self._walk = "product" if legacy or too_big else self.options.order
            if self._walk == "shuffled":
                self._order = list(range(self.space.size))
                random.Random(f"grid:{self.context.seed}").shuffle(self._order)
            elif self._walk == "cost":
                self._order = self._cheapest_first()
            self._position = {index: k for k, index in enumerate(self._order or ())}
        return self._walk

    def _cheapest_first(self) -> list[int]:
        """The valid points by their estimated cost (``context.epoch_cost``, which the budget
        multiplies by the same epochs for every trial), ties in product order."""
        costs = {}
        for index in self.space.valid_indices():
            spec = self.space.spec(index)
            assert spec is not None
            costs[index] = self.context.epoch_cost(spec)
        return sorted(costs, key=lambda index: (costs[index], index))

    def _next_index(self) -> int | None:
        if self._walking() == "cost":
            return self._cheapest_left()
        length = len(self._order) if self._order is not None else self.space.size
        start = 0
        if self.records:
            key = key_of_params(self.records[-1].request.params)
            last = self.space.index_of(key) if key is not None else None
            if last is not None:
                start = (self._position[last] if self._order is not None else last) + 1
        for position in range(start, length):
            index = self._order[position] if self._order is not None else position
            if self.space.is_valid(index):
                return index
        return None

    def _cheapest_left(self) -> int | None:
        """In cost order: the cheapest point not asked yet, or asked and skipped (it did not
        fit the budget then; the runner asks again only once the budget grew or a trial in
        flight gave some back)."""
        asked = set()
        for record in self.records:
            key = key_of_params(record.request.params)
            if record.state != RecordState.SKIPPED and key is not None:
                asked.add(self.space.index_of(key))
        assert self._order is not None
        for index in self._order:
            if index not in asked and self.space.is_valid(index):
                return index
        return None

    def asks_cheapest_first(self) -> bool:
        return self._walking() == "cost"

    def is_finished(self) -> bool:
        return self._next_index() is None

    def propose(self) -> TrialRequest | None:
        index = self._next_index()
        if index is None:
            return None
        spec = self.space.spec(index)
        assert spec is not None
        return self.request(spec, {**self.space.params(index), "order": self._walking()})
