"""A trial's strides per stage as one short text, e.g. ``1-2-2-2`` or ``1-1.63-2.41-3.00``.

Fixed strides come from the block string (its stage tokens' ``s<h>`` or ``s<h>x<w>`` parts; no
part: stride 1), read without building an ``ArchSpec`` (a listing of 50,000 trials reads each
distinct block string once, in microseconds). A DiffStride stage's learned stride (stages marked
``diffstride`` only), once the trial has one (``TrialResult.learned_strides``), replaces its
starting stride and is written with two decimals, so a learned ``2.00`` is told apart from a
fixed ``2``. Stages are joined by ``-``; a
stage whose height and width differ reads ``<h>x<w>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

_NUMBER = r"\d+(?:\.\d+)?(?:e-?\d+)?"
_STRIDE_PART = re.compile(rf"s({_NUMBER})(?:x({_NUMBER}))?")
_HEADER_TOKENS = 6  # family, r, c, n, activation, stem; then the stages, then the head


@lru_cache(maxsize=65_536)
def _stages(block: str) -> tuple[tuple[float, float, bool], ...] | None:
    """(height stride, width stride, learns it: DiffStride) of each stage of a block string;
    None if it is not one."""
    tokens = block.strip().split(":")
    if len(tokens) < _HEADER_TOKENS + 2:
        return None
    stages = []
    for token in tokens[_HEADER_TOKENS:-1]:
        h = w = 1.0
        parts = token.split("_")[1:]
        for part in parts:
            match = _STRIDE_PART.fullmatch(part)  # "se0.25" (SE) and "k=v" extras do not match
            if match:
                h = float(match[1])
                w = float(match[2] or match[1])
        stages.append((h, w, "diffstride" in parts))
    return tuple(stages)


def stage_strides(block: str) -> tuple[tuple[float, float], ...] | None:
    """The (height, width) stride of each stage of a block string; None if it is not one."""
    stages = _stages(block)
    return None if stages is None else tuple((h, w) for h, w, _ in stages)


def _fixed(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _pair(value: Any) -> tuple[float, float] | None:
    """A stored learned stride ``[h, w]``, or None when missing or malformed."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    h, w = value
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in (h, w)):
        return None
    if not (math.isfinite(h) and math.isfinite(w)):
        return None
    return float(h), float(w)


def strides_text(block: str, learned: Sequence[Any] | None = None) -> str | None:
    """``1-2-2-2``: each stage's stride; ``learned`` (per stage ``[h, w]`` or None, as stored)
    overrides the block string's with two decimals. None when ``block`` is not a block string."""
    if learned is None:
        return _fixed_text(block)
    return _text(block, learned)


@lru_cache(maxsize=65_536)
def _fixed_text(block: str) -> str | None:
    """``strides_text`` of a block string alone: the same for every trial of that string."""
    return _text(block, None)


def _text(block: str, learned: Sequence[Any] | None) -> str | None:
    stages = _stages(block)
    if stages is None:
        return None
    parts = []
    for k, (h, w, learns) in enumerate(stages):
        pair = _pair(learned[k]) if learns and learned is not None and k < len(learned) else None
        if pair is not None:
            lh, lw = f"{pair[0]:.2f}", f"{pair[1]:.2f}"
            parts.append(lh if lh == lw else f"{lh}x{lw}")
        else:
            parts.append(_fixed(h) if h == w else f"{_fixed(h)}x{_fixed(w)}")
    return "-".join(parts)
