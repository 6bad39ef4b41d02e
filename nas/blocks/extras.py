"""Typed reading of a stage's block-specific ``extras`` (``key=value`` in the block string).

Every reader raises a ``SpecError`` naming ``<field>.extras.<key>`` when the value has the wrong
type or range, so a bad block string is rejected when the spec is created, not when it is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.errors import SpecError

if TYPE_CHECKING:
    from nas.spec_types import StageSpec


def int_extra(
    stage: StageSpec,
    key: str,
    default: int,
    field: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """``stage.extras[key]`` as an integer in ``[minimum, maximum]``, else ``default``."""
    value = stage.extras.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"must be an integer, got {value!r}", field=f"{field}.extras.{key}")
    _check_range(value, minimum, maximum, f"{field}.extras.{key}")
    return value


def float_extra(
    stage: StageSpec,
    key: str,
    default: float,
    field: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """``stage.extras[key]`` as a number in ``[minimum, maximum]``, else ``default``."""
    value = stage.extras.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"must be a number, got {value!r}", field=f"{field}.extras.{key}")
    _check_range(float(value), minimum, maximum, f"{field}.extras.{key}")
    return float(value)


def _check_range(value: float, minimum: float | None, maximum: float | None, field: str) -> None:
    if minimum is not None and value < minimum:
        raise SpecError(f"must be >= {minimum}, got {value}", field=field)
    if maximum is not None and value > maximum:
        raise SpecError(f"must be <= {maximum}, got {value}", field=field)
