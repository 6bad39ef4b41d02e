"""Trials as the API shows them: flat rows (``TrialSummary``, ``TrialOut``), one trial in full
(``TrialDetail``) and failure logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Self, cast

from pydantic import BaseModel, Field

from api.strides import strides_text
from nas.trial import EpochReport
from workers.executors.processes import LOG_LIMIT
from workers.jobs.ranking import flat_row, trial_columns
from workers.jobs.store import StoredTrial

Attempts = Annotated[int, Field(description="times it was started, every start counted")]
Takeovers = Annotated[
    int,
    Field(
        description="of its attempts, those cut short when the server running it died and "
        "another took the job over: not charged to its retries, given up after max_takeovers",
    ),
]
FreeRetries = Annotated[
    int,
    Field(
        description="of its attempts, those cut short otherwise through no fault of its own "
        "(its Ray cluster lost, its server stopped): not charged to its retries",
    ),
]


class TrialLog(BaseModel):
    """Why a trial failed: its error and its log (``GET /api/v1/jobs/{id}/trials/{t}/log``)."""

    job_id: int
    trial: int
    strategy: str
    number: int
    state: str
    attempts: Attempts
    takeovers: Takeovers = 0
    free_retries: FreeRetries = 0
    error: str | None = Field(default=None, description="the reason, in full")
    log: str | None = Field(
        default=None,
        description=f"the tail of its worker's stderr and its traceback (at most {LOG_LIMIT} "
        "bytes of UTF-8, cut at the start); null when none was kept (the trial did not fail, "
        "or failed before logs were kept)",
    )


class TrialSummary(BaseModel):
    """What a listing shows of a trial: its columns, no request or result documents."""

    id: int
    strategy: str
    number: int
    state: str
    spec: str
    params: dict[str, Any]
    phase: str | None = None
    base_from: str | None = Field(
        default=None,
        description="a strategy that starts from another's recommendation (`from`): the trial "
        "its base is, 'diffstride #3' (that strategy run's trial number)",
    )
    strides: str | None = Field(
        default=None,
        description="stride per stage, '1-2-2-2' (a DiffStride stage's learned stride with two "
        "decimals once the trial finished)",
    )
    accuracy: float | None = None
    n_params: int | None = None
    macs: int | None = None
    cost_flops: float | None = None
    wall_seconds: float | None = None
    epochs_run: int | None = None
    attempts: Attempts
    takeovers: Takeovers = 0
    free_retries: FreeRetries = 0
    error: str | None = None
    learned_strides: list[tuple[float, float] | None] | None = None
    stride_status: list[list[str] | None] | None = Field(
        default=None,
        description="per stage: whether its DiffStride stride learned, per axis ('learned', "
        "'held at floor', ...; see nas.readout), null for fixed stages",
    )
    test_accuracy: float | None = Field(
        default=None, description="accuracy on the official test split, when it was scored"
    )
    copied_from: int | None = Field(
        default=None, description="warm start: the trial of another job this one copies"
    )
    last_epoch: EpochReport | None = None

    @classmethod
    def of_columns(cls, columns: Mapping[Any, Any], last: EpochReport | None) -> Self:
        """From a trial's columns (``workers.jobs.ranking.flat_row``: the one flattening),
        without revalidating them; ``last``: its latest progress report. Its strides text is
        the stored one (``strides``) where the columns carry it, else computed from them."""
        strides = columns.get("strides")
        if strides is None:
            learned = columns["learned_strides"]
            strides = strides_text(columns["spec"], learned if isinstance(learned, list) else None)
        return cast(
            Self, cls.model_construct(**flat_row(columns), strides=strides, last_epoch=last)
        )


class TrialOut(TrialSummary):
    """One trial as the API shows it."""

    @classmethod
    def of(cls, trial: StoredTrial) -> TrialOut:
        return cls.of_columns(trial_columns(trial), trial.progress[-1] if trial.progress else None)


class TrialDetail(TrialOut):
    """One trial (``GET /api/v1/jobs/{id}/trials/{t}``): its row, and where and how it ran."""

    node: str | None = Field(
        default=None,
        description="the machine or Ray node it ran on (NAS_NODE_NAME where set, else the host "
        "name); null until it finished, or when not recorded",
    )
    device: str | None = Field(default=None, description="cpu or cuda; null until it finished")
    epochs: int = Field(description="the epochs it was asked to train")

    @classmethod
    def of(cls, trial: StoredTrial) -> TrialDetail:
        row = cls.of_columns(trial_columns(trial), trial.progress[-1] if trial.progress else None)
        result = trial.result
        return row.model_copy(
            update={
                "node": result.node if result is not None else None,
                "device": result.device if result is not None else None,
                "epochs": trial.request.epochs,
            }
        )
