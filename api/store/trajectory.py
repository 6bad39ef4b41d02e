"""Learned strides on the query side: a trial's DiffStride strides per epoch as stored
(``stride_trajectory``; ``GET /api/v1/jobs/{id}/trials/{t}/strides`` shapes them with
``api.schemas.mapping.trajectory``). The final ones, as text, are in ``trial.strides``."""

from __future__ import annotations

import sqlalchemy as sa

from api.db.models import Job, Trial, TrialDocument, TrialEvent
from api.db.session import session_scope
from api.store.records import StrideHistory
from api.store.rows import Factory
from nas.errors import NotFoundError, SpecError
from nas.spec import ArchSpec


def stride_trajectory(factory: Factory, job_id: int, trial_id: int) -> StrideHistory:
    """The strides per epoch of one trial as stored: from its result's history once it has
    one, else from the epoch reports of its current attempt. NotFoundError for an unknown job
    or a trial of another job."""
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
    return StrideHistory(
        trial_id=trial_id,
        state=trial.state,
        epochs=epochs,
        spec=spec,
        readouts=result.get("stride_readout"),
    )
