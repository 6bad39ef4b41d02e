"""EfficientNet compound scaling (Tan & Le 2019): grid-search (alpha, beta, gamma), then scale.

Phase 1 trains the base scaled with phi = 1 at every grid point with
``alpha * beta^2 * gamma^2`` within ``tolerance`` of ``target`` (about 2: FLOPs double per unit
of phi). Phase 2, once every phase-1 trial has finished, takes the most accurate triple and
scales the base with phi = 2, 3, ... ``phi_max``, stopping before the first spec over the job's
MACs or parameter ceiling (``Objectives.max_macs`` / ``max_params``). Phase-1 specs over the
ceiling are skipped. When more grid points qualify than ``max_grid_points``, the paper's
(1.2, 1.1, 1.15) is kept if it qualifies and the rest are chosen by farthest-point sampling in
log space (spread over depth-, width- and resolution-heavy scalings; ties go to the point closest
to the target, then the smallest triple).
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from nas.errors import SpecError
from nas.scaling import compound_scale, flops_factor
from nas.spec import ArchSpec
from nas.strategies.base import RecordState, SearchStrategy, TrialRecord
from nas.trial import TrialRequest

Triple = tuple[float, float, float]
PAPER_TRIPLE: Triple = (1.2, 1.1, 1.15)


class CompoundOptions(BaseModel):
    """The (alpha, beta, gamma) candidates, the constraint and how far to scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    phi_max: int = Field(default=3, ge=1, le=16)
    alphas: list[float] = Field(default=[1.0, 1.1, 1.2, 1.3, 1.4], min_length=1)
    betas: list[float] = Field(default=[1.0, 1.05, 1.1, 1.15, 1.2], min_length=1)
    gammas: list[float] = Field(default=[1.0, 1.05, 1.1, 1.15, 1.2, 1.25], min_length=1)
    target: float = Field(default=2.0, gt=1, le=16, description="alpha * beta^2 * gamma^2")
    tolerance: float = Field(default=0.1, ge=0)
    max_grid_points: int | None = Field(default=6, ge=1, le=1000)

    @field_validator("alphas", "betas", "gammas")
    @classmethod
    def _coefficients_valid(cls, value: list[float]) -> list[float]:
        if any(not math.isfinite(v) or v < 1 or v > 4 for v in value):
            raise ValueError(f"coefficients must be in [1, 4], got {value}")
        return sorted(set(value))

    @field_validator("tolerance")
    @classmethod
    def _grid_not_empty(cls, value: float, info: ValidationInfo) -> float:
        d = info.data
        if all(k in d for k in ("alphas", "betas", "gammas", "target")) and not _qualifying(
            d["alphas"], d["betas"], d["gammas"], d["target"], value
        ):
            raise ValueError(
                f"no (alpha, beta, gamma) has alpha*beta^2*gamma^2 within {value} of {d['target']}"
            )
        return value


def _qualifying(
    alphas: list[float], betas: list[float], gammas: list[float], target: float, tolerance: float
) -> list[Triple]:
    return [
        (a, b, g)
        for a in alphas
        for b in betas
        for g in gammas
        if abs(flops_factor(a, b, g) - target) <= tolerance + 1e-12
    ]


def grid_points(options: CompoundOptions) -> list[Triple]:
    """The phase-1 triples, in ask order (see the module docstring)."""
    candidates = _qualifying(
        options.alphas, options.betas, options.gammas, options.target, options.tolerance
    )
    limit = options.max_grid_points
    if limit is None or len(candidates) <= limit:
        return candidates

    def closeness(t: Triple) -> tuple[float, Triple]:
        return (abs(flops_factor(*t) - options.target), t)

    def distance(x: Triple, y: Triple) -> float:
        return math.dist([math.log(v) for v in x], [math.log(v) for v in y])

    chosen = [PAPER_TRIPLE] if PAPER_TRIPLE in candidates else [min(candidates, key=closeness)]
    while len(chosen) < limit:
        rest = [t for t in candidates if t not in chosen]
        chosen.append(
            min(rest, key=lambda t: (-min(distance(t, c) for c in chosen), *closeness(t)))
        )
    return chosen


def spec_cost(spec: ArchSpec) -> tuple[int, int]:
    """``(macs, params)`` of ``spec``, cached by its block string (building a model is slow)."""
    return _cost(spec.to_string())


