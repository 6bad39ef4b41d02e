"""Learned strides on the query side: a trial's DiffStride strides per epoch
(``stride_trajectory``, ``GET /api/v1/jobs/{id}/trials/{t}/strides``) and the final learned
strides of finished trials (``learned_strides``, for the leaderboard's strides texts)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from api.db.models import Job, Trial, TrialDocument, TrialEvent
from api.db.session import session_scope
from api.schemas.leaderboard import StrideTrajectory
from api.store.rows import Factory
from nas.errors import NotFoundError, SpecError
from nas.readout import StrideReadout
from nas.spec import ArchSpec

_CHUNK = 1000  # ids per IN list


def learned_strides(connection: sa.Connection, ids: Sequence[int]) -> dict[int, Any]:
    """The learned strides (as stored) of the trials ``ids`` (the finished DiffStride trials
    among those the leaderboard loads): the documents of these few trials only."""
    found: dict[int, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update(
            connection.execute(
                sa.select(TrialDocument.trial_id, TrialDocument.result["learned_strides"]).where(
                    TrialDocument.trial_id.in_(ids[start : start + _CHUNK])
                )
            ).all()
        )
    return found


def _stride(value: Any, axis: int) -> float | None:
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    item = value[axis]
    if isinstance(item, bool) or not isinstance(item, int | float) or not math.isfinite(item):
        return None
    return float(item)


def trajectory(
    trial_id: int,
    state: str,
    epochs: Sequence[tuple[int, Any]],
    spec: ArchSpec | None = None,
    readouts: Any = None,
) -> StrideTrajectory:
    """From ``(epoch, strides)`` pairs, ``strides`` as stored (per stage ``[h, w]`` or null);
    ``stages`` is empty when no stage learned its stride (a fixed-stride retrain, say). The
    trial's ``spec`` gives each stage's init; its stored ``readouts`` (``stride_readout``) the
    status and bounds once it finished."""
    per_epoch = [s if isinstance(s, list) else [] for _, s in epochs]
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
    finished = _readouts(readouts, stages)
    return StrideTrajectory(
        trial=trial_id,
        state=state,
        epoch=[int(e) for e, _ in epochs] if stages else [],
        stages=stages,
        h=[[_stride(s[k], 0) if k < len(s) else None for s in per_epoch] for k in stages],
        w=[[_stride(s[k], 1) if k < len(s) else None for s in per_epoch] for k in stages],
        init=init,
        status=[list(r.status()) for r in finished] if finished else None,
        low=[list(r.low) for r in finished] if finished else None,
        high=[list(r.high) for r in finished] if finished else None,
    )


def _readouts(stored: Any, stages: list[int]) -> list[StrideReadout] | None:
    """The readouts of ``stages`` from a stored ``stride_readout`` list, or None if any is
    missing or malformed (a trial from before readouts, or a running one)."""
    if not stages or not isinstance(stored, list) or any(k >= len(stored) for k in stages):
        return None
    try:
        return [StrideReadout.model_validate(stored[k]) for k in stages]
    except ValidationError:
        return None


def stride_trajectory(factory: Factory, job_id: int, trial_id: int) -> StrideTrajectory:
    """The learned strides per epoch of one trial: from its result's history once it has one,
    else from the epoch reports of its current attempt. NotFoundError for an unknown job or a
    trial of another job."""
    with session_scope(factory) as session:
        if session.scalar(sa.select(Job.id).where(Job.id == job_id)) is None:
            raise NotFoundError(f"no job {job_id}", field="job_id")
        trial = session.execute(
            sa.select(Trial.state, Trial.spec, TrialDocument.result, Trial.attempts)
            .join_from(Trial, TrialDocument)
            .where(Trial.id == trial_id, Trial.job_id == job_id)
        ).one_or_none()
        if trial is None:
            raise NotFoundError(f"no trial {trial_id} in job {job_id}", field="trial_id")
        history = (trial.result or {}).get("history") if isinstance(trial.result, dict) else None
        if isinstance(history, list):
            epochs = [
                (h.get("epoch", k + 1), h.get("strides"))
                for k, h in enumerate(history)
                if isinstance(h, dict)
            ]
        else:
            epochs = [
                (epoch, (report or {}).get("strides") if isinstance(report, dict) else None)
                for epoch, report in session.execute(
                    sa.select(TrialEvent.epoch, TrialEvent.report)
                    .where(TrialEvent.trial_id == trial_id, TrialEvent.attempt == trial.attempts)
                    .order_by(TrialEvent.id)
                )
            ]
    result = trial.result if isinstance(trial.result, dict) else {}
    try:
        spec: ArchSpec | None = ArchSpec.from_string(trial.spec)
    except SpecError:
        spec = None
    return trajectory(trial_id, trial.state, epochs, spec, result.get("stride_readout"))
