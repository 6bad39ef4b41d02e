"""The job description shared by the REST API, the CLI and the embedded runner.

A job compares several search strategies on the same data with the same compute: the total
budget is split evenly across strategies and every trial's cost is charged to its strategy.
Loadable from YAML or JSON; every validation error names the field.

The rules derived from a job live here too, so every reader of a stored job (the runner, the
API, the CLI) applies the same ones: the keys its trials are stored under, with the strategy
and repeat each stands for (``RunKey``, ``JobSpec.run_keys``), each strategy's share of the
budget (``Budget.share``), and the size of its validation set (``DatasetRef.validation_size``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nas import strategies
from nas.data.sizes import TRAIN_IMAGES, validation_count
from nas.errors import NasError, SpecError
from nas.presets import parse_spec
from nas.search_space import Objectives, SearchSpace
from nas.spec import ArchSpec
from nas.trial import TrainOptions

_STRICT = ConfigDict(frozen=True, extra="forbid")
Family = Literal["resnet", "efficientnet"]

# The default base architecture per family: small-image variants cheap enough for a CPU.
DEFAULT_BASES: dict[str, str] = {
    "resnet": "resnet_narrow_fmnist",
    "efficientnet": "efficientnet_b0_fmnist",
}


CONFIRM = "confirm"
"""The key the confirmation runs of a job's recommendation are stored under (no strategy may
take it as its label)."""


class JobError(NasError, ValueError):
    """A job description is invalid."""


class DatasetRef(BaseModel):
    """Which data: a registered name (``fashion-mnist``, ``synthetic``, ...) or a path."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=500)
    subset: int | None = Field(default=None, ge=10, description="training images to use")
    val_fraction: float = Field(default=0.1, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="seed of the subset and split")

    def validation_size(self) -> int | None:
        """Validation images of this data, drawn as ``nas.data.split`` draws them (of the
        subset, or of a registered dataset's training images: ``nas.data.sizes``); None when
        the size is not known without loading it (a path, or an unsized dataset, without a
        subset)."""
        total = TRAIN_IMAGES.get(self.name)
        if self.subset is not None:
            n = min(self.subset, total) if total is not None else self.subset
        elif total is not None:
            n = total
        else:
            return None
        return validation_count(n, self.val_fraction)


