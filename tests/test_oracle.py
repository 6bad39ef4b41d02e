"""nas.oracle: a hand-made table's lookups, target and files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nas.errors import DataError
from nas.oracle import OraclePoint, OracleRun, OracleTable
from nas.presets import parse_spec

BASE = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"


def point(strides: list[int], finals: list[float], flops: float = 10.0) -> OraclePoint:
    spec = parse_spec(BASE)
    stages = [
        {**stage.model_dump(), "stride": (float(s), float(s))}
        for stage, s in zip(spec.stages, strides, strict=True)
    ]
    return OraclePoint(
        spec=spec.replace(stages=stages).to_string(),
        strides=strides,
        params=100,
        macs=1000,
        epoch_flops=flops,
        runs=[
            OracleRun(seed=k, val_accuracy=[a - 0.1, a], val_loss=[1.0, 0.5], wall_seconds=1.0)
            for k, a in enumerate(finals)
        ],
    )


def table(points: list[OraclePoint]) -> OracleTable:
    return OracleTable(
        name="hand-made",
        base=BASE,
        strides=[[1], [1, 2]],
        dataset={"name": "synthetic"},
        num_train=100,
        num_val=20,
        epochs=2,
        train={},
        machine="test",
        version="0",
        created="2026-12-02",
        points=points,
    )


def test_target_is_the_best_mean_minus_the_larger_of_half_a_point_and_two_errors() -> None:
    noisy = point([1, 2], [0.80, 0.90, 0.85])  # mean 0.85, SE 0.0289
    steady = point([1, 1], [0.84, 0.84, 0.84])
    oracle = table([noisy, steady])
    assert oracle.best() is noisy
    assert oracle.target() == pytest.approx(0.85 - 2 * 0.05 / math.sqrt(3))
    tight = table([point([1, 2], [0.85, 0.85, 0.85]), steady])
    assert tight.target() == pytest.approx(0.845)  # 2 SE = 0 < half a point
    assert oracle.full_cost() == 2 * (10.0 + 10.0)
    assert oracle.base_epoch_flops() == 10.0


def test_lookup_by_strides_and_misses() -> None:
    oracle = table([point([1, 2], [0.8]), point([1, 1], [0.7])])
    spec = parse_spec(BASE)
    found = oracle.lookup(spec)
    assert found is not None and found.strides == [1, 2]
    other = spec.replace(stages=[{**s.model_dump(), "stride": (2.0, 2.0)} for s in spec.stages])
    assert oracle.lookup(other) is None
    uneven = spec.replace(
        stages=[spec.stages[0].model_dump(), {**spec.stages[1].model_dump(), "stride": (2, 1)}]
    )
    assert oracle.lookup(uneven) is None


def test_a_table_round_trips_and_a_bad_file_says_why(tmp_path: Path) -> None:
    oracle = table([point([1, 2], [0.8, 0.82]), point([1, 1], [0.7, 0.71])])
    path = oracle.save(tmp_path / "t.json")
    assert OracleTable.load(path) == oracle
    (tmp_path / "bad.json").write_text('{"name": 1}')
    with pytest.raises(DataError, match="not an oracle table"):
        OracleTable.load(tmp_path / "bad.json")
    with pytest.raises(DataError, match="cannot read"):
        OracleTable.load(tmp_path / "missing.json")


def test_every_run_needs_every_epoch() -> None:
    bad = point([1, 2], [0.8]).model_copy(
        update={"runs": [OracleRun(seed=0, val_accuracy=[0.8], val_loss=[0.5], wall_seconds=1.0)]}
    )
    with pytest.raises(ValueError, match="2 epochs"):
        table([bad])
