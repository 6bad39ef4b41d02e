"""DiffStride: learn the strides by gradient descent, then retrain the rounded architecture.

Phase 1 trains the base once per stride initialisation and per complexity weight (``lambdas``:
one search each, so one job draws the accuracy-vs-MACs trade-off) with DiffStride layers on the
chosen stages (``downsample="diffstride"``, the init as their starting strides). The trained
search network is itself a candidate final model (readout a: on the leaderboard, exportable).
Phase 2 (``retrain``, readout b) takes each finished search's strides, rounds them to integers
(half up, at least 1, per axis; ``round_by`` picks the stride parameter or the downsampling
the layer applied; ``round_to: space`` instead takes each stage to the nearest of the job's
stride choices) and trains that fixed-stride architecture from scratch, so it is compared
with the fixed-stride strategies on equal terms. Identical rounded architectures are retrained
once; failed searches are not retrained. Where the rounded strides would leave less than a
pixel, each stage's stride is lowered to at most the size it receives, first stage first
(``params.fitted_from`` keeps the rounding before that); an architecture still impossible
(a ``space`` whose choices cannot fit) is not retrained.

The layer defaults (``smoothness: auto``, ``ramp: inside``) and the strides' optimizer defaults
(``nas.trial.TrainOptions``) come from the sweep in ``bench/stride_sweep.py``; the paper's
layer is ``smoothness: 4, ramp: outside``.

Ask order: all searches first (they may run in parallel), then retrains in search-number order
as their searches finish; ``propose`` returns None while only pending searches could add more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nas.errors import OptionsError, SpecError
from nas.spec import ArchSpec
from nas.strategies.base import RecordState, SearchStrategy, StrategyContext, TrialRecord
from nas.trial import TrialRequest

Stride = tuple[float, float]


class DiffStrideOptions(BaseModel):
    """``inits``: stride initialisations, each one float per stage (default: the base's).

    An init may instead list one float per stage of ``which_stages``; the other stages then keep
    the base's strides. ``which_stages``: stage indices that get DiffStride (default: every stage
    whose base stride or any init's stride is above 1). ``lambdas``: complexity weights, one
    search per init and value (``regularizer`` is the single-value form). The ``stride_*``
    options override the job's training options for this strategy's searches.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    inits: list[list[float]] | None = Field(default=None, min_length=1, max_length=64)
    regularizer: float = Field(default=0.0, ge=0, description="lambda of the complexity term")
    lambdas: list[float] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="complexity weights: one search per init and value",
    )
    retrain: bool = True
    round_by: Literal["stride", "applied"] = Field(
        default="stride",
        description="round the learned stride parameter, or the downsampling the layer "
        "applied (input size / output size)",
    )
    round_to: Literal["integers", "space"] = Field(
        default="integers",
        description="integers: each axis to its nearest integer (anisotropic strides stay); "
        "space: each stage to the nearest of the job's stride choices (geometric mean of the "
        "two axes, nearest on a log scale), so the retrain is a point the fixed-stride "
        "strategies could also pick",
    )
    which_stages: list[int] | None = Field(default=None, min_length=1)
    smoothness: float | Literal["auto"] = Field(
        default="auto", description="R of the spectral mask: a number (the paper's 4) or auto"
    )
    ramp: Literal["inside", "outside"] = Field(
        default="inside", description="the mask's ramp inside the target or outside (the paper)"
    )
    stride_optimizer: Literal["adam", "sgd"] | None = None
    stride_lr: float | None = Field(default=None, gt=0, le=100)
    stride_lr_scale: float | None = Field(default=None, gt=0, le=10_000)
    stride_schedule: Literal["cosine", "constant"] | None = None

    @field_validator("smoothness")
    @classmethod
    def _smoothness_valid(cls, value: float | str) -> float | str:
        if value != "auto" and not (isinstance(value, int | float) and 0 < value <= 64):
            raise ValueError(f"must be a number in (0, 64] or 'auto', got {value!r}")
        return value

    @field_validator("inits")
    @classmethod
    def _inits_valid(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        for i, init in enumerate(value or []):
            if not init:
                raise ValueError(f"init {i} is empty")
            if any(not math.isfinite(s) or s < 1 or s > 64 for s in init):
                raise ValueError(f"init {i}: strides must be in [1, 64], got {init}")
        return value

    @field_validator("lambdas")
    @classmethod
    def _lambdas_valid(cls, value: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if value is not None:
            if info.data.get("regularizer", 0.0) != 0.0:
                raise ValueError("give either regularizer or lambdas, not both")
            if any(not math.isfinite(v) or v < 0 or v > 1000 for v in value):
                raise ValueError(f"every lambda must be in [0, 1000], got {value}")
            if len(set(value)) != len(value):
                raise ValueError(f"a lambda is listed twice: {value}")
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

    def weights(self) -> list[float]:
        """The complexity weights to search with: ``lambdas``, else ``[regularizer]``."""
        return list(self.lambdas) if self.lambdas is not None else [self.regularizer]

    def train_overrides(self) -> dict[str, Any]:
        """The ``stride_*`` options that were given, for ``TrainOptions``."""
        names = ("stride_optimizer", "stride_lr", "stride_lr_scale", "stride_schedule")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


def round_stride(value: float) -> int:
    """Nearest integer, halves up, at least 1 (1.6 -> 2, 2.4 -> 2, 2.5 -> 3, 0.9 -> 1)."""
    return max(1, math.floor(value + 0.5))


def fit_limit(size: float) -> int:
    """The largest integer stride that leaves at least one pixel of ``size`` (at least 1):
    28 -> 28, 3.5 -> 3, 1.17 -> 1, 0.5 -> 1."""
    return max(1, math.floor(size + 1e-9))


def nearest_choice(stride: Stride, choices: Sequence[int]) -> int:
    """The choice nearest to the stride's geometric mean on a log scale (ties: the larger).

    (2.4, 1.0) -> 1.55 -> 2 of [1, 2, 3]; (3.0, 5.24) -> 3.96 -> 3 of [1, 2, 3].
    """
    mean = math.sqrt(max(stride[0], 1.0) * max(stride[1], 1.0))
    return min(sorted(choices, reverse=True), key=lambda c: abs(math.log(c / mean)))


def _display(stride: Sequence[float]) -> float | list[float]:
    """One number for a square stride, ``[h, w]`` otherwise (for ``params``)."""
    return stride[0] if stride[0] == stride[1] else [stride[0], stride[1]]


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

    def _layer_extras(self, extras: dict[str, Any]) -> dict[str, Any]:
        """A DiffStride stage's extras: the layer options, written unless the paper's."""
        extras = {k: v for k, v in extras.items() if k not in ("smoothness", "ramp")}
        if self.options.smoothness != 4.0:
            extras["smoothness"] = self.options.smoothness
        if self.options.ramp != "outside":
            extras["ramp"] = self.options.ramp
        return extras

    @cached_property
    def _searches(self) -> list[tuple[list[float], float, ArchSpec]]:
        """``(init, lambda, search spec)`` per distinct initialisation and lambda."""
        base = self.context.base
        stages = set(self._stages)
        inits = self.options.inits or [[s.stride[0] for s in base.stages]]
        specs: list[tuple[list[float], ArchSpec]] = []
        seen: set[str] = set()
        for index, init in enumerate(inits):
            full = self._full_init(index, init)
            staged = []
            for i, stage in enumerate(base.stages):
                update: dict[str, object] = {}
                if i in stages:
                    update = {
                        "stride": (float(full[i]), float(full[i])),
                        "downsample": "diffstride",
                        "extras": self._layer_extras(stage.extras),
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
                specs.append((full, spec))
        return [(init, weight, spec) for weight in self.options.weights() for init, spec in specs]

    # ---- phase 2 ---------------------------------------------------------------------------

    def _learned(self, record: TrialRecord) -> list[Stride]:
        """Per stage: the learned stride (``round_by: applied``: the downsampling the layer
        applied), else (no DiffStride readout) the spec's stride."""
        spec = record.request.spec
        result = record.result
        learned = result.learned_strides if result is not None else []
        if len(learned) != len(spec.stages):
            learned = [None] * len(spec.stages)
        readouts = result.stride_readout if result is not None else []
        if self.options.round_by == "applied" and len(readouts) == len(spec.stages):
            learned = [
                r.applied if r is not None else value
                for r, value in zip(readouts, learned, strict=True)
            ]
        out: list[Stride] = []
        for value, stage in zip(learned, spec.stages, strict=True):
            out.append(stage.stride if value is None else (float(value[0]), float(value[1])))
        return out

    def _stride_choices(self) -> list[list[int]]:
        """Per stage, the space's stride choices (a space without stride choices holds only the
        base's strides, as for the grid)."""
        return self.context.space.strides or [
            [int(stage.stride[0])] for stage in self.context.base.stages
        ]

    def _rounded(self, learned: list[Stride]) -> list[tuple[int, int]]:
        """Integer strides per stage: per axis, or the nearest of the space's choices."""
        if self.options.round_to == "integers":
            return [(round_stride(h), round_stride(w)) for h, w in learned]
        return [
            (c, c)
            for c in (
                nearest_choice(s, cs) for s, cs in zip(learned, self._stride_choices(), strict=True)
            )
        ]

    def _fitted(
        self, learned: list[Stride], rounded: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """``rounded`` with each stage's stride at most the size it receives (``fit_limit``),
        first stage first, so a downsampling the image cannot take still gives a network: the
        later stages give way. In ``space`` mode a stage that does not fit takes the nearest
        choice within that limit (the smallest choice when none is: the retrain is then
        skipped as impossible)."""
        base = self.context.base
        sizes = [base.resolution / base.stem.reduction] * 2
        out: list[tuple[int, int]] = []
        for stride, picked, choices in zip(learned, rounded, self._stride_choices(), strict=True):
            high, wide = (fit_limit(size) for size in sizes)
            if picked[0] > high or picked[1] > wide:
                if self.options.round_to == "integers":
                    picked = (min(picked[0], high), min(picked[1], wide))
                else:
                    within = [c for c in choices if c <= min(high, wide)] or [min(choices)]
                    c = nearest_choice(stride, within)
                    picked = (c, c)
            sizes = [size / p for size, p in zip(sizes, picked, strict=True)]
            out.append(picked)
        return out

    def _retrain_for(self, record: TrialRecord) -> TrialRequest | None:
        """The retrain request of a finished search, or None if its rounding is impossible."""
        learned = self._learned(record)
        unfitted = self._rounded(learned)
        rounded = self._fitted(learned, unfitted)
        staged = [
            {
                **stage.model_dump(),
                "stride": (float(h), float(w)),
                "downsample": "strided",
                "extras": {
                    k: v for k, v in stage.extras.items() if k not in ("smoothness", "ramp")
                },
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
            "round_by": self.options.round_by,
            "round_to": self.options.round_to,
            "strides": [_display(s) for s in rounded],
        }
        if unfitted != rounded:  # later stages gave way to keep a pixel
            params["fitted_from"] = [_display(s) for s in unfitted]
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
            init, weight, spec = self._searches[asked]
            params: dict[str, Any] = {"phase": "search", "init": init}
            if self.options.lambdas is not None:
                params["lambda"] = weight
            return self.request(
                spec, params, stride_regularizer=weight, **self.options.train_overrides()
            )
        if not self.options.retrain:
            return None
        return self._next_retrain()

    def finished_reason(self) -> str:
        """``done: 1 search, 1 retrain`` (the runs that completed)."""
        return "done: " + ", ".join(
            _count(_completed(self._phase(phase)), phase) for phase in ("search", "retrain")
        )

    def is_finished(self) -> bool:
        searches = self._phase("search")
        if len(searches) < len(self._searches):
            return False
        if not self.options.retrain:
            return True
        if any(r.state == RecordState.PENDING for r in searches):
            return False
        return self._next_retrain() is None


def _completed(records: list[TrialRecord]) -> int:
    return sum(r.state == RecordState.COMPLETED for r in records)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 'es' if noun.endswith('h') else 's'}"
