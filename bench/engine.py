"""`nas run` against a plain PyTorch loop, each timed as a whole process, as a user measures it.

The job: every stride triple over {1, 2, 3}^3 of a 3-stage ResNet for 28x28x1 (78k parameters:
stem 16 channels, one basic block per stage at 16/32/64), 1 epoch per trial, on 10,000
Fashion-MNIST training images, scored on the same 2,000 held-out images by both engines. Recipe:
SGD with Nesterov momentum 0.9, lr 0.1 at batch 128, weight decay 5e-4, per-step cosine to 0;
label smoothing 0.1; random crop with 2 px of black padding and horizontal flips; 2 threads.

- The product: `nas run JOB.yaml --json`, a job file this bench writes (dataset `fashion-mnist`,
  subset 12,000, 1/6 held out; the grid over the triples; no confirmation runs), in its own
  process, timed from its start to its exit.
- The loop: `bench/plain_loop.py` in its own process, timed the same way: its own network (plain
  `nn.Module` code, the same architecture and parameter counts), its own init, IDX reader and
  data path, no `nas` import. It reads IDX files this bench writes from the product's own split:
  the same 10,000 training images and, as its test files, the product's 2,000 held-out images
  (checked against what `nas.data.load` gives the product).

Rounds interleave the engines (loop, product, loop, product, ...) so slow drift of a shared
machine falls on both. `--triples 1|3|9|27` varies the strides of the last 0-3 stages (the
earlier stay 3) for a quick run. Writes the table to docs/results.md ("engine") and the measured
rounds to data/bench/engine.json (`--record`; `scripts/findings.py` reads them).

`--part init` measures the classifier's init instead: the product's trainer on the same data
and grid, PyTorch's default linear init against N(0, 0.01) with a zero bias (the same
convolution weights), scored on the official test split, over several seeds ("engine-init").

    python bench/engine.py [--rounds 2] [--triples 27] [--subset 12000]
    python bench/engine.py --rounds 1 --triples 3 --subset 2000 \
        --results /tmp/results.md --record /tmp/engine.json   # a smoke run: seconds
    python bench/engine.py --part init [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import BaseModel, Field
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, section_block, table, write_section
from nas import recommend
from nas.data import ImageData
from nas.data.idx import load_fashion_mnist, write_idx
from nas.data.split import split_indices, subset_indices
from nas.job import JobSpec
from nas.models import build_model
from nas.presets import parse_spec
from nas.spec import ArchSpec
from nas.train import train
from workers.executors.trial_entry import load_dataset

ROOT = Path(__file__).resolve().parent.parent
RECORD = ROOT / "data" / "bench" / "engine.json"
SPEC = "resnet:r28:c1:n10:relu:stem_c16:basic_r1_c16:basic_r1_s2_c32:basic_r1_s2_c64:head_d0"
AXIS = [1, 2, 3]
THREADS = 2
PLAIN_LOOP = ROOT / "bench" / "plain_loop.py"
LOOP = "plain PyTorch loop"
PRODUCT = "nas run"

Triple = tuple[int, ...]


@dataclass(frozen=True)
class Trial:
    strides: Triple
    accuracy: float
    params: int
    seconds: float  # the trial's wall time as its engine measured it


@dataclass(frozen=True)
class EngineRun:
    engine: str
    round: int
    wall: float  # the process, from its start to its exit
    trials: list[Trial]

    @property
    def mean_accuracy(self) -> float:
        return statistics.fmean(t.accuracy for t in self.trials)

    @property
    def outside_trials(self) -> float:
        """Process wall time not spent in a trial: start-up, imports, data, bookkeeping."""
        return self.wall - sum(t.seconds for t in self.trials)


def stride_choices(triples: int) -> list[list[int]]:
    """Per stage, the strides of the grid: the last ``log3(triples)`` stages take all three."""
    varied = {1: 0, 3: 1, 9: 2, 27: 3}[triples]
    return [[3]] * (3 - varied) + [AXIS] * varied


def grid(choices: list[list[int]]) -> list[Triple]:
    return list(itertools.product(*choices))


RECIPE: dict[str, Any] = {
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "batch_size": 128,
    "schedule": "cosine",
    "label_smoothing": 0.1,
    "augment": True,
    "crop_padding": 2,
    "threads": THREADS,
    "seed": 0,
}


def job_dict(subset: int, choices: list[list[int]]) -> dict[str, Any]:
    """The job `nas run` runs: the grid over ``choices``, one epoch a trial, nothing else."""
    return {
        "name": "bench-engine",
        "dataset": {"name": "fashion-mnist", "subset": subset, "val_fraction": 1 / 6},
        "base": SPEC,
        "space": {"strides": choices},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": len(grid(choices)), "epochs_per_trial": 1},
        "confirm_seeds": 0,  # the grid's trials against the loop's, nothing more
        "train": RECIPE,
        "keep_weights": "none",
    }


# ---- the same images for both -------------------------------------------------------------------


def write_loop_data(job: JobSpec, root: Path) -> ImageData:
    """The product's training and held-out images as IDX files under ``root`` for the loop
    (``train-*``, and ``t10k-*`` for the held-out part), in the product's order; checked
    against ``nas.data.load``'s tensors for the job, which are returned."""
    ref = job.dataset
    raw = load_fashion_mnist()
    idx = (
        np.arange(len(raw.y))
        if ref.subset is None
        else subset_indices(raw.y, ref.subset, seed=ref.seed)
    )
    train_rel, held_rel = split_indices(raw.y[idx], ref.val_fraction, seed=ref.seed)
    parts = {"train": idx[train_rel], "t10k": idx[held_rel]}
    for prefix, rows in parts.items():
        write_idx(root / f"{prefix}-images-idx3-ubyte", raw.x[rows, 0])
        write_idx(root / f"{prefix}-labels-idx1-ubyte", raw.y[rows].astype(np.uint8))
    data = load_dataset(ref)
    for (x, y), rows in zip(
        [(data.train_x, data.train_y), (data.val_x, data.val_y)], parts.values(), strict=True
    ):
        images = torch.from_numpy(raw.x[rows]).float() / 255
        normalised = (images - data.mean[0]) / data.std[0]
        if not (torch.equal(y, torch.from_numpy(raw.y[rows])) and torch.allclose(x, normalised)):
            raise RuntimeError("the loop's IDX files are not the product's images")
    return data


