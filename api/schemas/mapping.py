"""Store records to HTTP bodies: how the routers (and the other callers that answer over HTTP)
turn what ``api.store`` hands out (``api.store.records``) into ``api.schemas`` bodies. The store
knows nothing of these bodies; this module is the one place that knows both."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from pydantic import ValidationError

from api.schemas.jobs import JobOut, JobProgress
from api.schemas.leaderboard import StrideTrajectory
from api.schemas.trials import TrialLog, TrialSummary
from api.store.records import JobCounts, ListedTrial, StoredJob, StoredLog, StrideHistory
from nas.readout import StrideReadout


def _values(record: Any) -> dict[str, Any]:
    """A record's fields by name (a shallow copy: its values are shared, not copied)."""
    return {f.name: getattr(record, f.name) for f in fields(record)}


def job_out(job: StoredJob, leaderboard_url: str | None = None) -> JobOut:
    return JobOut(**_values(job), leaderboard_url=leaderboard_url)


def trial_summary(trial: ListedTrial) -> TrialSummary:
    """From trusted columns, without revalidating them (``TrialSummary.of_columns``)."""
    return TrialSummary.of_columns(_values(trial), trial.last_epoch)


def trial_log(log: StoredLog) -> TrialLog:
    return TrialLog(**_values(log))


def job_progress(counts: JobCounts) -> JobProgress:
    """The counts, and each strategy's progress through its share (``BudgetUse.fraction``)."""
    budget = counts.budget
    return JobProgress(
        job_id=counts.job_id,
        state=counts.state,
        total=counts.total,
        states=counts.states,
        strategies=counts.strategies,
        budget=budget,
        budget_used={k: b.fraction for k, b in budget.items()} if budget else None,
    )


# ---- a trial's learned strides per epoch ------------------------------------------------------


def trajectory(history: StrideHistory) -> StrideTrajectory:
    """The stages that learned a stride, each one's stride per epoch (``strides`` as stored:
    per stage ``[h, w]`` or null); ``stages`` is empty when no stage learned its stride (a
    fixed-stride retrain, say). The trial's ``spec`` gives each stage's init; its stored
    ``readouts`` (``stride_readout``) the status and bounds once it finished."""
    spec = history.spec
    per_epoch = [s if isinstance(s, list) else [] for _, s in history.epochs]
    n_stages = max((len(s) for s in per_epoch), default=0)
    stages = [
        k
        for k in range(n_stages)
        if any(k < len(s) and _stride(s[k], 0) is not None for s in per_epoch)
    ]
    init = (
        [list(spec.stages[k].stride) for k in stages]
        if spec is not None and all(k < len(spec.stages) for k in stages)
        else []
    )
    finished = _readouts(history.readouts, stages)
    return StrideTrajectory(
        trial=history.trial_id,
        state=history.state,
        epoch=[int(e) for e, _ in history.epochs] if stages else [],
        stages=stages,
        h=[[_stride(s[k], 0) if k < len(s) else None for s in per_epoch] for k in stages],
        w=[[_stride(s[k], 1) if k < len(s) else None for s in per_epoch] for k in stages],
        init=init,
        status=[list(r.status()) for r in finished] if finished else None,
        low=[list(r.low) for r in finished] if finished else None,
        high=[list(r.high) for r in finished] if finished else None,
    )


def _stride(value: Any, axis: int) -> float | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    item = value[axis]
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        return None
    return float(item)


def _readouts(stored: Any, stages: list[int]) -> list[StrideReadout] | None:
    """The readouts of ``stages`` from a stored ``stride_readout`` list, or None if any is
    missing or malformed (a trial from before readouts, or a running one)."""
    if not stages or not isinstance(stored, list) or any(k >= len(stored) for k in stages):
        return None
    try:
        return [StrideReadout.model_validate(stored[k]) for k in stages]
    except ValidationError:
        return None
