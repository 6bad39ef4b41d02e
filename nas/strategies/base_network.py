"""The do-nothing baseline: the job's base architecture as it is, trained once.

No search at all: the base spec unchanged (its own strides, blocks, size and resolution), one
trial per run of the strategy. With ``repeats: N`` the job runs it N times under its own seeds,
so the base network's seed spread sits beside every search it should be beaten by. It spends
one trial's cost of its share and stops, saying why.
"""

from __future__ import annotations

from typing import Any

from nas.spec import ArchSpec
from nas.strategies.base import RecordState, SearchStrategy
from nas.trial import TrialRequest

TRAINED = "done: the base network trained"
NOT_TRAINED = "done: the base network's trial did not complete (failed or over budget)"


def base_params(base: ArchSpec) -> dict[str, Any]:
    """The request's ``params``: the base's strides per stage (a number when square, else
    ``[h, w]``), width and depth 1 and its resolution, as a grid point of the base reads."""

    def stride(h: float, w: float) -> float | int | list[float]:
        if h != w:
            return [h, w]
        return int(h) if float(h).is_integer() else h

    return {
        "strides": [stride(*stage.stride) for stage in base.stages],
        "width": 1.0,
        "depth": 1.0,
        "resolution": base.resolution,
    }


class BaseNetwork(SearchStrategy):
    """One trial of the job's base spec, unchanged; finished once it is told."""

    name = "base"
    description = (
        "The do-nothing baseline: the job's base architecture with its own strides, trained "
        "once per repeat (no search)."
    )

    def is_finished(self) -> bool:
        return bool(self.records) and not self.pending

    def finished_reason(self) -> str:
        done = any(r.state in (RecordState.COMPLETED, RecordState.PRUNED) for r in self.records)
        return TRAINED if done else NOT_TRAINED

    def propose(self) -> TrialRequest | None:
        if self.records:
            return None
        return self.request(self.context.base, base_params(self.context.base))