# ---- the two processes --------------------------------------------------------------------------


def timed(command: list[str]) -> tuple[float, str]:
    """``(wall seconds from start to exit, stdout)`` of a process; raises when it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} exited {done.returncode}: {done.stderr[-3000:]}")
    return wall, done.stdout


def loop_command(data_dir: Path, triples: list[Triple], threads: int = THREADS) -> list[str]:
    return [
        sys.executable,
        str(PLAIN_LOOP),
        "--data",
        str(data_dir),
        "--threads",
        str(threads),
        "--triples",
        *(",".join(map(str, t)) for t in triples),
    ]


def product_command(job_file: Path) -> list[str]:
    return [str(Path(sys.executable).with_name("nas")), "run", str(job_file), "--json"]


def parse_loop(stdout: str) -> list[Trial]:
    """The plain loop's trials from its JSON lines."""
    trials = []
    for line in stdout.splitlines():
        if line.strip():
            row = json.loads(line)
            seconds = row["setup_s"] + row["train_s"] + row["eval_s"]
            trials.append(Trial(tuple(row["strides"]), row["accuracy"], row["params"], seconds))
    return trials


def parse_product(stdout: str) -> list[Trial]:
    """The product's trials from `nas run --json` (its leaderboard: accuracy on the held-out
    images, parameters, the trial's wall time; the strides read from each row's block string)."""
    trials = []
    for row in json.loads(stdout)["leaderboard"]:
        if row["state"] != "completed":
            raise RuntimeError(f"trial {row['trial_id']} of the product is {row['state']}")
        spec = ArchSpec.from_string(row["spec"])
        strides = tuple(int(stage.stride[0]) for stage in spec.stages)
        trials.append(Trial(strides, row["accuracy"], row["params"], row["wall_seconds"]))
    return trials