class StrategyConfig(BaseModel):
    """One strategy of the comparison and its own options (validated by the strategy).

    ``from`` chains it onto another strategy of the job: it waits until that one has stopped,
    then starts from its recommendation as its base (``nas.strategies.chained``)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_name=True, serialize_by_alias=True
    )
    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    label: str | None = Field(
        default=None, max_length=64, description="display name; default: the strategy name"
    )
    from_: str | None = Field(
        default=None,
        alias="from",
        max_length=64,
        description="the key (label, else name) of another strategy of this job to start from: "
        "this one waits until that one has stopped, then takes its most accurate fixed-stride "
        "trial as its base; with repeats, run k starts from run k of that one",
    )

    @property
    def key(self) -> str:
        return strategy_key({"label": self.label, "name": self.name})


def strategy_key(config: Mapping[str, Any]) -> str:
    """The key a strategy's trials are stored under: its ``label``, else its ``name``; from a
    ``StrategyConfig`` as JSON (a stored ``JobSpec``'s ``strategies`` entries)."""
    key: str = config.get("label") or config["name"]
    return key


class RunKey(NamedTuple):
    """What a trial's strategy key stands for: the key (label, else name) of the job's strategy
    and its repeat, None when the job runs each strategy once. ``key`` is the text the trials
    are stored under: ``grid``, or ``grid/r2`` when the job repeats."""

    strategy: str
    repeat: int | None = None

    @property
    def key(self) -> str:
        return self.strategy if self.repeat is None else f"{self.strategy}/r{self.repeat}"

    @classmethod
    def of(cls, key: str, strategies: Iterable[str]) -> RunKey:
        """What ``key`` stands for among the strategy keys ``strategies``, the inverse of
        ``key``: ``grid/r2`` is repeat 2 of ``grid``, any other key its own strategy. Read a
        job's keys from ``run_keys``; this is for a key they do not list (trials stored under
        repeat keys for a job that does not say it repeats)."""
        known = set(strategies)
        if key in known:
            return cls(key)
        for strategy in known:
            repeat = key.removeprefix(f"{strategy}/r")
            if repeat != key and repeat.isdecimal():
                return cls(strategy, int(repeat))
        return cls(key)


def run_keys(strategies: Iterable[str], repeats: int) -> dict[str, RunKey]:
    """The strategy keys ``strategies``, each run ``repeats`` times, by the key their trials are
    stored under, in job order (by strategy, then repeat)."""
    runs = [RunKey(s, None if repeats == 1 else r) for s in strategies for r in range(repeats)]
    return {run.key: run for run in runs}


@dataclass(frozen=True)
class StrategyRun:
    """One strategy of a job in one repeat; ``source``: the run it starts from (``from``)."""

    config: StrategyConfig
    repeat: int
    key: str
    source: str | None = None


class Budget(BaseModel):
    """Compute for the whole job, split evenly across strategies.

    ``total`` is in ``unit``: ``base_epochs`` (epochs of the base architecture on the job's
    training set, converted to FLOPs), ``flops`` or ``trials`` (a trial count per strategy,
    for tests and quick looks).
    """

    model_config = _STRICT
    total: float = Field(gt=0)
    unit: Literal["base_epochs", "flops", "trials"] = "base_epochs"
    epochs_per_trial: int = Field(default=1, ge=1, le=1000)
    max_trials_per_strategy: int = Field(default=1000, ge=1, le=100_000)
    parallel_trials: int | None = Field(
        default=None,
        ge=1,
        le=256,
        description="at most this many of the job's trials in flight at once (default: as many "
        "as the server's executor gives the job)",
    )

    def share(self, strategies: int) -> float:
        """Each strategy run's share of ``total`` when ``strategies`` strategies split it, in
        ``unit`` (whole trials, rounded down, when it counts trials); repeats do not divide it:
        each repeat of a strategy has the whole share."""
        share = self.total / strategies
        return math.floor(share) if self.unit == "trials" else share


MAX_GPUS_PER_TRIAL = 64


class Resources(BaseModel):
    """What each trial's worker asks the executor for."""

    model_config = _STRICT
    gpus_per_trial: float | None = Field(
        default=None,
        ge=0,
        le=MAX_GPUS_PER_TRIAL,
        allow_inf_nan=False,
        description="GPUs each trial's worker reserves: a fraction up to 1 (0.25: four trials "
        "share a GPU), whole GPUs above; 0: CPU only. Ray actors ask for exactly this (trials "
        "wait for a node that has it, never run on CPU instead); the local and inline "
        "executors need a CUDA device on the server for any GPUs. Default: the executor's "
        "choice (on Ray one GPU when the cluster has any, else one CPU)",
    )

    @field_validator("gpus_per_trial")
    @classmethod
    def _ray_shares(cls, value: float | None) -> float | None:
        if value is not None and value > 1 and not value.is_integer():
            raise ValueError(
                f"{value:g}: a trial takes a fraction of one GPU (up to 1) or whole GPUs, not "
                "a fraction of several"
            )
        return value


class JobSpec(BaseModel):
    """A whole comparison job."""

    model_config = _STRICT
    name: str = Field(min_length=1, max_length=200)
    dataset: DatasetRef
    family: Family = "resnet"
    base: str | None = Field(
        default=None, description="preset name, block string or JSON; default per family"
    )
    space: SearchSpace = SearchSpace()
    strategies: list[StrategyConfig] = Field(min_length=1, max_length=16)
    budget: Budget
    objectives: Objectives = Objectives()
    train: TrainOptions = TrainOptions()
    resources: Resources = Resources()
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    repeats: int = Field(
        default=1,
        ge=1,
        le=100,
        description="runs of each strategy, each with its own seeds (data order, weights' init, "
        "sampler and grid order); the budget is per strategy per repeat",
    )
    confirm_seeds: int = Field(
        default=3,
        ge=0,
        le=20,
        description="once every strategy has stopped, the job's recommendation (its most "
        "accurate trial) trains again with this many other seeds and is reported as mean +- "
        "spread, on the test split too when the dataset has one; charged to no strategy's "
        "budget; 0: no confirmation",
    )
    priority: int = Field(
        default=0,
        ge=-1000,
        le=1000,
        description="a server's free slots go to the highest priority first (and servers "
        "claim higher priorities first); equal priorities share by weight",
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description="jobs of equal priority running at once share the executor's slots in "
        "proportion to their weights",
    )
    warm_start: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="id of a finished job on the same server whose trials this job starts "
        "from: each strategy with the same label, name and options in both jobs replays that "
        "job's finished trials (copied, free of charge) instead of running them again; the "
        "data, base, space, training and epochs must be the same",
    )
    keep_weights: Literal["best", "all", "none"] = Field(
        default="best",
        description="trained weights the server keeps: the current best trial's (superseded "
        "ones are deleted), every trial's, or none (nothing to export)",
    )

    @field_validator("dataset", mode="before")
    @classmethod
    def _dataset_shorthand(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategy_shorthand(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        known = strategies.names()
        keys: set[str] = set()
        for i, config in enumerate(self.strategies):
            if config.name not in known:
                raise ValueError(
                    f"strategies[{i}].name: unknown strategy {config.name!r}; "
                    f"known: {', '.join(known)}"
                )
            if config.key == CONFIRM or config.key.startswith(f"{CONFIRM}/"):
                raise ValueError(
                    f"strategies[{i}].label: {config.key!r} is reserved for the confirmation "
                    "runs; give the strategy another label"
                )
            if config.key in keys:
                raise ValueError(
                    f"strategies[{i}].label: {config.key!r} appears twice; give each a label"
                )
            keys.add(config.key)
            try:
                strategies.get(config.name).Options.model_validate(config.options)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"strategies[{i}].options.{where}: {first['msg']}") from None
        self._check_chains()
        try:
            base = self.base_spec()
        except SpecError as exc:
            raise ValueError(f"base: {exc}") from None
        if self.space.strides and len(self.space.strides) != len(base.stages):
            raise ValueError(
                f"space.strides: the base has {len(base.stages)} stages, "
                f"got stride choices for {len(self.space.strides)}"
            )
        if len(self.space.blocks) > 1 and len(self.space.blocks) != len(base.stages):
            raise ValueError(
                f"space.blocks: the base has {len(base.stages)} stages, "
                f"got block choices for {len(self.space.blocks)} (give one list per stage, "
                "or a single list for all)"
            )
        return self

    def _check_chains(self) -> None:
        """Each ``from`` names another strategy of the job that has no ``from`` of its own."""
        by_key = {config.key: config for config in self.strategies}
        for i, config in enumerate(self.strategies):
            source = config.from_
            if source is None:
                continue
            where = f"strategies[{i}].from"
            if source not in by_key:
                raise ValueError(
                    f"{where}: no strategy {source!r} in this job; known: {', '.join(by_key)}"
                )
            if source == config.key:
                raise ValueError(f"{where}: {source!r} cannot start from itself")
            if by_key[source].from_ is not None:
                raise ValueError(
                    f"{where}: {source!r} starts from {by_key[source].from_!r} itself; a "
                    "strategy may start only from one that starts from the job's base"
                )

    def base_spec(self) -> ArchSpec:
        """The base architecture (before it is fitted to the data's channels and classes)."""
        return parse_spec(self.base or DEFAULT_BASES[self.family])

    def runs(self) -> list[StrategyRun]:
        """Every strategy once per repeat: repeat ``r`` of ``grid`` is keyed ``grid/r<r>`` when
        the job repeats (plain ``grid`` otherwise) and seeded ``seed + r``; a chained run's
        ``source`` is the same repeat of the strategy it starts from."""

        def key(config_key: str, repeat: int) -> str:
            return RunKey(config_key, None if self.repeats == 1 else repeat).key

        return [
            StrategyRun(
                config,
                repeat,
                key(config.key, repeat),
                None if config.from_ is None else key(config.from_, repeat),
            )
            for config in self.strategies
            for repeat in range(self.repeats)
        ]

    def shared_with(self, other: JobSpec) -> list[StrategyConfig]:
        """The strategies this job shares with ``other`` (a warm start's): the same label, name,
        options and ``from`` in both, and a chained one only with the strategy it starts from
        (its base is that one's recommendation)."""
        same = [config for config in self.strategies if config in other.strategies]
        keys = {config.key for config in same}
        return [config for config in same if config.from_ is None or config.from_ in keys]

    def strategy_keys(self) -> list[str]:
        return list(self.run_keys())

    def run_keys(self) -> dict[str, RunKey]:
        """What each key the job's trials are stored under stands for (``run_keys``), in the
        order of ``runs``."""
        return run_keys((config.key for config in self.strategies), self.repeats)

    def share(self) -> float:
        """Each strategy run's share of the budget, in its unit (``Budget.share``)."""
        return self.budget.share(len(self.strategies))

    # ---- loading with field-naming errors -------------------------------------------------

    @classmethod
    def parse(cls, data: Any) -> JobSpec:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise job_error_from(exc) from None

    @classmethod
    def from_file(cls, path: str | Path) -> JobSpec:
        """Read a job from YAML (``.yaml``/``.yml``) or JSON."""
        file = Path(path)
        try:
            text = file.read_text()
        except OSError as exc:
            raise JobError(f"cannot read {file}: {exc.strerror}", field="file") from None
        try:
            data = yaml.safe_load(text) if file.suffix in {".yaml", ".yml"} else json.loads(text)
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise JobError(f"{file} is not valid YAML/JSON: {exc}", field="file") from None
        return cls.parse(data)


def job_error_from(exc: ValidationError) -> JobError:
    """One ``JobError`` naming the first bad field (dotted path)."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if not loc:  # model-level checks put the field first: "space.strides: ..."
        head, sep, rest = message.partition(": ")
        if sep:
            loc, message = head, rest
    return JobError(message, field=loc or "job")
