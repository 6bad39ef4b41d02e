"""scripts/findings.py: the committed findings are what the data files say (the check), a table
without a current summary reads "rerun pending", a summary's verdict is read as computed, paired
comparisons claim a difference only when both tests do, and bench/engine.py's record is what
the engine reading reads."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bench import engine as engine_bench
from bench import robustness as robustness_bench
from bench import strategies as bench
from nas.oracle import OraclePoint, OracleRun, OracleTable
from nas.presets import parse_spec
from scripts import findings


def test_the_committed_findings_are_what_the_data_says() -> None:
    said: list[str] = []
    assert findings.main(["--check"], write=said.append) == 0, "\n".join(said)


def test_markers_replace_only_their_text() -> None:
    text = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n"
    assert findings.replace(text, "x", "new", Path("f")) == (
        "a\n<!-- x:start -->\nnew\n<!-- x:end -->\nb\n"
    )
    with pytest.raises(SystemExit, match="no <!-- y:start -->"):
        findings.replace(text, "y", "new", Path("f"))


def test_data_made_before_the_engine_fixes_is_marked() -> None:
    assert "before the engine's fixes" in findings.made("2026-12-05")
    assert findings.made(findings.ENGINE_FIXED) == f"made {findings.ENGINE_FIXED}"
    line = "Intel(R) Xeon(R), 2 cores, no GPU; torch 2.13.0+cpu, 2 threads; 2026-12-05"
    assert findings.date_of(line) == "2026-12-05"


def test_a_difference_is_claimed_only_when_both_tests_say_so() -> None:
    a = [0.80, 0.81, 0.82, 0.83, 0.84, 0.85]
    b = [v - 0.02 - 0.001 * i for i, v in enumerate(a)]
    six = findings.paired("A", "B", "pairs", a, b)
    assert six.p_t < 0.05 and six.p_w == pytest.approx(0.03125)  # the exact signed-rank p
    assert six.says() == "A above B" and six.low > 0
    four = findings.paired("A", "B", "pairs", a[:4], b[:4])
    assert four.p_t < 0.05 and four.p_w >= 0.05  # 4 pairs: the signed-rank test cannot
    assert four.says() == findings.NOT_DISTINGUISHABLE
    assert "cannot go below p = 0.12" in four.text()
    same = findings.paired("A", "B", "pairs", a, a)
    assert same.says() == findings.NOT_DISTINGUISHABLE


def test_the_robustness_runs_pair_by_init_and_seed() -> None:
    found = findings.robustness()
    # the comparisons stated before the runs; the committed runs predate the frozen arm
    assert [(c.a, c.b) for c in found.primary] == [
        ("DiffStride (defaults)", "spectral pooling"),
        ("DiffStride (defaults)", "strided convolution"),
    ]
    assert found.not_run == ["DiffStride (defaults) against DiffStride frozen at its init"]
    assert all(c.n == len(found.seeds) * 3 for c in found.primary)  # 3 inits x the seeds
    for family in (found.primary, found.secondary):
        assert all(c.p_t_holm is not None and c.p_t_holm >= c.p_t for c in family)


def test_the_preregistered_comparisons_pair_runs_by_init_and_seed() -> None:
    # made-up test accuracies: DiffStride 1 point above frozen in every pair, above the others
    # by less; the pairs are only the (init, seed) both arms ran
    inits = robustness_bench.INITS
    cells = {
        ("diffstride", i): {s: 0.86 + 0.001 * s + 0.002 * k for s in range(6)}
        for k, i in enumerate(inits)
    }
    cells |= {
        ("frozen", i): {s: v - 0.01 for s, v in cells["diffstride", i].items()} for i in inits
    }
    cells |= {("strided", inits[0]): {0: 0.85, 1: 0.87, 7: 0.5}}  # seed 7: no partner
    found = robustness_bench.preregistered(cells)
    assert [(c.a, c.b, c.n) for c in found] == [
        ("DiffStride (defaults)", "DiffStride frozen at its init", 18),
        ("DiffStride (defaults)", "strided convolution", 2),
    ]
    assert found[0].mean == pytest.approx(0.01) and found[0].p_t_holm is not None
    assert robustness_bench.missing(cells) == ["DiffStride (defaults) against spectral pooling"]


def test_the_engine_reads_what_bench_engine_records(tmp_path: Path) -> None:
    trials = [engine_bench.Trial((3, 3, s), 0.7 + s / 100, 1000, 10.0) for s in (1, 2)]
    runs = [
        engine_bench.EngineRun(engine_bench.LOOP, 1, 21.0, trials),
        engine_bench.EngineRun(engine_bench.PRODUCT, 1, 22.0, trials),
        engine_bench.EngineRun(engine_bench.LOOP, 2, 20.0, trials),
        engine_bench.EngineRun(engine_bench.PRODUCT, 2, 20.0, trials),
    ]
    record = engine_bench.EngineRecord(
        source="test",
        machine="m; 2026-12-08",
        load_before="",
        load_after="",
        spec=engine_bench.SPEC,
        choices=[[3], [3], [1, 2]],
        num_train=100,
        num_held_out=20,
        threads=1,
        rounds=[engine_bench.round_record(r) for r in runs],
    )
    assert record.rounds[0].outside_trials_seconds == pytest.approx(1.0)
    path = tmp_path / "engine.json"
    path.write_text(record.model_dump_json())
    found = findings.engine(path)
    assert found.ratios == [pytest.approx(22 / 21), pytest.approx(1.0)]
    assert found.ratio == pytest.approx(42 / 41)
    assert "2-trial grid in 1.02x" in findings.engine_text(found)


# ---- a summary, made without training ----------------------------------------------------------


def hand_table() -> OracleTable:
    """The smoke table's space with made-up runs: two seeds, the more downsampled the better."""
    base = parse_spec(bench.SMOKE_BASE)
    points = []
    for strides in itertools.product(*bench.SMOKE_STRIDES):
        level = 0.5 + 0.05 * sum(strides)
        runs = [
            OracleRun(
                seed=seed,
                val_accuracy=[level - 0.1, level + seed / 100],
                val_loss=[1.0, 0.5],
                test_accuracy=level + seed / 200,
                wall_seconds=1.0,
            )
            for seed in (0, 1)
        ]
        spec = base.with_strides(strides)
        points.append(
            OraclePoint(
                spec=spec.to_string(),
                strides=list(strides),
                params=1000,
                macs=10_000 // (strides[0] * strides[1]),
                epoch_flops=1e9 / (strides[0] * strides[1]),
                runs=runs,
            )
        )
    return OracleTable(
        name="hand",
        base=bench.SMOKE_BASE,
        strides=bench.SMOKE_STRIDES,
        dataset={"name": "synthetic", "subset": 100},
        num_train=90,
        num_val=10,
        epochs=2,
        train={},
        machine="test; 2026-12-08",
        version="test",
        created="2026-12-08",
        points=points,
    )