def check_same_trials(loop: EngineRun, product: EngineRun) -> None:
    """Both engines trained the same triples with the same parameter counts."""
    mine = {t.strides: t.params for t in loop.trials}
    theirs = {t.strides: t.params for t in product.trials}
    if mine != theirs:
        raise RuntimeError(f"the engines differ in triples or parameters: {mine} vs {theirs}")


# ---- the record ---------------------------------------------------------------------------------


class RoundRecord(BaseModel):
    """One engine's process in one round, as measured."""

    round: int
    engine: str
    wall_seconds: float = Field(description="the process, from its start to its exit")
    mean_accuracy: float = Field(description="mean over the trials, on the held-out images")
    best_accuracy: float
    best_strides: list[int]
    in_trials_seconds: float = Field(description="the trials' wall times, as the engine timed")
    outside_trials_seconds: float
    trials: list[dict[str, Any]] | None = Field(
        default=None, description="strides, accuracy, params, seconds per trial (null: not kept)"
    )


class EngineRecord(BaseModel):
    """What bench/engine.py measured: the setting and every round (data/bench/engine.json)."""

    source: str
    machine: str
    load_before: str
    load_after: str
    spec: str
    choices: list[list[int]]
    num_train: int
    num_held_out: int
    epochs: int = 1
    threads: int
    rounds: list[RoundRecord]


def round_record(run: EngineRun) -> RoundRecord:
    best = max(run.trials, key=lambda t: t.accuracy)
    return RoundRecord(
        round=run.round,
        engine=run.engine,
        wall_seconds=run.wall,
        mean_accuracy=run.mean_accuracy,
        best_accuracy=best.accuracy,
        best_strides=list(best.strides),
        in_trials_seconds=sum(t.seconds for t in run.trials),
        outside_trials_seconds=run.outside_trials,
        trials=[
            {
                "strides": list(t.strides),
                "accuracy": t.accuracy,
                "params": t.params,
                "seconds": t.seconds,
            }
            for t in run.trials
        ],
    )


# ---- the table ----------------------------------------------------------------------------------


def row(run: EngineRun, loop: EngineRun) -> list[str]:
    # the engine's best trial by the best-trial rule (most accurate, ties to the first)
    found = recommend.best((t.accuracy, i) for i, t in enumerate(run.trials))
    best = run.trials[found[1] if found is not None else 0]
    return [
        f"{run.round}",
        run.engine,
        f"{run.wall:.1f}",
        f"{run.wall / loop.wall:.2f}x",
        f"{100 * run.mean_accuracy:.2f}",
        f"{100 * best.accuracy:.2f} {best.strides}",
        f"{sum(t.seconds for t in run.trials):.1f}",
        f"{run.outside_trials:.1f}",
    ]


