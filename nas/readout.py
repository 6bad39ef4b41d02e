"""What a DiffStride stage learned, and whether it learned anything: torch-free values.

A stride counts as *learned* only if it left the value it started from (its init, raised or
lowered onto the layer's bounds) by at least ``LEARNED_TOLERANCE``. A stride the clamp holds
at its floor (the reference's ``n / (n - R)``, which a stride-1 init is raised to) or ceiling
did not learn, even though it differs from the init the user gave.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

LEARNED_TOLERANCE = 0.05
StrideStatus = Literal[
    "learned",
    "learned to floor",
    "learned to ceiling",
    "held at floor",
    "held at ceiling",
    "unchanged",
]
Pair = tuple[float, float]


class StrideReadout(BaseModel):
    """One DiffStride stage at the end of training, per axis ``(height, width)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    init: Pair
    learned: Pair
    low: Pair
    high: Pair
    input_size: tuple[int, int]
    output_size: tuple[int, int]

    @property
    def applied(self) -> Pair:
        """The downsampling the layer really applied: input size / output size."""
        return (
            self.input_size[0] / self.output_size[0],
            self.input_size[1] / self.output_size[1],
        )

    def status(self) -> tuple[StrideStatus, StrideStatus]:
        """Per axis, whether the stride learned (see the module docstring)."""
        return (
            axis_status(self.init[0], self.learned[0], self.low[0], self.high[0]),
            axis_status(self.init[1], self.learned[1], self.low[1], self.high[1]),
        )

    @property
    def is_learned(self) -> bool:
        """Whether either axis left its start."""
        return any(s.startswith("learned") for s in self.status())


def axis_status(
    init: float, learned: float, low: float, high: float, tolerance: float = LEARNED_TOLERANCE
) -> StrideStatus:
    """Whether one axis learned: it moved from ``clamp(init, low, high)`` by ``tolerance``."""
    start = min(max(init, low), high)
    moved = abs(learned - start) >= tolerance
    at_floor = learned - low < tolerance
    at_ceiling = high - learned < tolerance
    if moved:
        if at_floor:
            return "learned to floor"
        return "learned to ceiling" if at_ceiling else "learned"
    if at_floor:
        return "held at floor"
    return "held at ceiling" if at_ceiling else "unchanged"


def stage_statuses(readouts: object) -> list[list[str] | None] | None:
    """Per stage ``[height status, width status]`` (None for stages without DiffStride) from
    stored readouts (JSON: a list of readout objects or nulls); None when no stage has one."""
    if not isinstance(readouts, list) or not any(r is not None for r in readouts):
        return None
    out: list[list[str] | None] = []
    for item in readouts:
        if item is None:
            out.append(None)
            continue
        readout = item if isinstance(item, StrideReadout) else StrideReadout.model_validate(item)
        out.append(list(readout.status()))
    return out
