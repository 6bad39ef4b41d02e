"""``SteppedJob``: what ``workers.jobs.pool.JobPool`` drives, one step at a time.

``workers.jobs.runner.JobRunner`` is one (and runs itself as a pool of one); the pool knows only
these steps, so the two modules meet here and neither imports the other back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workers.executors.interface import Completion


class SteppedJob(Protocol):
    """A job on a shared executor: started once, offered free slots, handed its completions."""

    def start(self) -> None:
        """Get ready (replay, resubmit unfinished trials); called once, when it joins a pool."""

    def new_round(self) -> None:
        """A new round of offers begins: what declined before may be asked again."""

    def offer(self) -> bool:
        """One free executor slot: True when the job submitted a trial into it."""

    def owns(self, trial_id: int) -> bool:
        """Whether ``trial_id`` is one of this job's trials in flight."""

    def complete(self, completion: Completion) -> None:
        """One of its trials ended."""

    def in_flight(self) -> int:
        """Its trials submitted and not completed yet."""

    @property
    def done(self) -> bool:
        """Nothing more to run and nothing in flight."""

    def cancel(self) -> None:
        """Cancel its in-flight trials in the executor."""
