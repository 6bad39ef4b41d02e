"""``workers.jobs.units.si``: numbers as people read them, never longer than five characters."""

from __future__ import annotations

import pytest

from workers.jobs.units import count, si


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (701_184, "", "701k"),
        (19_136_000, "", "19.1M"),
        (2.14e11, "FLOPs", "214 GFLOPs"),
        (999_499, "", "999k"),
        (999_500, "", "1M"),  # rounds up into the next prefix, never "1e+03k"
        (25_557_032, "", "25.6M"),
        (0, "", "0"),
        (12, "FLOPs", "12 FLOPs"),
        (0.5, "", "0.5"),
        (-4.2e9, "", "-4.2G"),
        (1.234e15, "", "1.23P"),
        (2e18, "", "2,000P"),
    ],
)
def test_si(value: float, unit: str, text: str) -> None:
    assert si(value, unit) == text


def test_si_is_short_from_one_to_a_peta() -> None:
    for exponent in range(0, 17):
        for mantissa in (1.0, 1.23456, 4.99, 9.9951):
            assert len(si(mantissa * 10**exponent)) <= 5, mantissa * 10**exponent


def test_count() -> None:
    assert (
        count(1, "trial") == "1 trial" and count(41, "skipped proposal") == "41 skipped proposals"
    )
