"""scripts/findings_questions.py: the longer-training and compound-scaling readings claim nothing
until their data exist, then state what scipy computes from the files."""

from __future__ import annotations

import json
from pathlib import Path

from scipy import stats

from bench.scaling import METHODS, ScalingRun
from nas.oracle import OracleRun, OracleTable
from scripts import findings_questions as questions
from tests.test_findings import hand_table


def reordered(table: OracleTable, levels: dict[tuple[int, ...], float], epochs: int) -> OracleTable:
    """``table`` with every point's test scores set around ``levels`` (two seeds)."""
    points = []
    for point in table.points:
        level = levels[tuple(point.strides)]
        runs = [
            OracleRun(
                seed=seed,
                val_accuracy=[level] * epochs,
                val_loss=[0.5] * epochs,
                test_accuracy=level + (0.01 if seed else -0.01),
                wall_seconds=1.0,
            )
            for seed in (0, 1)
        ]
        points.append(point.model_copy(update={"runs": runs}))
    return table.model_copy(update={"points": points, "epochs": epochs, "name": "hand_e15"})


def test_longer_training_is_pending_until_its_table_exists(tmp_path: Path) -> None:
    short = hand_table().save(tmp_path / "hand.json")
    facts = questions.long_training(short, tmp_path / "missing.json")
    text = questions.long_training_bullet(facts)
    assert facts.long is None and "not built yet" in text and "rho" not in text


def test_longer_training_compares_the_rankings_with_spearman(tmp_path: Path) -> None:
    short_table = hand_table()
    short = short_table.save(tmp_path / "hand.json")
    # At the longer budget the least downsampled point wins: the ranking turns over.
    levels = {tuple(p.strides): 0.9 - 0.05 * sum(p.strides) for p in short_table.points}
    long = reordered(short_table, levels, epochs=4).save(tmp_path / "hand_e15.json")
    facts = questions.long_training(short, long)
    assert facts.long is not None
    pairs = facts.matched()
    assert len(pairs) == len(short_table.points)
    short_means = [facts.mean(facts.short, s) for s, _ in pairs]
    long_means = [facts.mean(facts.long, lo) for _, lo in pairs]
    rho, p = facts.rank_agreement()
    want = stats.spearmanr(short_means, long_means)
    assert (rho, p) == (float(want.statistic), float(want.pvalue)) and rho < 0
    pick, best, rank, welch = facts.pick_against_best()
    assert pick.strides == [2, 2] and best.strides == [1, 1] and rank == len(pairs)
    want_p = stats.ttest_ind(
        best.scores(facts.long.split()), pick.scores(facts.long.split()), equal_var=False
    ).pvalue
    assert welch == float(want_p)
    text = questions.long_training_bullet(facts)
    assert f"rho {rho:+.2f}" in text and "At 4 epochs" in text and "(1, 1)" in text


def scaling_file(path: Path, seeds: int, methods: tuple[str, ...]) -> Path:
    """A bench/scaling.py checkpoint: compound 1.5 points ahead of every single dimension."""
    runs = []
    for seed in range(seeds):
        runs.append(ScalingRun(arm="base", seed=seed, spec="b", macs=1, params=1,
                               val_accuracy=0.8, test_accuracy=0.8, wall_seconds=1.0))  # fmt: skip
        for size in (2, 4):
            for method in methods:
                gain = 0.03 if method == "compound" else 0.015
                noise = 0.001 * ((seed * 7 + size + len(method)) % 3)
                run = ScalingRun(arm=f"{method}@{size}x", seed=seed, spec=method, macs=size,
                                 params=1, val_accuracy=0.8, test_accuracy=0.8 + gain + noise,
                                 wall_seconds=1.0)  # fmt: skip
                runs.append(run)
    lines = [json.dumps({"header": {"epochs": 10}})] + [r.model_dump_json() for r in runs]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_compound_scaling_claims_nothing_until_every_cell_ran(tmp_path: Path) -> None:
    assert "no runs yet" in questions.scaling_bullet(questions.scaling(tmp_path / "none.jsonl"))
    partial = questions.scaling(scaling_file(tmp_path / "s.jsonl", 3, METHODS[:-1]))
    assert partial.comparisons is None
    assert "Not measured yet" in questions.scaling_bullet(partial)


def test_compound_scaling_reads_the_bench_comparisons(tmp_path: Path) -> None:
    facts = questions.scaling(scaling_file(tmp_path / "s.jsonl", 4, METHODS))
    assert facts.comparisons is not None and facts.sizes == [2.0, 4.0]
    assert len(facts.comparisons) == 6
    depth = next(c for c in facts.comparisons if c.method == "depth" and c.size == 2)
    compound = [0.83 + 0.001 * ((s * 7 + 2 + 8) % 3) for s in range(4)]
    other = [0.815 + 0.001 * ((s * 7 + 2 + 5) % 3) for s in range(4)]
    assert depth.p == float(stats.ttest_rel(compound, other).pvalue)
    text = questions.scaling_bullet(facts)
    assert "10 epochs, 4 seeds" in text and "2x vs depth +1.5" in text
