"""The verdict of a job: which strategy finds a good architecture for the least compute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Depends

from api.board_cache import Leaderboards, Snapshot
from api.deps import require_read
from api.live_targets import KeyRun, group_keys, series_of
from api.routers.leaderboard import leaderboards
from api.schemas import READ_ERRORS, Id
from api.schemas.verdict import VerdictOut
from api.states import TERMINAL_JOB_STATES
from nas.compare import Step
from nas.job import RunKey
from nas.verdict import Verdict, verdict

router = APIRouter(prefix="/api/v1/jobs", tags=["results"], responses=READ_ERRORS)

Runs = tuple[tuple[str, tuple[tuple[Step, ...], ...]], ...]


def series_runs(runs: Sequence[KeyRun], job_runs: Mapping[str, RunKey], every: bool) -> Runs:
    """Each strategy's runs (its repeats' steps, by the job's ``job_runs``): ``every`` one, or
    (a job still running) only the repeats that have finished a trial (the others have not
    started)."""
    by_key = {r.key: r for r in runs}
    return tuple(
        (
            series,
            tuple(tuple(by_key[k].steps) for k in keys if every or by_key[k].steps),
        )
        for series, keys in group_keys([r.key for r in runs], job_runs)
    )


@lru_cache(maxsize=64)
def _verdict(runs: Runs) -> Verdict:
    """``nas.verdict.verdict`` of ``runs``, once per distinct runs (they are its only input)."""
    return verdict(dict(runs))


def job_verdict(snapshot: Snapshot) -> VerdictOut:
    """The verdict of the job ``snapshot`` copies (a job without repeats: no claim, from the
    start)."""
    final = snapshot.state in TERMINAL_JOB_STATES
    repeated = any(series_of(r.key, snapshot.run_keys).repeat is not None for r in snapshot.runs)
    found = _verdict(series_runs(snapshot.runs, snapshot.run_keys, final or not repeated))
    return VerdictOut(
        **found.model_dump(),
        job_id=snapshot.id,
        state=snapshot.state,
        final=final,
        unit=snapshot.unit,
        unit_flops=snapshot.unit_flops,
    )


@router.get(
    "/{job_id}/verdict",
    response_model=VerdictOut,
    dependencies=[Depends(require_read)],
)
def get_verdict(job_id: Id, boards: Annotated[Leaderboards, Depends(leaderboards)]) -> VerdictOut:
    """Which strategy finds a good architecture for the least compute, tested: every pair of
    strategies compared at equal compute over the job's repeats (``repeats: N``), each run
    scored at its own cost against the other's runs there (the accuracy of its best trial so
    far), a two-sided permutation test, Holm's correction over the pairs, and the median
    difference in accuracy with a 95% bootstrap interval. "not distinguishable" whenever the
    corrected p >= 0.05; a job with one run per strategy gets no claim (`claim: false`).
    While the job runs the verdict is provisional (`final: false`)."""
    return job_verdict(boards.snapshot(job_id))
