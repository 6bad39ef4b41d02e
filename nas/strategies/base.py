"""The one interface every search strategy implements.

A strategy's state is its list of trial records and nothing else: ``propose`` must be a pure
function of the options, the context and those records (seed any randomness from them). That is
what lets the scheduler rebuild a strategy after a restart by replaying stored trials, and ask
exactly the trial a strategy that never stopped would have asked.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from nas.search_space import Objectives, SearchSpace
from nas.spec import ArchSpec
from nas.trial import EpochReport, TrainOptions, TrialRequest, TrialResult

EXHAUSTED = "search space exhausted"


class RecordState(StrEnum):
    """Where a strategy's trial is: asked and not yet told (``pending``), or how it ended
    (``skipped``: never run, it did not fit what was left of the budget)."""

    PENDING = "pending"
    COMPLETED = "completed"
    PRUNED = "pruned"
    FAILED = "failed"
    SKIPPED = "skipped"


class NoOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class StrategyContext:
    """What a strategy knows about its job: the base, the space, the budget and the data size."""

    key: str
    base: ArchSpec
    space: SearchSpace
    epochs: int
    train: TrainOptions
    objectives: Objectives
    seed: int
    budget_flops: float
    epoch_cost: Callable[[ArchSpec], float] = field(repr=False)
    """Estimated FLOPs of one training epoch (plus validation) of a spec on the job's data."""
    origin: Mapping[str, Any] = field(default_factory=dict)
    """Where ``base`` came from when it is not the job's (``nas.strategies.chained``): added to
    every request's ``params``."""


@dataclass
class TrialRecord:
    """One asked trial and, once known, its outcome."""

    request: TrialRequest
    state: RecordState = RecordState.PENDING
    result: TrialResult | None = None
    reports: list[EpochReport] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.request.number

    @property
    def accuracy(self) -> float | None:
        return self.result.accuracy if self.result is not None else None


class SearchStrategy(ABC):
    """Ask for trials, get told their results; ``ask`` returns None when it has nothing now."""

    name: ClassVar[str]
    description: ClassVar[str]
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, context: StrategyContext, options: BaseModel | dict[str, Any] | None = None):
        self.context = context
        self.options: Any = (
            options
            if isinstance(options, self.Options)
            else self.Options.model_validate(options or {})
        )
        self.records: list[TrialRecord] = []

    # ---- the protocol ---------------------------------------------------------------------

    def ask(self) -> TrialRequest | None:
        """The next trial to run, numbered and labelled; None if there is none right now."""
        if self.is_finished():
            return None
        proposal = self.propose()
        if proposal is None:
            return None
        update: dict[str, Any] = {"number": len(self.records), "strategy": self.context.key}
        if self.context.origin:
            update["params"] = {**proposal.params, **self.context.origin}
        request = proposal.model_copy(update=update)
        self.records.append(TrialRecord(request))
        return request

    def tell(self, number: int, result: TrialResult | None) -> None:
        """Record a trial's outcome; ``None`` means it failed."""
        record = self.records[number]
        if result is None:
            record.state = RecordState.FAILED
        else:
            record.state = RecordState.PRUNED if result.pruned else RecordState.COMPLETED
            record.result = result
            record.reports = list(result.history)
        self.on_tell(record)

    def tell_skipped(self, number: int) -> None:
        """Record that a trial was never run: it did not fit what was left of the budget. Like
        a failure to a strategy that does not look closer (no result); a grid in cost order
        asks for it again once the budget grows."""
        record = self.records[number]
        record.state = RecordState.SKIPPED
        self.on_tell(record)

    def report(self, number: int, report: EpochReport) -> bool:
        """Intermediate progress of a running trial; return True to prune it."""
        self.records[number].reports.append(report)
        return self.should_prune(self.records[number])

    def is_finished(self) -> bool:
        """True when the strategy will never ask again (its space is exhausted)."""
        return False

    def asks_cheapest_first(self) -> bool:
        """Whether each proposal is estimated to cost at least as much as the one before (a
        grid in ``order: cost``): once one does not fit what is left of the budget, with
        nothing of it in flight to give back, none will, and the runner stops it there."""
        return False

    def finished_reason(self) -> str:
        """Why it asks no more, once ``ask`` gives nothing and none of its trials runs (the
        runner's stop reason)."""
        return EXHAUSTED

    # ---- rebuilding after a restart -------------------------------------------------------

    def replay(
        self,
        history: Iterable[tuple[TrialRequest, TrialResult | None, bool]],
        skipped: Collection[int] = (),
    ) -> None:
        """Rebuild state from stored trials: ``(request, result, finished)`` in ask order.

        A finished trial with no result failed, or was skipped when its number is in
        ``skipped``; an unfinished one stays pending (the scheduler runs it again).
        """
        for request, result, finished in history:
            if request.number != len(self.records):
                raise ValueError(
                    f"replay expects trials in ask order: got #{request.number}, "
                    f"expected #{len(self.records)}"
                )
            self.records.append(TrialRecord(request))
            if finished and request.number in skipped:
                self.tell_skipped(request.number)
            elif finished:
                self.tell(request.number, result)

    # ---- for subclasses -------------------------------------------------------------------

    @abstractmethod
    def propose(self) -> TrialRequest | None:
        """The next request (number and strategy are filled in by ``ask``)."""

    def on_tell(self, record: TrialRecord) -> None:  # noqa: B027  (optional hook)
        """Called after a record's outcome is known."""

    def should_prune(self, record: TrialRecord) -> bool:
        return False

    # ---- helpers --------------------------------------------------------------------------

    def request(self, spec: ArchSpec, params: dict[str, Any], **train: Any) -> TrialRequest:
        """A request for ``spec`` with the job's epochs and training options."""
        options = self.context.train.model_copy(update=train) if train else self.context.train
        return TrialRequest(spec=spec, epochs=self.context.epochs, options=options, params=params)

    @property
    def pending(self) -> list[TrialRecord]:
        return [r for r in self.records if r.state == RecordState.PENDING]

    def best(self) -> TrialRecord | None:
        done = [r for r in self.records if r.result is not None]
        return max(done, key=lambda r: r.result.accuracy if r.result else 0.0, default=None)