@lru_cache(maxsize=512)
def _cost(spec_string: str) -> tuple[int, int]:
    from nas.flops import complexity

    c = complexity(ArchSpec.from_string(spec_string))
    return c.macs, c.params


class CompoundScaling(SearchStrategy):
    name = "compound"
    description = (
        "EfficientNet compound scaling: grid over (alpha, beta, gamma) with "
        "alpha*beta^2*gamma^2 ~ 2 at phi = 1, then scale the best up to the compute ceiling."
    )
    Options = CompoundOptions

    # ---- the plan: a pure function of options and context ---------------------------------

    def _within_ceiling(self, spec: ArchSpec) -> bool:
        objectives = self.context.objectives
        if objectives.max_macs is None and objectives.max_params is None:
            return True
        macs, params = spec_cost(spec)
        return (objectives.max_macs is None or macs <= objectives.max_macs) and (
            objectives.max_params is None or params <= objectives.max_params
        )

    def _scaled(self, phi: int, triple: Triple) -> ArchSpec | None:
        try:
            spec = compound_scale(self.context.base, phi, *triple)
        except SpecError:
            return None
        return spec if self._within_ceiling(spec) else None

    @cached_property
    def _grid(self) -> list[tuple[Triple, ArchSpec]]:
        """Phase-1 points whose phi = 1 spec is valid and within the ceiling."""
        out = []
        for triple in grid_points(self.options):
            spec = self._scaled(1, triple)
            if spec is not None:
                out.append((triple, spec))
        return out

    def _scale_plan(self, triple: Triple) -> list[ArchSpec]:
        """phi = 2 .. phi_max for ``triple``, up to (excluding) the first over the ceiling."""
        plan = []
        for phi in range(2, self.options.phi_max + 1):
            spec = self._scaled(phi, triple)
            if spec is None:
                break
            plan.append(spec)
        return plan

    def _phase(self, phase: str) -> list[TrialRecord]:
        return [r for r in self.records if r.request.params.get("phase") == phase]

    def best_triple(self) -> Triple | None:
        """The most accurate phase-1 triple (earliest on ties); None if none has a result."""
        done = [r for r in self._phase("grid") if r.result is not None]
        if not done:
            return None
        best = max(done, key=lambda r: (r.result.accuracy if r.result else 0.0, -r.number))
        p = best.request.params
        return (float(p["alpha"]), float(p["beta"]), float(p["gamma"]))

    def _params(self, phase: str, triple: Triple, phi: int) -> dict[str, Any]:
        alpha, beta, gamma = triple
        return {"phase": phase, "alpha": alpha, "beta": beta, "gamma": gamma, "phi": phi}

    # ---- the protocol ---------------------------------------------------------------------

    def propose(self) -> TrialRequest | None:
        grid = self._phase("grid")
        if len(grid) < len(self._grid):
            triple, spec = self._grid[len(grid)]
            return self.request(spec, self._params("grid", triple, 1))
        if any(r.state == RecordState.PENDING for r in grid):
            return None
        triple_ = self.best_triple()
        if triple_ is None:
            return None
        asked = len(self._phase("scale"))
        plan = self._scale_plan(triple_)
        if asked >= len(plan):
            return None
        return self.request(plan[asked], self._params("scale", triple_, asked + 2))

    def finished_reason(self) -> str:
        """``done: 2 grid points, scaled to phi 2`` (what completed), or why it could not scale."""
        grid = [r for r in self._phase("grid") if r.state == RecordState.COMPLETED]
        if not grid:
            return "done: no grid point completed, nothing to scale"
        scaled = [r for r in self._phase("scale") if r.state == RecordState.COMPLETED]
        phi = max((int(r.request.params["phi"]) for r in scaled), default=1)
        points = f"{len(grid)} grid point{'' if len(grid) == 1 else 's'}"
        return f"done: {points}, scaled to phi {phi}"

    def is_finished(self) -> bool:
        grid = self._phase("grid")
        if len(grid) < len(self._grid) or any(r.state == RecordState.PENDING for r in grid):
            return False
        triple = self.best_triple()
        return triple is None or len(self._phase("scale")) >= len(self._scale_plan(triple))
