"""A strategy that starts from another's recommendation: strides first, then size.

A job entry with ``from`` (``nas.job.StrategyConfig.from_``) runs its strategy on another
strategy's recommendation instead of the job's base: ``compound`` with ``from: diffstride``
scales the architecture DiffStride found. ``Chained`` wraps the real strategy. Until the runner
calls ``begin`` (once the source has stopped with nothing in flight) it waits: it asks nothing
and is not finished. ``begin`` builds the real strategy with ``context.base`` = the source's
recommendation (``recommendation``: its most accurate fixed-stride trial, by ``nas.recommend``)
and from then on the wrapper is that strategy. A source that trained nothing usable leaves it
finished, with the reason.

Every request it asks names where its base came from (``params``: ``base_from``, the source's
key; ``base_trial``, the source trial's number; ``base_spec``, its block string), so ``replay``
rebuilds the same strategy from its own stored trials, whatever the source did since (a
budget extension may let the source train more).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from nas.errors import NasError
from nas.recommend import best
from nas.spec import ArchSpec
from nas.strategies.base import RecordState, SearchStrategy, StrategyContext, TrialRecord
from nas.trial import EpochReport, TrialRequest, TrialResult

Build = Callable[[StrategyContext], SearchStrategy]
"""Makes the real strategy (its class and options) for a context."""


def is_fixed_stride(spec: ArchSpec) -> bool:
    """Whether no stage learns its stride (no DiffStride layer)."""
    return all(stage.downsample != "diffstride" for stage in spec.stages)


def base_origin(params: Mapping[str, Any]) -> str | None:
    """Where a trial's base came from, as shown (``diffstride #3``: that strategy run's trial
    number), from its request's ``params``; None for a strategy that starts from the job's."""
    source, trial = params.get("base_from"), params.get("base_trial")
    return None if source is None or trial is None else f"{source} #{trial}"


def recommendation(records: Sequence[TrialRecord]) -> TrialRecord | None:
    """The most accurate fixed-stride trial that completed (``nas.recommend``: finite accuracy,
    ties to the earliest); None when there is none. DiffStride's is its rounded retrain."""
    candidates = [
        r for r in records if r.state == RecordState.COMPLETED and is_fixed_stride(r.request.spec)
    ]
    found = best((r.accuracy, r.number) for r in candidates)
    return None if found is None else next(r for r in candidates if r.number == found[1])


class Chained(SearchStrategy):
    """The real strategy (``build``) started from the recommendation of the run ``source``."""

    name = "chained"
    description = "Another strategy, started from a strategy's recommendation."

    def __init__(self, context: StrategyContext, source: str, build: Build) -> None:
        super().__init__(context)
        self.source = source
        self._build = build
        self.inner: SearchStrategy | None = None
        self.origin: dict[str, Any] = {}  # where its base came from, once started
        self._cannot: str | None = None  # why it cannot start

    @property
    def started(self) -> bool:
        return self.inner is not None

    def begin(self, source: Sequence[TrialRecord]) -> bool:
        """The source (its ``records``) has stopped with nothing in flight: start from its
        recommendation. False when it has none to start from (``finished_reason`` says why;
        ``begin`` may be called again, e.g. after the source trained more)."""
        found = recommendation(source)
        if found is None:
            self._cannot = (
                f"nothing to start from: {self.source} has no completed fixed-stride trial"
            )
            return False
        try:
            self._start(found.request.spec, found.number)
        except NasError as exc:  # e.g. options that do not fit the recommended architecture
            self._cannot = f"cannot start from {self.source} #{found.number}: {exc}"
            return False
        return True

    def _start(self, base: ArchSpec, trial: int) -> None:
        origin = {"base_from": self.source, "base_trial": trial, "base_spec": base.to_string()}
        self.inner = self._build(dataclasses.replace(self.context, base=base, origin=origin))
        self.records = self.inner.records
        self.origin = origin
        self._cannot = None

    # ---- the protocol, delegated once started ---------------------------------------------

    def ask(self) -> TrialRequest | None:
        return self.inner.ask() if self.inner is not None else None

    def propose(self) -> TrialRequest | None:
        return self.inner.propose() if self.inner is not None else None

    def tell(self, number: int, result: TrialResult | None) -> None:
        self._started().tell(number, result)

    def tell_skipped(self, number: int) -> None:
        self._started().tell_skipped(number)

    def report(self, number: int, report: EpochReport) -> bool:
        return self._started().report(number, report)

    def is_finished(self) -> bool:
        return self.inner.is_finished() if self.inner is not None else self._cannot is not None

    def finished_reason(self) -> str:
        if self.inner is not None:
            return self.inner.finished_reason()
        return self._cannot or f"waiting for {self.source}"

    def replay(
        self,
        history: Iterable[tuple[TrialRequest, TrialResult | None, bool]],
        skipped: Collection[int] = (),
    ) -> None:
        """Rebuild from stored trials: the first names the base it started from."""
        trials = list(history)
        if trials and self.inner is None:
            params = trials[0][0].params
            if "base_spec" not in params or "base_trial" not in params:
                raise ValueError(
                    f"{self.context.key} starts from {self.source}, but its trial "
                    f"#{trials[0][0].number} names no base (params.base_spec)"
                )
            self._start(ArchSpec.from_string(params["base_spec"]), int(params["base_trial"]))
        if trials:
            self._started().replay(trials, skipped)

    def _started(self) -> SearchStrategy:
        if self.inner is None:
            raise RuntimeError(f"{self.context.key} has not started from {self.source} yet")
        return self.inner
