"""The leaderboard page's data: what changed in a job since the client's last version."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.board_cache import Leaderboards
from api.deps import ServicesDep, require_read
from api.live_board import MAX_ROWS
from api.schemas import READ_ERRORS, Id, LeaderboardOut, StrideTrajectory, mapping
from api.store.trajectory import stride_trajectory

router = APIRouter(prefix="/api/v1/jobs", tags=["leaderboard"], responses=READ_ERRORS)
MAX_VERSION = 2**62


async def leaderboards(request: Request) -> Leaderboards:
    """The app's boards (async: a plain lookup, no trip to the threadpool)."""
    found: Leaderboards = request.app.state.leaderboards
    return found


@router.get(
    "/{job_id}/leaderboard",
    response_model=LeaderboardOut,
    dependencies=[Depends(require_read)],
)
async def leaderboard(
    job_id: Id,
    boards: Annotated[Leaderboards, Depends(leaderboards)],
    since: Annotated[
        int, Query(ge=0, le=MAX_VERSION, description="`version` of the last answer; 0: all")
    ] = 0,
    after: Annotated[
        int | None, Query(ge=0, le=MAX_VERSION, description="with `since`: from `next`")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = MAX_ROWS,
    top: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ROWS,
            description="with `since=0`: only the `top` best ranked trials (`partial`), the "
            "page's first screen; ask `since=0` again for the rest",
        ),
    ] = None,
) -> Response:
    """Trials changed since version ``since`` (compact columns), the per-strategy best-so-far
    curves, the Pareto front (accuracy vs MACs) and the trial counts.

    Poll with ``since`` set to the last answer's ``version``: an unchanged job costs one small
    query, or none while another request reads the job (the answer then comes from the cache).
    ``Server-Timing`` says how long the server took."""
    start = time.perf_counter()
    # an answer made before, while another request reads the job: straight from the event loop
    body = boards.cached_answer(job_id, since, after, limit, top)
    if body is None:  # the database, or building JSON: in the threadpool, off the event loop
        body = await run_in_threadpool(boards.answer, job_id, since, after, limit, top)
    took = (time.perf_counter() - start) * 1000
    return Response(
        body,
        media_type="application/json",
        headers={"Server-Timing": f"app;dur={took:.1f}", "Cache-Control": "no-store"},
    )


@router.get(
    "/{job_id}/trials/{trial_id}/strides",
    response_model=StrideTrajectory,
    dependencies=[Depends(require_read)],
)
def strides(job_id: Id, trial_id: Id, svc: ServicesDep) -> StrideTrajectory:
    """A trial's learned (DiffStride) strides per stage and epoch: from its history once
    finished, else from the epoch reports of its current attempt; no stages when none learned."""
    return mapping.trajectory(stride_trajectory(svc.repo.factory, job_id, trial_id))
