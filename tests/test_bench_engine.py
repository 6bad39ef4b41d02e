"""bench/engine.py and bench/plain_loop.py on small generated data (no timings asserted): the
plain loop trains and reports in the bench's format, its network has the product's parameter
count for every triple, and the bench reads `nas run --json` and checks the engines agree."""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app
from bench import engine
from nas.data.idx import write_idx
from nas.flops import count_params
from nas.job import JobSpec
from nas.models import build_model
from nas.presets import parse_spec

TRIPLES = [(3, 3, 2), (3, 3, 3)]


def plain_loop() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plain_loop", engine.PLAIN_LOOP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_plain_loop_imports_nothing_of_the_product() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['plain_loop', '--help']\n"
        "try:\n"
        f"    runpy.run_path({str(engine.PLAIN_LOOP)!r}, run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'nas', 'workers', 'api'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_plain_loops_network_has_the_products_parameter_count() -> None:
    loop, base = plain_loop(), parse_spec(engine.SPEC)
    for strides in itertools.product(engine.AXIS, repeat=3):
        ours = count_params(build_model(base.with_strides(strides)))
        assert loop.count_params(loop.ResNet3(strides)) == ours, strides


def test_the_grid_of_a_quick_run_varies_the_last_stages() -> None:
    assert engine.grid(engine.stride_choices(27)) == list(itertools.product([1, 2, 3], repeat=3))
    assert engine.grid(engine.stride_choices(3)) == [(3, 3, 1), (3, 3, 2), (3, 3, 3)]
    assert engine.grid(engine.stride_choices(1)) == [(3, 3, 3)]


@pytest.fixture
def idx_dir(tmp_path: Path) -> Path:
    """Generated 28x28 grey images, 10 classes (a bright band whose row is the class), as
    IDX files: 200 for training, 60 scored (``t10k-*``)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "idx"
    root.mkdir()
    for prefix, n in (("train", 200), ("t10k", 60)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 4 + 2 * label] = 255
        write_idx(root / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8))
    return root


def test_the_plain_loop_and_nas_run_agree_on_trials_the_bench_reads(
    idx_dir: Path, tmp_path: Path
) -> None:
    wall, out = engine.timed(engine.loop_command(idx_dir, TRIPLES, threads=1))
    assert wall > 0
    loop = engine.EngineRun(engine.LOOP, 1, 10.0, engine.parse_loop(out))
    assert [t.strides for t in loop.trials] == TRIPLES
    assert all(0.0 <= t.accuracy <= 1.0 and t.seconds > 0 for t in loop.trials)

    job = engine.job_dict(200, [[3], [3], [2, 3]])
    job["dataset"] = {"name": str(idx_dir), "val_fraction": 0.2}
    job["train"] = {**job["train"], "batch_size": 32, "threads": 1}
    assert JobSpec.parse(job).budget.total == len(TRIPLES)
    job_file = tmp_path / "job.yaml"
    job_file.write_text(yaml.safe_dump(job))
    result = CliRunner().invoke(app, ["run", str(job_file), "--json"])
    assert result.exit_code == 0, result.output
    product = engine.EngineRun(engine.PRODUCT, 1, 12.0, engine.parse_product(result.stdout))
    assert sorted(t.strides for t in product.trials) == TRIPLES
    rows = json.loads(result.stdout)["leaderboard"]
    assert sorted(t.accuracy for t in product.trials) == sorted(r["accuracy"] for r in rows)
    engine.check_same_trials(loop, product)  # the same triples and parameter counts
    row = engine.row(product, loop)
    assert row[:4] == ["1", engine.PRODUCT, "12.0", "1.20x"]

    other = engine.EngineRun(engine.LOOP, 1, 10.0, loop.trials[:1])
    with pytest.raises(RuntimeError, match="differ"):
        engine.check_same_trials(other, product)


def test_the_loops_files_hold_the_products_images(fashion_mnist_dir: Path, tmp_path: Path) -> None:
    job = JobSpec.parse(engine.job_dict(300, engine.stride_choices(1)))
    data = engine.write_loop_data(job, tmp_path)  # raises when they differ
    loop = plain_loop()
    x, y = loop.load_pair(tmp_path, "train")
    held_x, held_y = loop.load_pair(tmp_path, "t10k")
    assert (len(y), len(held_y)) == (data.num_train, data.num_val) == (250, 50)
    assert (y == data.train_y).all() and (held_y == data.val_y).all()
    mean, std = float(x.mean()), float(x.std())
    assert mean == pytest.approx(data.mean[0], rel=1e-5) and std == pytest.approx(data.std[0])
    assert ((held_x - mean) / std).allclose(data.val_x, atol=1e-5)
