"""``workers.jobs.ranking``: the ranking and each strategy's best follow the best-trial rule
(``nas.recommend``): most accurate first, ties to the earlier trial, in any order given."""

from __future__ import annotations

import random

from workers.jobs.ranking import LeaderboardRow, best_per_strategy


def row(trial_id: int, strategy: str, accuracy: float | None) -> LeaderboardRow:
    return LeaderboardRow(
        rank=0,
        trial_id=trial_id,
        strategy=strategy,
        number=trial_id,
        spec="resnet",
        state="completed",
        accuracy=accuracy,
        params=None,
        macs=None,
        cost_flops=None,
        wall_seconds=None,
        learned_strides=None,
        phase=None,
    )


def test_each_strategys_best_in_any_order() -> None:
    rows = [
        row(5, "grid", 0.9),
        row(2, "grid", 0.9),
        row(1, "grid", 0.8),
        row(7, "random", 0.7),
        row(3, "random", None),
        row(4, "base", None),
    ]
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        found = {key: r.trial_id for key, r in best_per_strategy(rows).items()}
        assert found == {"grid": 2, "random": 7}