def load_text() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def bench_engines(args: argparse.Namespace) -> None:
    choices = stride_choices(args.triples)
    triples = grid(choices)
    job = JobSpec.parse(job_dict(args.subset, choices))
    load_before = load_text()
    pairs: list[tuple[EngineRun, EngineRun]] = []
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        root = Path(tmp)
        data = write_loop_data(job, root)
        job_file = root / "job.yaml"
        job_file.write_text(yaml.safe_dump(job_dict(args.subset, choices)))
        print(f"data: {data.num_train} train, {data.num_val} held out; {len(triples)} triples")
        for round_ in range(1, args.rounds + 1):
            wall, out = timed(loop_command(root, triples))
            loop = EngineRun(LOOP, round_, wall, parse_loop(out))
            wall, out = timed(product_command(job_file))
            product = EngineRun(PRODUCT, round_, wall, parse_product(out))
            check_same_trials(loop, product)
            pairs.append((loop, product))
            for run in (loop, product):
                print(" | ".join(row(run, loop)), flush=True)
    load_after = load_text()

    rows = [row(run, loop) for loop, product in pairs for run in (loop, product)]
    body = table(
        [
            "round",
            "engine",
            "process wall s",
            "vs the loop",
            "mean acc %",
            "best acc % (strides)",
            "in trials s",
            "outside trials s",
        ],
        rows,
    )
    ratio = sum(p.wall for _, p in pairs) / sum(loop.wall for loop, _ in pairs)
    ratios = [p.wall / loop.wall for loop, p in pairs]
    gap = 100 * (pairs[0][1].mean_accuracy - pairs[0][0].mean_accuracy)
    time_ok, acc_ok = ratio <= 1.1, abs(gap) <= 1.0
    results_module.RESULTS = Path(args.results)
    init = results_module.read_section("engine-init") or "(`--part init` not run yet)"
    write_section(
        "engine",
        f"""## `nas run` against a plain PyTorch loop, as a user measures it (`bench/engine.py`)

Machine: {machine()}. Load average before / after: {load_before}; {load_after}.

The {len(triples)} stride triples over {choices} of `{SPEC}` (78k parameters at (2, 2, 2)),
1 epoch per trial on {data.num_train:,} Fashion-MNIST training images, both engines scored on
the same {data.num_val:,} held-out images. Recipe: SGD (Nesterov 0.9), lr 0.1 at batch 128,
weight decay 5e-4 (not on BN and biases), per-step cosine to 0, label smoothing 0.1, random crop
with 2 px of black padding and horizontal flips, {THREADS} threads, seed 0.

How it was measured: each engine is a process of its own, timed from its start to its exit
(Python start-up, imports, reading the data, every trial): `nas run JOB.yaml --json` on a job
file the bench writes, and `bench/plain_loop.py`, a loop as a user writes it (its own `nn.Module`
network with the same parameter count per triple, PyTorch's default init with He convolutions,
its own IDX reader, crop and flip; model and batches channels_last), reading IDX files the bench
writes from the product's own split. Rounds interleave the engines (loop, then product), so
drift of the machine falls on both. "In trials" sums the trials' wall times as each engine
measured them; "outside trials" is the rest of the process. Accuracies are the same in every
round (both engines are seeded).

{body}

Aims: `nas run` within 1.1x of the loop's wall time: **{ratio:.2f}x over all rounds**
(per round {", ".join(f"{r:.2f}x" for r in ratios)}), **{"met" if time_ok else "not met"}**;
mean accuracy within 1 point of the loop's: **{gap:+.2f} points, {"met" if acc_ok else "not met"}**.

Only this {os.cpu_count()}-core CPU machine was available for these numbers: no GPU was lent,
so the CUDA path (channels_last with bf16 autocast) is not re-timed here.

{section_block("engine-init", init)}
""",
    )
    record = EngineRecord(
        source="measured by bench/engine.py (every run rewrites this file)",
        machine=machine(),
        load_before=load_before,
        load_after=load_after,
        spec=SPEC,
        choices=choices,
        num_train=data.num_train,
        num_held_out=data.num_val,
        threads=THREADS,
        rounds=[round_record(run) for pair in pairs for run in pair],
    )
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(record.model_dump_json(indent=1) + "\n")
    print(f"{ratio:.2f}x, {gap:+.2f} points; wrote section 'engine' to {results_module.RESULTS}")
    print(f"wrote the rounds to {args.record}")


# ---- the classifier's init ----------------------------------------------------------------------


