"""Compute to target for live jobs: the comparison's headline on the page, the CLI and /compare.

The rules live in nas/: the target in ``nas.targets``, best-so-far and compute to target in
``nas.compare``, the median curve of repeats in ``nas.bands``, the best trial in
``nas.recommend``. This module applies them to a job's stored trials and shapes the answer.

A live job has no oracle table, so the target comes from its own trials:

    target = p - max(0.5 points, 2 * sqrt(p * (1 - p) / n_val))

where ``p`` is the best validation accuracy of a completed trial (of any strategy; on the
compare page, of any of the jobs) and ``n_val`` the size of the validation split: two standard
errors of a binomial accuracy measured on ``n_val`` images, and never less than the half point
an oracle table uses (``nas.targets.MIN_MARGIN``). A validation set too small to tell trials
apart gets no target (``Target.reason`` says why): when the margin exceeds ``MAX_MARGIN`` (10
points) or half of ``p`` (the target would be below half the best, or below 0: 30 images and
a best of 10% give 2 standard errors of 11 points). ``n_val`` is the job's
``DatasetRef.validation_size()``, drawn as ``nas.data.split`` draws it; a dataset path without a
subset has no known ``n_val`` and gets the half point alone.

A strategy's compute-to-target is the compute it was charged (``nas.compare.compute_to_target``,
its finished trials in finish order, failed and pruned ones included) until its recommendation
(its most accurate trial so far, ``nas.recommend``) reached the target; in base epochs when the
job's budget counts them, else in FLOPs. Its area under the curve is the mean best-so-far
accuracy over ``[0, horizon]`` FLOPs (``nas.compare.area_under_curve``), the horizon being a
strategy's budget share (or, without one, the most any strategy spent), the same for every
strategy compared.

Repeats: a job with ``repeats: N`` stores strategy ``grid``'s runs as ``grid/r0`` ...
``grid/r<N-1>``. The job's run keys (``nas.job.JobSpec.run_keys``: each stored key with the
strategy and repeat it stands for) group them into one *series*; its compute-to-target is the
median over its runs (a run that did not reach the target counts as never), with the
interquartile range, and its curve the median best-so-far accuracy against compute with a band:
min-max, or the interquartile range when N >= 5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from nas import targets as nas_targets
from nas.bands import IQR_FROM as IQR_FROM
from nas.bands import BandCurve, band_of, median_curve
from nas.compare import Step, area_under_curve, quartiles, reaching
from nas.compare import best_so_far as best_so_far
from nas.compare import quantile as quantile
from nas.job import DatasetRef, JobSpec, RunKey
from nas.recommend import best
from nas.targets import MAX_MARGIN as MAX_MARGIN
from nas.targets import MIN_MARGIN as MIN_MARGIN
from nas.targets import RULE

Unit = Literal["base_epochs", "flops"]


# ---- the validation set and the target ----------------------------------------------------


def validation_size(dataset: DatasetRef | Mapping[str, Any]) -> int | None:
    """``n_val`` of a job's ``DatasetRef`` (or one as JSON): ``DatasetRef.validation_size``."""
    return DatasetRef.model_validate(dataset).validation_size()


class Target(BaseModel):
    """The accuracy a strategy must reach, and how it was set."""

    value: float | None = Field(description="the target (null: no completed trial yet)")
    best: float | None = Field(description="p: the best validation accuracy of a completed trial")
    best_trial: int | None = None
    best_job: int | None = Field(default=None, description="the job of that trial")
    margin: float | None = Field(description="max(0.005, 2 * sqrt(p(1-p)/n_val))")
    n_val: int | None = Field(description="validation images (null: not known)")
    rule: str = RULE
    reason: str | None = Field(
        default=None,
        description="why there is no target (value null): no completed trial yet, or a "
        "validation set too small to tell trials apart (the margin over 10 points or over half "
        "the best accuracy)",
    )


