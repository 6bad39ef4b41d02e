"""Ranking a job's trials across strategies (the CLI table; the API serves the same rows)."""

from __future__ import annotations

from pydantic import BaseModel

from nas.readout import stage_statuses
from workers.store import StoredTrial


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


def leaderboard(trials: list[StoredTrial]) -> list[LeaderboardRow]:
    """Finished trials with a result, best validation accuracy first; failed trials last."""

    def sort_key(trial: StoredTrial) -> tuple[int, float, int]:
        accuracy = trial.result.accuracy if trial.result is not None else -1.0
        return (0 if trial.result is not None else 1, -accuracy, trial.id)

    rows = []
    for rank, trial in enumerate(sorted((t for t in trials if t.finished), key=sort_key), 1):
        result = trial.result
        phase = trial.request.params.get("phase")
        rows.append(
            LeaderboardRow(
                rank=rank,
                trial_id=trial.id,
                strategy=trial.strategy,
                number=trial.number,
                spec=trial.request.spec.to_string(),
                state=trial.state,
                accuracy=result.accuracy if result else None,
                params=result.params if result else None,
                macs=result.macs if result else None,
                cost_flops=result.cost_flops if result else None,
                wall_seconds=result.wall_seconds if result else None,
                learned_strides=(
                    result.learned_strides
                    if result and any(s is not None for s in result.learned_strides)
                    else None
                ),
                stride_status=stage_statuses(result.stride_readout) if result else None,
                test_accuracy=result.test_accuracy if result else None,
                phase=str(phase) if phase is not None else None,
            )
        )
    return rows


def best_per_strategy(rows: list[LeaderboardRow]) -> dict[str, LeaderboardRow]:
    """The top row of each strategy (rows must already be ranked)."""
    best: dict[str, LeaderboardRow] = {}
    for row in rows:
        if row.accuracy is not None and row.strategy not in best:
            best[row.strategy] = row
    return best
