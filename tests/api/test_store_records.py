"""The store hands out plain domain records (``api.store.records``), never HTTP bodies, and
``api.schemas.mapping`` turns them into the bodies the API answers with; on SQLite and
PostgreSQL."""

from __future__ import annotations

import dataclasses

from pydantic import BaseModel

from api.schemas import JobOut, JobProgress, TrialLog, TrialSummary, mapping
from api.store import JobCounts, JobRepository, ListedTrial, StoredJob, StoredLog
from api.store.trajectory import stride_trajectory
from tests.api.store_helpers import filled_job


def test_the_store_returns_records_and_mapping_makes_the_bodies(repo: JobRepository) -> None:
    job_id, _, ids = filled_job(repo)
    job = repo.get(job_id)
    [listed], _ = repo.summaries_page(job_id, strategy="random", state="running")
    log = repo.trial_log(job_id, ids[4])
    counts = repo.progress(job_id)
    history = stride_trajectory(repo.factory, job_id, ids[0])
    records = (job, listed, log, counts, history)
    assert all(dataclasses.is_dataclass(r) and not isinstance(r, BaseModel) for r in records)
    assert (type(job), type(listed), type(log), type(counts)) == (
        StoredJob,
        ListedTrial,
        StoredLog,
        JobCounts,
    )

    out = mapping.job_out(job, "http://x/api/v1/jobs/1/trials")
    assert isinstance(out, JobOut) and out.leaderboard_url == "http://x/api/v1/jobs/1/trials"
    assert out.model_dump(exclude={"leaderboard_url"}) == {
        f.name: getattr(job, f.name) for f in dataclasses.fields(job)
    } | {"spec": job.spec.model_dump(), "budget": None}
    summary = mapping.trial_summary(listed)
    assert isinstance(summary, TrialSummary)
    assert (summary.id, summary.strategy, summary.state) == (ids[5], "random", "running")
    assert summary.last_epoch == listed.last_epoch and summary.last_epoch is not None
    assert mapping.trial_log(log) == TrialLog(**dataclasses.asdict(log))
    progress = mapping.job_progress(counts)
    assert isinstance(progress, JobProgress) and progress.total == counts.total == 7
    assert progress.budget_used is None  # no server ran the job
    trajectory = mapping.trajectory(history)
    assert trajectory.trial == ids[0] and trajectory.stages == [1]
    assert trajectory.h == [[1.5, 1.5]] and trajectory.w == [[2.0, 2.0]]