def live_target(
    best: float | None,
    n_val: int | None,
    best_trial: int | None = None,
    best_job: int | None = None,
) -> Target:
    """The target below the best accuracy ``best`` measured on ``n_val`` images
    (``nas.targets.live_target``), naming the trial and job that set it; none (with its
    ``reason``) before a completed trial, or when the margin is too wide to mean anything."""
    found = nas_targets.live_target(best, n_val)
    if found.best is None:
        return Target(value=None, best=None, margin=None, n_val=n_val, reason=found.reason)
    return Target(
        value=found.value,
        best=found.best,
        best_trial=best_trial,
        best_job=best_job,
        margin=found.margin,
        n_val=n_val,
        reason=found.reason,
    )


# ---- strategies and their repeats ---------------------------------------------------------


def series_of(key: str, runs: Mapping[str, RunKey]) -> RunKey:
    """(series, repeat) of a trial's strategy key, by the job's ``runs``
    (``JobSpec.run_keys``): ``grid/r2`` is repeat 2 of ``grid``. A key they do not list is read
    by ``RunKey.of`` (a repeat key of one of the job's strategies, else its own series)."""
    found = runs.get(key)
    return found if found is not None else RunKey.of(key, {r.strategy for r in runs.values()})


def group_keys(keys: Sequence[str], runs: Mapping[str, RunKey]) -> list[tuple[str, list[str]]]:
    """``keys`` grouped into series (by the job's ``runs``), in the order each series first
    appears; repeats by number."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for key in keys:
        series, repeat = series_of(key, runs)
        groups.setdefault(series, []).append((-1 if repeat is None else repeat, key))
    return [(series, [k for _, k in sorted(members)]) for series, members in groups.items()]


# ---- statistics ------------------------------------------------------------------------------


@dataclass
class KeyRun:
    """One strategy key's finished trials in finish order."""

    key: str
    steps: list[Step] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)

    @property
    def spent(self) -> float:
        return sum(s.cost for s in self.steps)


def band_curve(runs: Sequence[KeyRun], band: Literal["min-max", "iqr"]) -> BandCurve:
    """The runs' median best-so-far with its band (``nas.bands.median_curve``)."""
    return median_curve([r.steps for r in runs], band)


class KeyTarget(BaseModel):
    """One strategy key (one run) against the target."""

    key: str
    compute_to_target: float | None = Field(description="in the unit; null: not reached")
    reached_by: int | None = Field(default=None, description="the trial that reached it")
    spent: float = Field(description="compute charged so far, in the unit")
    auc: float | None = Field(
        default=None, description="mean best-so-far accuracy over [0, horizon]"
    )


class SeriesTarget(BaseModel):
    """A strategy (all its repeats) against the target."""

    strategy: str = Field(description="the strategy key, or what its repeats share")
    keys: list[KeyTarget]
    runs: int
    reached: int = Field(description="runs that reached the target")
    compute_to_target: float | None = Field(
        description="median over the runs, in the unit (a run that did not reach it counts as "
        "never); null: the median run did not reach it"
    )
    q1: float | None = Field(default=None, description="its interquartile range (repeats)")
    q3: float | None = None
    auc: float | None = Field(default=None, description="mean over the runs")
    band: Literal["min-max", "iqr"] | None = Field(
        default=None, description="what `curve`'s band is (repeats only)"
    )
    curve: BandCurve | None = Field(default=None, description="median best-so-far (repeats only)")


class Comparison(BaseModel):
    """Compute to target of a job's strategies (or of several jobs' on /compare)."""

    target: Target
    unit: Unit = Field(description="base_epochs or flops: what compute_to_target counts")
    unit_flops: float = Field(description="FLOPs in one unit")
    horizon: float | None = Field(
        default=None, description="FLOPs over which the areas under the curves are taken"
    )
    series: list[SeriesTarget] = Field(default_factory=list)


def key_target(
    run: KeyRun, target: float | None, unit_flops: float, horizon: float | None
) -> KeyTarget:
    """One run against ``target`` (compute in units of ``unit_flops`` FLOPs)."""
    spent, reached_by = None, None
    if target is not None and (found := reaching(run.steps, target)) is not None:
        spent, _, step = found
        reached_by = run.trials[step]
    return KeyTarget(
        key=run.key,
        compute_to_target=spent / unit_flops if spent is not None else None,
        reached_by=reached_by,
        spent=run.spent / unit_flops,
        auc=area_under_curve(run.steps, horizon) if horizon else None,
    )


