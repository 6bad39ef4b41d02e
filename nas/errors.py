"""One error family for the library; the API maps each class to an HTTP status in one place."""

from __future__ import annotations


class NasError(Exception):
    """Base of every error this project raises on purpose.

    ``field`` names the offending input (dotted path, e.g. ``stages[2].stride``) when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class SpecError(NasError, ValueError):
    """An architecture specification is invalid."""


class DataError(NasError, ValueError):
    """A dataset is missing, unreadable or malformed."""


class OptionsError(NasError, ValueError):
    """Training or search options are invalid."""


class TrainingDiverged(NasError, ArithmeticError):
    """The training loss stopped being a finite number: the trial's result would be noise."""


class NotFoundError(NasError, LookupError):
    """A named thing (preset, block, strategy, dataset) does not exist."""


class ConflictError(NasError):
    """The request is valid but illegal in the current state (e.g. cancelling a finished job)."""
