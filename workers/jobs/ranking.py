"""A trial as one flat row, and ranking a job's trials across strategies.

``is_ranked`` is the one ranking rule: the page (its data marks each trial ``ranked``), the
server's trials listing (``?ranked=true``), ``nas leaderboard`` and ``nas run`` rank the same
trials: search trials that completed with an accuracy. Confirmation runs (``workers.jobs.confirm``),
skipped proposals (over budget, never run), pruned, failed and unfinished trials are listed,
never ranked.

``flat_row`` is the one place a trial is flattened: from its columns as the SQL store keeps
them (``trial`` columns plus its result's ``learned_strides``, ``stride_readout`` and
``test_accuracy``), which ``trial_columns`` gives for a ``StoredTrial``. The API's trial rows
(``api.schemas.TrialSummary``: listings from columns, ``/best`` from stored trials) and the CLI's
leaderboard rows are built from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from nas.job import CONFIRM
from nas.readout import stage_statuses
from nas.recommend import outranks, rank_key
from nas.strategies.chained import base_origin
from workers.jobs.store import StoredTrial, TrialState

RANKED_STATE = TrialState.COMPLETED
"""The one state a ranked trial is in (the SQL filter of the trials listing reads it too)."""
UNRANKED_STRATEGIES = (CONFIRM,)
"""Strategy keys never ranked: the confirmation runs of the recommendation."""


def is_ranked(strategy: str, state: str, accuracy: float | None) -> bool:
    """Whether a trial takes a place in the ranking: a search trial (not a confirmation run)
    that completed with a finite accuracy."""
    return (
        state == RANKED_STATE
        and strategy not in UNRANKED_STRATEGIES
        and accuracy is not None
        and math.isfinite(accuracy)
    )


def ranked_trial(trial: StoredTrial) -> bool:
    """``is_ranked`` of a stored trial."""
    accuracy = trial.result.accuracy if trial.result is not None else None
    return is_ranked(trial.strategy, trial.state, accuracy)


def trial_columns(trial: StoredTrial) -> dict[str, Any]:
    """A stored trial's values under the names of the SQL store's columns (``flat_row``'s
    input): its request's block string and params, its result's metrics and strides."""
    result = trial.result
    return {
        "id": trial.id,
        "strategy": trial.strategy,
        "number": trial.number,
        "state": trial.state,
        "spec": trial.request.spec.to_string(),
        "params": trial.request.params,
        "accuracy": result.accuracy if result else None,
        "n_params": result.params if result else None,
        "macs": result.macs if result else None,
        "cost_flops": result.cost_flops if result else None,
        "wall_seconds": result.wall_seconds if result else None,
        "epochs_run": result.epochs_run if result else None,
        "attempts": trial.attempts,
        "takeovers": trial.takeovers,
        "free_retries": trial.free_retries,
        "error": trial.error,
        "learned_strides": result.learned_strides if result else None,
        "stride_readout": result.stride_readout if result else None,
        "test_accuracy": result.test_accuracy if result else None,
        "copied_from": trial.copied_from,
    }


def flat_row(columns: Mapping[Any, Any]) -> dict[str, Any]:
    """A trial's flat row (``ROW_FIELDS``) from its ``columns`` (trusted values; the result's
    parts as stored JSON or as models): the phase and the base's origin (``base_from``:
    ``diffstride #3``, a chained strategy's) from its params, its learned strides when
    any stage has one, each stage's stride status, its test accuracy when it is a number."""
    params = columns["params"]
    phase = params.get("phase") if isinstance(params, dict) else None
    strides = columns["learned_strides"]
    test_accuracy = columns["test_accuracy"]
    return {
        "id": columns["id"],
        "strategy": columns["strategy"],
        "number": columns["number"],
        "state": columns["state"],
        "spec": columns["spec"],
        "params": params or {},
        "phase": str(phase) if phase is not None else None,
        "base_from": base_origin(params) if isinstance(params, dict) else None,
        "accuracy": columns["accuracy"],
        "n_params": columns["n_params"],
        "macs": columns["macs"],
        "cost_flops": columns["cost_flops"],
        "wall_seconds": columns["wall_seconds"],
        "epochs_run": columns["epochs_run"],
        "attempts": columns["attempts"],
        "takeovers": columns["takeovers"],
        "free_retries": columns["free_retries"],
        "error": columns["error"],
        "learned_strides": (
            [tuple(s) if s is not None else None for s in strides]
            if isinstance(strides, list) and any(s is not None for s in strides)
            else None
        ),
        "stride_status": stage_statuses(columns["stride_readout"]),
        "test_accuracy": (
            float(test_accuracy)
            if isinstance(test_accuracy, int | float) and not isinstance(test_accuracy, bool)
            else None
        ),
        "copied_from": columns["copied_from"],
    }


class LeaderboardRow(BaseModel):
    rank: int
    trial_id: int
    strategy: str
    number: int
    spec: str
    state: str
    accuracy: float | None
    params: int | None
    macs: int | None
    cost_flops: float | None
    wall_seconds: float | None
    learned_strides: list[tuple[float, float] | None] | None
    stride_status: list[list[str] | None] | None = None
    test_accuracy: float | None = None
    phase: str | None
    base_from: str | None = None


def leaderboard(trials: list[StoredTrial]) -> list[LeaderboardRow]:
    """The ranked trials (``is_ranked``) in ``nas.recommend.rank_key`` order: best validation
    accuracy first, ties to the earlier trial (rank 1 is the job's recommendation); the others
    are not ranked, so not here."""

    def sort_key(trial: StoredTrial) -> tuple[float, int]:
        assert trial.result is not None  # ranked
        return rank_key(trial.result.accuracy, trial.id)

    rows = []
    for rank, trial in enumerate(sorted(filter(ranked_trial, trials), key=sort_key), 1):
        row = flat_row(trial_columns(trial))
        rows.append(
            LeaderboardRow(
                rank=rank,
                trial_id=row["id"],
                strategy=row["strategy"],
                number=row["number"],
                spec=row["spec"],
                state=row["state"],
                accuracy=row["accuracy"],
                params=row["n_params"],
                macs=row["macs"],
                cost_flops=row["cost_flops"],
                wall_seconds=row["wall_seconds"],
                learned_strides=row["learned_strides"],
                stride_status=row["stride_status"],
                test_accuracy=row["test_accuracy"],
                phase=row["phase"],
                base_from=row["base_from"],
            )
        )
    return rows


def best_per_strategy(rows: list[LeaderboardRow]) -> dict[str, LeaderboardRow]:
    """Each strategy's best row by the best-trial rule (``nas.recommend.outranks``), in any
    order of ``rows``."""
    best: dict[str, LeaderboardRow] = {}
    for row in rows:
        top = best.get(row.strategy)
        incumbent = (
            (top.accuracy, top.trial_id) if top is not None and top.accuracy is not None else None
        )
        if outranks(row.accuracy, row.trial_id, incumbent):
            best[row.strategy] = row
    return best