def series_targets(
    runs: Sequence[KeyRun],
    job_runs: Mapping[str, RunKey],
    target: float | None,
    unit_flops: float,
    horizon: float | None,
    *,
    every_curve: bool = False,
) -> list[SeriesTarget]:
    """Per series (a strategy and its repeats, by the job's ``job_runs``), in the order of
    ``runs``; a series of repeats has its median curve, and with ``every_curve`` a single run
    its best-so-far too."""
    by_key = {r.key: r for r in runs}
    out = []
    for series, keys in group_keys([r.key for r in runs], job_runs):
        members = [by_key[k] for k in keys]
        rows = [key_target(r, target, unit_flops, horizon) for r in members]
        reached = [r.compute_to_target for r in rows]
        q1, median, q3 = quartiles(reached)
        repeated = len(members) > 1 or series_of(keys[0], job_runs).repeat is not None
        aucs = [r.auc for r in rows if r.auc is not None]
        band = band_of(len(members))
        out.append(
            SeriesTarget(
                strategy=series,
                keys=rows,
                runs=len(rows),
                reached=sum(v is not None for v in reached),
                compute_to_target=median,
                q1=q1 if repeated else None,
                q3=q3 if repeated else None,
                auc=sum(aucs) / len(aucs) if aucs else None,
                band=band if repeated else None,
                curve=band_curve(members, band) if repeated or every_curve else None,
            )
        )
    return out


def best_of(runs: Iterable[KeyRun]) -> tuple[float, int] | None:
    """(accuracy, trial) of the best completed trial of ``runs``: the job's recommendation
    (``nas.recommend.best``, ties to the lower id, as ``/best``)."""
    return best(
        (step.seen, trial)
        for run in runs
        for step, trial in zip(run.steps, run.trials, strict=True)
    )


# ---- a job's footing: the unit compute to target counts, the horizon of its areas -------------


def share_flops(budget_used: Mapping[str, Any] | None) -> float | None:
    """A strategy's budget share in FLOPs, as the runner keeps it (``BudgetUse``; every
    strategy has the same share), or None (a budget counting trials, or none kept yet)."""
    for use in (budget_used or {}).values():
        if not isinstance(use, dict) or use.get("unit") != "flops":
            continue
        flops = use.get("budget")
        if isinstance(flops, bool) or not isinstance(flops, int | float):
            continue
        if math.isfinite(flops) and flops > 0:
            return float(flops)
    return None


def job_unit(spec: JobSpec, budget_used: Mapping[str, Any] | None) -> tuple[Unit, float]:
    """What compute-to-target counts and the FLOPs in one: base epochs when the job's budget
    counts them (a strategy's share in FLOPs, as the runner keeps it, over its share in base
    epochs, ``JobSpec.share``), else FLOPs."""
    if spec.budget.unit == "base_epochs":
        flops = share_flops(budget_used)
        if flops is not None:
            return "base_epochs", flops / spec.share()
    return "flops", 1.0


def area_horizon(budget_used: Mapping[str, Any] | None, runs: Sequence[KeyRun]) -> float | None:
    """FLOPs over which the areas under the curves are taken: a strategy's budget share, or (a
    budget counting trials, or none kept yet) the most any strategy spent."""
    flops = share_flops(budget_used)
    if flops is not None:
        return flops
    most = max((r.spent for r in runs), default=0.0)
    return most if most > 0 else None


def comparison(
    runs: Sequence[KeyRun],
    job_runs: Mapping[str, RunKey],
    n_val: int | None,
    job_id: int,
    unit: tuple[Unit, float],
    horizon: float | None,
) -> Comparison:
    """Compute to target per strategy of one job (``runs``: each key's finished trials;
    ``job_runs``: what its keys stand for), against the best accuracy it reached minus the
    margin."""
    best = best_of(runs)
    target = live_target(best[0] if best else None, n_val, best[1] if best else None, job_id)
    return Comparison(
        target=target,
        unit=unit[0],
        unit_flops=unit[1],
        horizon=horizon,
        series=series_targets(runs, job_runs, target.value, unit[1], horizon),
    )
