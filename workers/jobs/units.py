"""Quantities as people read them: ``701k``, ``19.1M``, ``214 GFLOPs``.

Three significant digits and an SI prefix (k, M, G, T, P): at most five characters before the
unit, so a number fits a narrow column whole. The CLI, the budget's skip and stop reasons and the
runner's messages all write numbers through ``si``.
"""

from __future__ import annotations

import math

_PREFIXES = ((1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"), (1e15, "P"))


def si(value: float, unit: str = "") -> str:
    """``value`` with three significant digits and an SI prefix: ``si(701184) == "701k"``,
    ``si(2.14e11, "FLOPs") == "214 GFLOPs"`` (a space before a unit, none before a bare
    prefix); beyond peta the digits grow (``"2,000P"``)."""
    if not math.isfinite(value):
        return f"{value}{' ' + unit if unit else ''}"
    sign = "-" if value < 0 else ""
    size = abs(value)
    for scale, prefix in _PREFIXES:
        scaled = size / scale
        if scaled < 999.5:
            digits = f"{scaled:.3g}" if scaled >= 0.001 or scaled == 0 else f"{scaled:.1e}"
            return _join(sign + digits, prefix, unit)
    scale, prefix = _PREFIXES[-1]
    return _join(f"{sign}{size / scale:,.0f}", prefix, unit)


def _join(digits: str, prefix: str, unit: str) -> str:
    return f"{digits} {prefix}{unit}" if unit else digits + prefix


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 trial``, ``2 trials``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
