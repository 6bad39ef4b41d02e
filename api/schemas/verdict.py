"""The body of ``GET /api/v1/jobs/{id}/verdict``: ``nas.verdict.Verdict`` with its job."""

from __future__ import annotations

from pydantic import Field

from api.live_targets import Unit
from nas.verdict import Verdict


class VerdictOut(Verdict):
    """Which strategies differ at equal compute (``nas.verdict``), for one job."""

    job_id: int
    state: str = Field(description="the job's state when the verdict was made")
    final: bool = Field(
        description="the job has ended; false: provisional, made from the runs so far (repeats "
        "not started yet are left out)"
    )
    unit: Unit = Field(description="base_epochs or flops: what the page shows costs in")
    unit_flops: float = Field(description="FLOPs in one unit (costs here are in FLOPs)")