def small_normal_classifier(model: nn.Module) -> None:
    """The init before: the classifier's weights N(0, 0.01), its bias 0."""
    classifier = model.classifier
    assert isinstance(classifier, nn.Linear)
    nn.init.normal_(classifier.weight, 0.0, 0.01)
    nn.init.zeros_(classifier.bias)


def bench_init(args: argparse.Namespace) -> None:
    """Each triple and seed trained twice from the same convolution weights: with the
    classifier as built (PyTorch's default) and redrawn N(0, 0.01) with a zero bias."""
    choices = stride_choices(args.triples)
    job = JobSpec.parse(job_dict(args.subset, choices))
    data = load_dataset(job.dataset)
    base = parse_spec(SPEC)
    arms = {"PyTorch default": None, "N(0, 0.01), zero bias": small_normal_classifier}
    found: dict[str, dict[int, list[tuple[float, float]]]] = {arm: {} for arm in arms}
    start = time.perf_counter()
    load_before = load_text()
    for seed in args.seeds:
        options = job.train.model_copy(update={"seed": seed, "score_test": True})
        for strides in grid(choices):
            spec = base.with_strides(strides)
            for arm, redraw in arms.items():
                torch.manual_seed(seed)  # as the worker does before it builds the model
                model = build_model(spec)
                if redraw is not None:
                    redraw(model)
                result = train(spec, data, 1, options, model=model)
                assert result.test_accuracy is not None
                found[arm].setdefault(seed, []).append((result.accuracy, result.test_accuracy))
                print(f"{arm} seed {seed} {strides}: test {result.test_accuracy:.4f}", flush=True)
    rows = []
    for arm, by_seed in found.items():
        tests = [statistics.fmean(t for _, t in runs) for runs in by_seed.values()]
        vals = [statistics.fmean(v for v, _ in runs) for runs in by_seed.values()]
        rows.append(
            [
                arm,
                f"{100 * statistics.fmean(tests):.2f}",
                " / ".join(f"{100 * t:.2f}" for t in tests),
                f"{100 * statistics.fmean(vals):.2f}",
            ]
        )
    default, small = (found[arm] for arm in arms)
    diffs = [
        d[1] - s[1] for seed in args.seeds for d, s in zip(default[seed], small[seed], strict=True)
    ]
    mean = 100 * statistics.fmean(diffs)
    se = 100 * statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else math.nan
    body = table(
        [
            "classifier init",
            "mean test acc %",
            f"per seed ({', '.join(map(str, args.seeds))})",
            "mean held-out acc %",
        ],
        rows,
    )
    results_module.RESULTS = Path(args.results)
    write_section(
        "engine-init",
        f"""### The classifier's init (`bench/engine.py --part init`)

Machine: {machine()}; load average at the start {load_before}; {time.perf_counter() - start:.0f} s.

The product's trainer on the same data, recipe and {len(grid(choices))} triples, seeds
{", ".join(map(str, args.seeds))}; every triple and seed trained from the same convolution weights
with each classifier init, scored on the {data.num_test:,} official test images (and the
{data.num_val:,} held-out ones).

{body}

PyTorch's default minus N(0, 0.01), paired over {len(diffs)} runs: **{mean:+.2f} points of test
accuracy (standard error {se:.2f})**.
""",
    )
    print(f"default - small: {mean:+.2f} +- {se:.2f} points; wrote 'engine-init'")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--part", choices=["engines", "init"], default="engines")
    parser.add_argument("--rounds", type=int, default=2, help="loop-product pairs")
    parser.add_argument("--triples", type=int, choices=[1, 3, 9, 27], default=27)
    parser.add_argument("--subset", type=int, default=12000, help="images before the 5:1 split")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="--part init")
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    parser.add_argument("--record", type=Path, default=RECORD, help="the rounds, as JSON")
    args = parser.parse_args()
    if args.part == "init":
        bench_init(args)
    else:
        bench_engines(args)


if __name__ == "__main__":
    main()
