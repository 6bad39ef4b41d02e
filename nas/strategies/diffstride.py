"""DiffStride: learn the strides by gradient descent, then retrain the rounded architecture.

Phase 1 trains the base once per stride initialisation with DiffStride layers on the chosen
stages (``downsample="diffstride"``, the init as their starting strides), optionally with the
complexity regularizer. Phase 2 (``retrain``) takes each finished search's learned strides,
rounds them to integers (half up, at least 1, per axis) and trains that fixed-stride
architecture from scratch, so it is compared with the fixed-stride strategies on equal terms.
Identical rounded architectures are retrained once; failed searches and rounded architectures
that are impossible (strides leaving no pixels) are not retrained.

Ask order: all searches first (they may run in parallel), then retrains in search-number order
as their searches finish; ``propose`` returns None while only pending searches could add more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nas.errors import OptionsError, SpecError
from nas.layers.downsample import DEFAULT_SMOOTHNESS
from nas.spec import ArchSpec
from nas.strategies import register
from nas.strategies.base import SearchStrategy, StrategyContext, TrialRecord
from nas.trial import TrialRequest

Stride = tuple[float, float]


class DiffStrideOptions(BaseModel):
    """``inits``: stride initialisations, each one float per stage (default: the base's).

    An init may instead list one float per stage of ``which_stages``; the other stages then keep
    the base's strides. ``which_stages``: stage indices that get DiffStride (default: every stage
    whose base stride or any init's stride is above 1).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    inits: list[list[float]] | None = Field(default=None, min_length=1, max_length=64)
    regularizer: float = Field(default=0.0, ge=0, description="lambda of the complexity term")
    retrain: bool = True
    which_stages: list[int] | None = Field(default=None, min_length=1)
    smoothness: float = Field(
        default=4.0, gt=0, le=64, description="R of the spectral mask (the paper's 4)"
    )

    @field_validator("inits")
    @classmethod
    def _inits_valid(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        for i, init in enumerate(value or []):
            if not init:
                raise ValueError(f"init {i} is empty")
            if any(not math.isfinite(s) or s < 1 or s > 64 for s in init):
                raise ValueError(f"init {i}: strides must be in [1, 64], got {init}")
        return value

    @field_validator("which_stages")
    @classmethod
    def _stages_valid(cls, value: list[int] | None) -> list[int] | None:
        if value is not None:
            if any(i < 0 for i in value):
                raise ValueError(f"stage indices must be >= 0, got {value}")
            if len(set(value)) != len(value):
                raise ValueError(f"stage indices must be distinct, got {value}")
        return value


def round_stride(value: float) -> int:
    """Nearest integer, halves up, at least 1 (1.6 -> 2, 2.4 -> 2, 2.5 -> 3, 0.9 -> 1)."""
    return max(1, math.floor(value + 0.5))


def _display(stride: Sequence[float]) -> float | list[float]:
    """One number for a square stride, ``[h, w]`` otherwise (for ``params``)."""
    return stride[0] if stride[0] == stride[1] else [stride[0], stride[1]]


@register
class DiffStrideSearch(SearchStrategy):
    name = "diffstride"
    description = (
        "Learn per-stage strides with DiffStride from one or more initialisations "
        "(optionally regularized), then retrain the rounded fixed-stride architecture."
    )
    Options = DiffStrideOptions

    def __init__(
        self, context: StrategyContext, options: BaseModel | dict[str, Any] | None = None
    ) -> None:
        super().__init__(context, options)
        self._searches  # noqa: B018  (validate the options against the base now)

    # ---- the plan: a pure function of options and context ---------------------------------

    @cached_property
    def _stages(self) -> list[int]:
        """Indices of the stages that get DiffStride."""
        options: DiffStrideOptions = self.options
        n = len(self.context.base.stages)
        if options.which_stages is not None:
            bad = [i for i in options.which_stages if i >= n]
            if bad:
                raise OptionsError(
                    f"stage indices {bad} out of range for a base with {n} stages",
                    field="which_stages",
                )
            return sorted(options.which_stages)
        base = [max(s.stride) for s in self.context.base.stages]
        inits = [i for i in options.inits or [] if len(i) == n]
        chosen = [i for i in range(n) if base[i] > 1 or any(init[i] > 1 for init in inits)]
        if not chosen:
            raise OptionsError(
                "no stage downsamples; list which_stages or an init with a stride > 1",
                field="which_stages",
            )
        return chosen

    def _full_init(self, index: int, init: list[float]) -> list[float]:
        base = self.context.base
        n, stages = len(base.stages), self._stages
        if len(init) == n:
            full = list(init)
        elif len(init) == len(stages):
            full = [s.stride[0] for s in base.stages]
            for stage, value in zip(stages, init, strict=True):
                full[stage] = value
        else:
            raise OptionsError(
                f"{len(init)} strides; expected one per stage ({n}) or per DiffStride stage "
                f"({len(stages)})",
                field=f"inits[{index}]",
            )
        for i, value in enumerate(full):
            if i not in stages and value != int(value):
                raise OptionsError(
                    f"stage {i} has no DiffStride, so its stride must be an integer, got {value}",
                    field=f"inits[{index}]",
                )
        return full

    @cached_property
    def _searches(self) -> list[tuple[list[float], ArchSpec]]:
        """``(init, search spec)`` per distinct initialisation, in option order."""
        base = self.context.base
        stages = set(self._stages)
        inits = self.options.inits or [[s.stride[0] for s in base.stages]]
        out: list[tuple[list[float], ArchSpec]] = []
        seen: set[str] = set()
        for index, init in enumerate(inits):
            full = self._full_init(index, init)
            staged = []
            for i, stage in enumerate(base.stages):
                update: dict[str, object] = {}
                if i in stages:
                    extras = {**stage.extras}
                    if self.options.smoothness != DEFAULT_SMOOTHNESS:
                        extras["smoothness"] = self.options.smoothness
                    update = {
                        "stride": (float(full[i]), float(full[i])),
                        "downsample": "diffstride",
                        "extras": extras,
                    }
                elif float(full[i]) != stage.stride[0] or stage.stride[0] != stage.stride[1]:
                    update = {"stride": (float(full[i]), float(full[i]))}
                staged.append({**stage.model_dump(), **update})
            try:
                spec = base.replace(stages=staged)
            except SpecError as exc:
                raise OptionsError(str(exc), field=f"inits[{index}]") from None
            if spec.to_string() not in seen:
                seen.add(spec.to_string())
                out.append((full, spec))
        return out

    # ---- phase 2 ---------------------------------------------------------------------------

    def _learned(self, record: TrialRecord) -> list[Stride]:
        """Per stage: the learned stride, else (no DiffStride readout) the spec's stride."""
        spec = record.request.spec
        learned = record.result.learned_strides if record.result is not None else []
        if len(learned) != len(spec.stages):
            learned = [None] * len(spec.stages)
        out: list[Stride] = []
        for value, stage in zip(learned, spec.stages, strict=True):
            out.append(stage.stride if value is None else (float(value[0]), float(value[1])))
        return out

    def _retrain_for(self, record: TrialRecord) -> TrialRequest | None:
        """The retrain request of a finished search, or None if its rounding is impossible."""
        learned = self._learned(record)
        rounded = [(round_stride(h), round_stride(w)) for h, w in learned]
        staged = [
            {
                **stage.model_dump(),
                "stride": (float(h), float(w)),
                "downsample": "strided",
                "extras": {k: v for k, v in stage.extras.items() if k != "smoothness"},
            }
            for stage, (h, w) in zip(self.context.base.stages, rounded, strict=True)
        ]
        try:
            spec = self.context.base.replace(stages=staged)
        except SpecError:
            return None
        params = {
            "phase": "retrain",
            "from_trial": record.number,
            "learned": [_display(s) for s in learned],
            "strides": [_display(s) for s in rounded],
        }
        return self.request(spec, params)

    def _next_retrain(self) -> TrialRequest | None:
        done = {r.request.params.get("from_trial") for r in self._phase("retrain")}
        asked = {r.request.spec.to_string() for r in self._phase("retrain")}
        for record in self._phase("search"):
            if record.result is None or record.number in done:
                continue
            request = self._retrain_for(record)
            if request is not None and request.spec.to_string() not in asked:
                return request
        return None

    def _phase(self, phase: str) -> list[TrialRecord]:
        return [r for r in self.records if r.request.params.get("phase") == phase]

    # ---- the protocol ---------------------------------------------------------------------

    def propose(self) -> TrialRequest | None:
        asked = len(self._phase("search"))
        if asked < len(self._searches):
            init, spec = self._searches[asked]
            return self.request(
                spec,
                {"phase": "search", "init": init},
                stride_regularizer=self.options.regularizer,
            )
        if not self.options.retrain:
            return None
        return self._next_retrain()

    def is_finished(self) -> bool:
        searches = self._phase("search")
        if len(searches) < len(self._searches):
            return False
        if not self.options.retrain:
            return True
        if any(r.state == "pending" for r in searches):
            return False
        return self._next_retrain() is None
