"""Several jobs on one executor: fair, weighted slots.

``JobPool`` drives jobs that share one executor, each a ``workers.jobs.steps.SteppedJob`` (a
``workers.jobs.runner.JobRunner``). Each free slot goes to a job that wants one: first the highest
``priority``; among those, the job with the fewest trials in flight per unit of ``weight``,
then the one that has been given the fewest slots per unit of weight
(stride scheduling: a job's ``pass`` grows by ``1 / weight`` per slot; a job that joins starts at
the smallest pass of the others, so it cannot claim the slots it "missed"). So at steady state
each job runs trials in proportion to its weight, on a wide executor (in flight at once) and on a
narrow one (in turn); a job with nothing to run now gives its slots to the others, and gets the
next free one when it has something again. Completions are routed to the job whose trial it was
(trial ids are unique across the pool's jobs: the SQL store's ids are).

A runner's exception is the job's failure, not the pool's: it is recorded in ``failures`` and the
job is removed (its in-flight trials cancelled); the caller decides what it means (the server's
scheduler tells a lost database or lease from a broken job). With ``reraise`` it propagates.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

from workers.executors.interface import Executor
from workers.jobs.steps import SteppedJob

K = TypeVar("K", bound=Hashable)


@dataclass(eq=False)
class PoolEntry(Generic[K]):
    key: K
    runner: SteppedJob
    weight: float = 1.0
    priority: int = 0
    passed: float = 0.0  # slots given so far, each counting 1 / weight
    order: int = 0


class JobPool(Generic[K]):
    """Runners sharing ``executor``, each under a key (a job id); call ``fill`` and ``wait``
    in a loop."""

    def __init__(self, executor: Executor, *, reraise: bool = False) -> None:
        self.executor = executor
        self.reraise = reraise
        self.entries: dict[K, PoolEntry[K]] = {}
        self.failures: list[tuple[K, Exception]] = []
        self._added = 0

    # ---- membership -----------------------------------------------------------------------

    def add(self, key: K, runner: SteppedJob, weight: float = 1.0, priority: int = 0) -> None:
        """Start ``runner`` (replay, resubmit its unfinished trials) and give it slots."""
        if weight <= 0:
            raise ValueError(f"weight must be > 0, got {weight}")
        if key in self.entries:
            raise ValueError(f"job {key!r} is already in the pool")
        start = min((e.passed for e in self.entries.values()), default=0.0)
        self._added += 1
        entry = PoolEntry(key, runner, weight, priority, passed=start, order=self._added)
        self.entries[key] = entry
        self._guard(entry, runner.start)

    def remove(self, key: K) -> SteppedJob | None:
        """Take a job out; its in-flight trials are cancelled in the executor (the store is
        left as it is)."""
        entry = self.entries.pop(key, None)
        if entry is None:
            return None
        entry.runner.cancel()
        return entry.runner

    def finished(self) -> list[K]:
        """The jobs whose strategies have all stopped with nothing in flight."""
        return [key for key, entry in self.entries.items() if entry.runner.done]

    def in_flight(self, key: K) -> int:
        entry = self.entries.get(key)
        return entry.runner.in_flight() if entry is not None else 0

    # ---- slots ----------------------------------------------------------------------------

    def fill(self) -> None:
        """Give every free executor slot to a job that has something to run."""
        hungry = list(self.entries.values())
        for entry in hungry:
            entry.runner.new_round()
        while hungry and self.executor.in_flight() < self.executor.capacity:
            top = max(e.priority for e in hungry)
            entry = min(
                (e for e in hungry if e.priority == top),
                key=lambda e: (e.runner.in_flight() / e.weight, e.passed, e.order),
            )
            submitted = self._guard(entry, entry.runner.offer)
            if submitted:
                entry.passed += 1.0 / entry.weight
            else:
                hungry.remove(entry)

    def wait(self, timeout: float | None = None) -> int:
        """Collect completions (up to ``timeout``) and hand each to its job; how many came."""
        completions = self.executor.wait(timeout)
        for completion in completions:
            entry = next(
                (e for e in self.entries.values() if e.runner.owns(completion.trial_id)), None
            )
            if entry is not None:  # else: a trial of a job taken out meanwhile
                self._guard(entry, partial(entry.runner.complete, completion))
        return len(completions)

    # ---- failures -------------------------------------------------------------------------

    def _guard(self, entry: PoolEntry[K], call: Callable[[], object]) -> bool:
        """Run one step of a job; an exception takes the job out (recorded in ``failures``)."""
        try:
            return bool(call())
        except Exception as exc:
            if self.reraise:
                raise
            if self.entries.get(entry.key) is entry:
                self.remove(entry.key)
            self.failures.append((entry.key, exc))
            return False

    def take_failures(self) -> list[tuple[K, Exception]]:
        """The jobs taken out by an exception since the last call, with the exception."""
        failures, self.failures = self.failures, []
        return failures
