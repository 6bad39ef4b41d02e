"""Random search: the honest baseline, uniform over the valid points of the space."""

from __future__ import annotations

import random
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nas.strategies.base import SearchStrategy, StrategyContext
from nas.strategies.space import Space, asked_keys
from nas.trial import TrialRequest

ENUMERATE_LIMIT = 20_000
"""Spaces up to this many raw points are enumerated (exact exhaustion); larger ones sampled."""


def rng_for(*parts: object) -> random.Random:
    """A generator seeded from ``parts`` (string seeding: stable across processes)."""
    return random.Random(":".join(str(p) for p in parts))


class RandomOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    allow_repeats: bool = Field(
        default=False, description="sample with replacement (never finishes)"
    )
    max_tries: int = Field(
        default=1000, ge=1, le=1_000_000, description="rejection tries on large spaces"
    )


class RandomSearch(SearchStrategy):
    """Uniform over valid points, seeded from (job seed, number of records)."""

    name = "random"
    description = (
        "Uniform random sampling of the fixed-stride space (strides and block types per stage, "
        "downsampling kinds, widths, depths, resolutions); no repeats until the space is "
        "exhausted unless allow_repeats."
    )
    Options = RandomOptions

    def __init__(
        self, context: StrategyContext, options: BaseModel | dict[str, Any] | None = None
    ) -> None:
        super().__init__(context, options)
        self.space = Space(context.base, context.space)
        self._valid: list[int] | None = None

    def _valid_indices(self) -> list[int] | None:
        """All valid indices when the space is small enough to enumerate, else None."""
        if self._valid is None and self.space.size <= ENUMERATE_LIMIT:
            self._valid = list(self.space.valid_indices())
        return self._valid

    def _unasked(self) -> list[int] | None:
        valid = self._valid_indices()
        if valid is None:
            return None
        asked = asked_keys(self.records)
        return [i for i in valid if self.space.key(i) not in asked]

    def is_finished(self) -> bool:
        if self.options.allow_repeats:
            return self._valid_indices() == []
        unasked = self._unasked()
        return unasked is not None and not unasked

    def propose(self) -> TrialRequest | None:
        rng = rng_for("random", self.context.seed, len(self.records))
        valid = self._valid_indices()
        index: int | None = None
        if valid is not None:
            candidates = valid if self.options.allow_repeats else self._unasked()
            if candidates:
                index = rng.choice(candidates)
        else:
            asked = set() if self.options.allow_repeats else asked_keys(self.records)
            for _ in range(self.options.max_tries):
                i = rng.randrange(self.space.size)
                if self.space.key(i) not in asked and self.space.is_valid(i):
                    index = i
                    break
        if index is None:
            return None
        spec = self.space.spec(index)
        assert spec is not None
        return self.request(spec, self.space.params(index))
