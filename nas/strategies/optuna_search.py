"""Optuna ask/tell over the fixed-stride space: TPE (default), CMA-ES, NSGA-II or random.

The study lives in memory and is rebuilt from the strategy's records every time it is needed, in
ask order (each record enqueued with its params, asked, its epochs reported, then told), with the
sampler seeded from (job seed, number of records). ``propose`` is therefore a pure function of the
records: a strategy rebuilt with ``replay()`` asks exactly what one that never stopped would.

Dimensions with more than one choice become categorical distributions (``stride<i>``,
``block<i>``, ``downsample``, ``width``, ``depth``, ``resolution``; CMA-ES, which ignores
categoricals, gets ordinal integer indices into the sorted choices instead). Single objective:
maximise accuracy. With ``nsga2``, or when the job sets ``objectives.secondary``, the study is
multi-objective (accuracy up, MACs or parameters down; CMA-ES stays single-objective). Pruning
always judges validation accuracy per epoch with a separate single-objective study and Optuna's
pruner.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field

from nas.pareto import pareto_front
from nas.strategies.base import RecordState, SearchStrategy, StrategyContext, TrialRecord
from nas.strategies.random_search import ENUMERATE_LIMIT, rng_for
from nas.strategies.space import Space, asked_keys, key_of_params
from nas.trial import TrialRequest

optuna.logging.set_verbosity(optuna.logging.WARNING)

_DIM_NAMES = ("width", "depth", "resolution")


class OptunaOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sampler: Literal["tpe", "cmaes", "nsga2", "random"] = "tpe"
    pruner: Literal["none", "median", "hyperband"] = "median"
    n_startup_trials: int = Field(
        default=10, ge=0, le=10_000, description="random trials before TPE/CMA-ES model"
    )
    population_size: int = Field(default=20, ge=2, le=10_000, description="NSGA-II")
    pruner_startup_trials: int = Field(
        default=5, ge=0, le=10_000, description="completed trials before the median pruner acts"
    )
    pruner_warmup_epochs: int = Field(default=0, ge=0, le=1000)
    reduction_factor: int = Field(default=3, ge=2, le=100, description="Hyperband")
    max_retries: int = Field(
        default=10, ge=0, le=1000, description="re-asks when the sampler repeats a point"
    )


class OptunaSearch(SearchStrategy):
    """Optuna's samplers and pruners on the discrete fixed-stride space."""

    name = "optuna"
    description = (
        "Optuna ask/tell (TPE by default; CMA-ES; NSGA-II for accuracy vs MACs/params) over "
        "per-stage strides and block types, downsampling kinds, widths, depths and resolutions, "
        "with median/Hyperband pruning."
    )
    Options = OptunaOptions

    def __init__(
        self, context: StrategyContext, options: BaseModel | dict[str, Any] | None = None
    ) -> None:
        super().__init__(context, options)
        self.space = Space(context.base, context.space)
        names = [
            *(f"stride{i}" for i in range(len(self.space.stride_choices))),
            *(f"block{i}" for i in range(len(self.space.block_choices))),
            "downsample",
            *_DIM_NAMES,
        ]
        # (name, position in Space.dims, choices) for every dimension with a real choice.
        self._dims = [
            (name, d, choices)
            for d, (name, choices) in enumerate(zip(names, self.space.dims, strict=True))
            if len(choices) > 1
        ]
        self.distributions: dict[str, Any] = {
            name: (
                optuna.distributions.IntDistribution(0, len(choices) - 1)
                if self.ordinal
                else optuna.distributions.CategoricalDistribution(choices)
            )
            for name, _, choices in self._dims
        }
        self._valid: list[int] | None = None

    # ---- configuration ---------------------------------------------------------------------

    @property
    def ordinal(self) -> bool:
        """CMA-ES handles no categoricals: it gets indices into the sorted choices."""
        return bool(self.options.sampler == "cmaes")

    @property
    def multi_objective(self) -> bool:
        if self.options.sampler == "cmaes":
            return False
        return self.options.sampler == "nsga2" or self.context.objectives.secondary is not None

    @property
    def secondary(self) -> Literal["macs", "params"]:
        return self.context.objectives.secondary or "macs"

    def _sampler(self, seed: int) -> Any:
        o = self.options
        if o.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed, n_startup_trials=o.n_startup_trials)
        if o.sampler == "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=seed, n_startup_trials=o.n_startup_trials, warn_independent_sampling=False
            )
        if o.sampler == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=o.population_size)
        return optuna.samplers.RandomSampler(seed=seed)

    def _pruner(self) -> Any:
        o = self.options
        if o.pruner == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=o.pruner_startup_trials, n_warmup_steps=o.pruner_warmup_epochs
            )
        if o.pruner == "hyperband":
            return optuna.pruners.HyperbandPruner(
                min_resource=1,
                max_resource=max(self.context.epochs, 1),
                reduction_factor=o.reduction_factor,
            )
        return optuna.pruners.NopPruner()

    # ---- points <-> Optuna params ------------------------------------------------------------

    def _params_of(self, index: int) -> dict[str, Any]:
        coords = self.space.coords(index)
        params: dict[str, Any] = {}
        for name, d, choices in self._dims:
            value = choices[coords[d]]
            params[name] = sorted(choices).index(value) if self.ordinal else value
        return params

    def _index_from_params(self, params: dict[str, Any]) -> int | None:
        coords = [0] * len(self.space.dims)
        for name, d, choices in self._dims:
            value = params[name]
            if self.ordinal:
                value = sorted(choices)[int(value)]
            try:
                coords[d] = choices.index(value)
            except ValueError:
                return None
        return self.space.index_from_coords(coords)

    def _record_index(self, record: TrialRecord) -> int | None:
        key = key_of_params(record.request.params)
        return self.space.index_of(key) if key is not None else None

    def _values(self, record: TrialRecord) -> list[float]:
        assert record.result is not None
        if not self.multi_objective:
            return [record.result.accuracy]
        cost = record.result.macs if self.secondary == "macs" else record.result.params
        return [record.result.accuracy, float(cost)]

    # ---- rebuilding the study ---------------------------------------------------------------

    def _study(self) -> Any:
        """The sampling study, rebuilt from the records in ask order."""
        seed = rng_for("optuna", self.context.seed, len(self.records)).getrandbits(31)
        study = optuna.create_study(
            study_name="nas",
            directions=["maximize", "minimize"] if self.multi_objective else ["maximize"],
            sampler=self._sampler(seed),
            pruner=optuna.pruners.NopPruner(),
        )
        for record in self.records:
            index = self._record_index(record)
            if index is None:
                continue
            study.enqueue_trial(self._params_of(index))
            trial = study.ask(self.distributions)
            if not self.multi_objective and record.state != RecordState.PENDING:
                # a pending trial's reports are not replayed after a restart: leave them out
                for report in record.reports:
                    trial.report(report.val_accuracy, report.epoch)
            self._finish(study, trial, record)
        return study

    def _finish(self, study: Any, trial: Any, record: TrialRecord) -> None:
        if record.state == RecordState.COMPLETED and record.result is not None:
            study.tell(trial, self._values(record))
        elif record.state == RecordState.PRUNED:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif record.state != RecordState.PENDING:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)

    # ---- the strategy -------------------------------------------------------------------------

    def _unasked(self) -> list[int] | None:
        if self._valid is None and self.space.size <= ENUMERATE_LIMIT:
            self._valid = list(self.space.valid_indices())
        if self._valid is None:
            return None
        asked = asked_keys(self.records)
        return [i for i in self._valid if self.space.key(i) not in asked]

    def is_finished(self) -> bool:
        unasked = self._unasked()
        return unasked is not None and not unasked

    def propose(self) -> TrialRequest | None:
        asked = asked_keys(self.records)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = self._study()
            for _ in range(self.options.max_retries + 1):
                trial = study.ask(self.distributions)
                index = self._index_from_params(trial.params)
                if (
                    index is not None
                    and self.space.is_valid(index)
                    and self.space.key(index) not in asked
                ):
                    return self._request(index, fallback=False)
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return self._fallback(asked)

    def _fallback(self, asked: set[Any]) -> TrialRequest | None:
        """A uniformly random unasked valid point when the sampler keeps repeating itself."""
        rng = rng_for("optuna-fallback", self.context.seed, len(self.records))
        unasked = self._unasked()
        if unasked is not None:
            return self._request(rng.choice(unasked), fallback=True) if unasked else None
        for _ in range(1000):
            i = rng.randrange(self.space.size)
            if self.space.key(i) not in asked and self.space.is_valid(i):
                return self._request(i, fallback=True)
        return None

    def _request(self, index: int, *, fallback: bool) -> TrialRequest:
        spec = self.space.spec(index)
        assert spec is not None
        params = self.space.params(index)
        if fallback:
            params["fallback"] = True
        return self.request(spec, params)

    # ---- pruning -------------------------------------------------------------------------------

    def should_prune(self, record: TrialRecord) -> bool:
        """Optuna's pruner on validation accuracy per epoch against the other records."""
        if (
            self.options.pruner == "none"
            or record.state != RecordState.PENDING
            or not record.reports
        ):
            return False
        hyperband = self.options.pruner == "hyperband"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = optuna.create_study(
                study_name="nas-pruning",
                direction="maximize",
                sampler=optuna.samplers.RandomSampler(seed=0),
                pruner=self._pruner(),
            )
            for other in self.records:
                # pending trials are left out: their progress is not replayed after a restart
                if (
                    other is record
                    or other.state == RecordState.PENDING
                    or self._record_index(other) is None
                ):
                    continue
                trial = self._add_running(study, other)
                for report in other.reports:
                    trial.report(report.val_accuracy, report.epoch)
                    if hyperband:  # successive halving records its rungs as it goes
                        trial.should_prune()
                if other.state == RecordState.COMPLETED and other.result is not None:
                    study.tell(trial, [other.result.accuracy])
                else:
                    self._finish(study, trial, other)
            trial = self._add_running(study, record)
            prune = False
            for report in record.reports:
                trial.report(report.val_accuracy, report.epoch)
                if hyperband:
                    prune = bool(trial.should_prune())
            return prune if hyperband else bool(trial.should_prune())

    def _add_running(self, study: Any, record: TrialRecord) -> Any:
        index = self._record_index(record)
        assert index is not None
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.RUNNING,
                params=self._params_of(index),
                distributions=self.distributions,
            )
        )
        return optuna.trial.Trial(study, study.trials[-1]._trial_id)

    # ---- results ---------------------------------------------------------------------------------

    def pareto_front(self) -> list[TrialRecord]:
        """Completed records (with a finite accuracy) not dominated in (accuracy up, secondary
        cost down) (``nas.pareto``), cheapest first."""
        done = {
            r.number: r
            for r in self.records
            if r.state == RecordState.COMPLETED
            and r.result is not None
            and math.isfinite(r.result.accuracy)
        }

        def point(r: TrialRecord) -> tuple[int, float, float]:
            assert r.result is not None
            cost = r.result.macs if self.secondary == "macs" else r.result.params
            return (r.number, r.result.accuracy, float(cost))

        return [done[n] for n in pareto_front(map(point, done.values()))]
