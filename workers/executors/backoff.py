"""One retry policy for the loops that wait on something lost (the database, a Ray cluster): the
delay doubles after each failure, up to a ceiling, and starts over after a success."""

from __future__ import annotations


class ExponentialBackoff:
    """Delays ``initial``, ``2 * initial``, ``4 * initial`` ... capped at ``maximum``.

    ``next_delay()`` is the wait before the next try (and doubles the one after); ``reset()``
    after a success starts again at ``initial``. The first delay is ``initial`` even when it is
    above ``maximum``; every later one is at most ``maximum``.
    """

    def __init__(self, initial: float, maximum: float, factor: float = 2.0) -> None:
        if not initial >= 0 or not maximum >= 0 or not factor >= 1:
            raise ValueError(
                f"backoff needs initial >= 0, maximum >= 0 and factor >= 1, got {initial}, "
                f"{maximum}, {factor}"
            )
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._delay = initial

    def next_delay(self) -> float:
        """The wait before the next try; the one after it grows."""
        delay = self._delay
        self._delay = min(self.maximum, delay * self.factor)
        return delay

    def reset(self) -> None:
        """A try succeeded: the next failure waits ``initial`` again."""
        self._delay = self.initial