def real_run(strategy: str, repeat: int, table: OracleTable) -> bench.RealRun:
    def trial(spec: str, phase: str, val: float, test: float, **params: Any) -> bench.RealTrial:
        return bench.RealTrial(
            spec=spec,
            params={"phase": phase, **params},
            state="completed",
            seed=repeat,
            epochs=2,
            cost_flops=2e9,
            val_accuracy=val,
            test_accuracy=test,
        )

    best = table.points[-1]
    if strategy == bench.DIFFSTRIDE:
        search = bench.SMOKE_BASE.replace("basic_r1_s2_c16", "basic_r1_s2_c16_diffstride")
        trials = [
            trial(search, "search", 0.6, 0.62),
            trial(best.spec, "retrain", 0.7, 0.71, strides=best.strides),
        ]
    else:
        scaled = bench.SMOKE_BASE.replace("stem_c8", "stem_c12")
        trials = [
            trial(scaled, "grid", 0.55, 0.56, alpha=1.2, beta=1.1, gamma=1.15, phi=1),
            trial(scaled, "scale", 0.58 + repeat / 100, 0.59, alpha=1.2, beta=1.1, phi=2),
        ]
    return bench.RealRun(
        strategy=strategy,
        repeat=repeat,
        seed=repeat,
        trials=trials,
        finished_reason="done",
        machine="test",
        wall_seconds=1.0,
    )


def test_a_table_reads_its_summary_or_says_the_rerun_is_pending(tmp_path: Path) -> None:
    oracle = hand_table()
    path = oracle.save(tmp_path / "hand.json")
    facts = findings.table_facts(path)
    assert facts.best.strides == [2, 2] and facts.rho < 0
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    pending = findings.strategy_facts(facts, bench_dir)
    assert pending.summary is None and "no summary" in (pending.pending or "")
    text = findings.reading_strategies(pending)
    assert "Rerun pending" in text and "%" not in text.split("\n\n")[0]

    real = [real_run(s, r, oracle) for s in (bench.DIFFSTRIDE, bench.COMPOUND) for r in (0, 1, 2)]
    found = bench.summary(
        oracle,
        path,
        bench.simulated_runs(oracle, 3),
        real,
        {"repeats": 3, "repeat_counts": {bench.DIFFSTRIDE: 3, bench.COMPOUND: 3}},
        resamples=99,
    )
    summary_path = bench_dir / "strategies_hand.summary.json"
    summary_path.write_text(found.model_dump_json())
    current = findings.strategy_facts(facts, bench_dir)
    assert current.summary is not None
    text = findings.reading_strategies(current)
    assert found.verdict["says"] in " ".join(text.split())
    pair = current.pair(bench.DIFFSTRIDE, "grid-cheapest")
    assert pair is not None and f"Holm p = {findings.p_text(pair['p_holm'])}" in text
    bullets = " ".join(findings.strategies_bullets([current]))
    assert "Strategies on `hand` at equal compute" in bullets and "pending" not in bullets

    # no difference by the test, yet an interval clear of 0: told as the trade-off it is
    assert current.strategy("base").cost < current.strategy(bench.DIFFSTRIDE).cost
    traded = {
        "a": bench.DIFFSTRIDE,
        "b": "base",
        "runs_a": 3,
        "runs_b": 3,
        "statistic": 0,
        "bound": 18,
        "p": 1.0,
        "exact": True,
        "smallest_p": 0.1,
        "p_holm": 1.0,
        "says": "not distinguishable",
        "ahead": None,
        "effect": 0.03,  # accuracy as a fraction
        "effect_low": 0.02,
        "effect_high": 0.04,
    }
    text = findings.pair_text(traded, "base", current)
    assert text.startswith(f"against {bench.DIFFSTRIDE}: not distinguishable")
    assert "-3.00 points" in text and "a trade-off, not a tie" in text
    assert f"base finishes after {current.strategy('base').cost:.1f} base epochs" in text
    assert f"{bench.DIFFSTRIDE} leads" in text
    tied = {**traded, "effect_low": -0.01}
    assert "trade-off" not in findings.pair_text(tied, "base", current)
    # the cheaper one ahead where both answer: no trade-off, it simply is not shown better
    assert "trade-off" not in findings.pair_text(
        {**traded, "effect": -0.03, "effect_low": -0.04, "effect_high": -0.02}, "base", current
    )

    oracle.model_copy(update={"created": "2026-12-09"}).save(path)  # the table changed
    stale = findings.strategy_facts(findings.table_facts(path), bench_dir)
    assert stale.summary is None and "another version of the table" in (stale.pending or "")
