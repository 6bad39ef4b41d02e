"""Numbers and test results as the findings write them (shared by ``scripts/findings.py`` and
``scripts/findings_questions.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from bench.paired import NOT_DISTINGUISHABLE
from nas.verdict import ALPHA


def pts(value: float | None) -> str:
    """An accuracy in percent (0.8267 -> 82.67)."""
    return "-" if value is None else f"{100 * value:.2f}"


def strides(values: Sequence[int | float]) -> str:
    return "(" + ", ".join(f"{v:g}" for v in values) + ")"


def trend(rho: float, p: float) -> str:
    """What Spearman's test of accuracy against compute says."""
    if p >= ALPHA:
        return f"no trend of accuracy with compute shown ({NOT_DISTINGUISHABLE} from none)"
    return "accuracy falls with compute" if rho < 0 else "accuracy rises with compute"
