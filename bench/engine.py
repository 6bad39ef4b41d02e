"""The trial engine against a hand-written PyTorch loop, on the same network, data and recipe.

The job: every stride triple over {1, 2, 3}^3 of a 3-stage ResNet for 28x28x1 (78k parameters:
stem 16 channels, one basic block per stage at 16/32/64), 1 epoch per trial, on 10,000
Fashion-MNIST training images, scored on the same 2,000 validation images by every engine. The
recipe: SGD with Nesterov momentum 0.9, lr 0.1 at batch 128, weight decay 5e-4, per-step cosine
to 0; label smoothing 0.1; random crop with 2 px of padding in the background colour, and
horizontal flips; 2 threads. Run, in one process on the same data:

1. a minimal hand-written loop of that recipe (what a user writes around Optuna);
2. the product's grid through `nas run`'s path (`JobRunner` + `InlineExecutor`);
3. the same through the local executor (one warm worker process).

Writes wall time, mean and best accuracy, and time per trial split into setup, training and
evaluation to docs/results.md.

    python bench/engine.py [--rounds 2] [--subset 12000] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench.results as results_module
from bench.results import machine, table, write_section
from nas.data import ImageData
from nas.job import JobSpec
from nas.models import build_model
from nas.presets import parse_spec
from nas.spec import ArchSpec
from workers.executor import Executor, InlineExecutor
from workers.local_executor import LocalExecutor
from workers.runner import JobRunner
from workers.store import MemoryTrialStore
from workers.trial_entry import load_dataset

SPEC = "resnet:r28:c1:n10:relu:stem_c16:basic_r1_c16:basic_r1_s2_c32:basic_r1_s2_c64:head_d0"
TRIPLES = list(itertools.product((1, 2, 3), repeat=3))
THREADS = 2
EVAL_BATCH = 1000


@dataclass
class Trial:
    strides: tuple[int, ...]
    accuracy: float
    setup: float
    train: float
    evaluate: float


@dataclass
class EngineRun:
    name: str
    wall: float
    trials: list[Trial]


def job_dict(subset: int) -> dict[str, Any]:
    return {
        "name": "bench-engine",
        "dataset": {"name": "fashion-mnist", "subset": subset, "val_fraction": 1 / 6},
        "base": SPEC,
        "space": {"strides": [[1, 2, 3]] * 3},
        "strategies": ["grid"],
        "budget": {"unit": "trials", "total": len(TRIPLES), "epochs_per_trial": 1},
        "confirm_seeds": 0,  # the 27 trials against the loop's 27, nothing else
        "train": {
            "optimizer": "sgd",
            "lr": 0.1,
            "momentum": 0.9,
            "nesterov": True,
            "weight_decay": 5e-4,
            "batch_size": 128,
            "schedule": "cosine",
            "label_smoothing": 0.1,
            "augment": True,
            "threads": THREADS,
        },
        "keep_weights": "none",
    }


# ---- 1. the hand-written loop -------------------------------------------------------------------


def random_crop_flip(x: torch.Tensor, pad: int, fill: float, gen: torch.Generator) -> torch.Tensor:
    """Pad with ``fill``, crop back at random per-image offsets, flip half the images."""
    b, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad), value=fill)
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # (B, 1, 1, W)
    crops = padded.gather(2, rows.expand(b, x.shape[1], h, w + 2 * pad))
    crops = crops.gather(3, cols.expand(b, x.shape[1], h, w))  # (B, C, H, W)
    flip = torch.rand(b, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], crops.flip(3), crops)


def plain_trial(spec: ArchSpec, data: ImageData, seed: int) -> Trial:
    """One trial as a user would write it: no callbacks, no bookkeeping."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(spec)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    steps = math.ceil(data.num_train / 128)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps))
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
    fill = -data.mean[0] / data.std[0]  # black, normalised
    setup = time.perf_counter() - start

    start = time.perf_counter()
    model.train()
    order = torch.randperm(data.num_train, generator=gen)
    for i in range(0, data.num_train, 128):
        idx = order[i : i + 128]
        x = random_crop_flip(data.train_x[idx], 2, fill, gen)
        loss = criterion(model(x), data.train_y[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    train_s = time.perf_counter() - start

    start = time.perf_counter()
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, data.num_val, EVAL_BATCH):
            logits = model(data.val_x[i : i + EVAL_BATCH])
            correct += int((logits.argmax(1) == data.val_y[i : i + EVAL_BATCH]).sum())
    evaluate_s = time.perf_counter() - start
    strides = tuple(int(s.stride[0]) for s in spec.stages)
    return Trial(strides, correct / data.num_val, setup, train_s, evaluate_s)


def run_plain(data: ImageData, base: ArchSpec) -> EngineRun:
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    trials = []
    for strides in TRIPLES:
        trials.append(plain_trial(base.with_strides(strides), data, seed=0))
    return EngineRun("hand-written loop", time.perf_counter() - start, trials)


# ---- 2, 3. the product --------------------------------------------------------------------------


def run_product(name: str, job: JobSpec, data: ImageData, executor: Executor) -> EngineRun:
    start = time.perf_counter()
    stored = JobRunner(job, data, executor, MemoryTrialStore()).run()
    wall = time.perf_counter() - start
    trials = []
    for trial in stored:
        result = trial.result
        if result is None:
            raise RuntimeError(f"trial {trial.number} failed: {trial.error}")
        timing = result.timing
        strides = tuple(int(s.stride[0]) for s in trial.request.spec.stages)
        trials.append(
            Trial(
                strides,
                result.accuracy,
                timing.setup if timing else math.nan,
                timing.train if timing else math.nan,
                timing.evaluate if timing else math.nan,
            )
        )
    return EngineRun(name, wall, trials)


def summary(run: EngineRun, base: EngineRun) -> list[str]:
    accs = [t.accuracy for t in run.trials]
    best = max(run.trials, key=lambda t: t.accuracy)
    smallest = min(run.trials, key=lambda t: t.train)
    largest = max(run.trials, key=lambda t: t.train)

    def total(t: Trial) -> float:
        return t.setup + t.train + t.evaluate

    return [
        run.name,
        f"{run.wall:.1f}",
        f"{run.wall / base.wall:.2f}x",
        f"{100 * statistics.fmean(accs):.2f}",
        f"{100 * best.accuracy:.2f} {best.strides}",
        f"{statistics.fmean(t.setup for t in run.trials):.3f}",
        f"{statistics.fmean(t.train for t in run.trials):.2f}",
        f"{statistics.fmean(t.evaluate for t in run.trials):.3f}",
        f"{run.wall / len(run.trials) - statistics.fmean(total(t) for t in run.trials):.3f}",
        f"{total(smallest):.2f} / {total(largest):.2f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="times the three engines run")
    parser.add_argument("--subset", type=int, default=12000, help="images before the 5:1 split")
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    args = parser.parse_args()

    job = JobSpec.parse(job_dict(args.subset))
    data = load_dataset(job.dataset)
    base = parse_spec(SPEC)
    print(f"data: {data.num_train} train, {data.num_val} val", flush=True)
    runs: list[list[EngineRun]] = []
    for round_ in range(args.rounds):
        plain = run_plain(data, base)
        inline = run_product("product: nas run (inline)", job, data, InlineExecutor())
        with LocalExecutor(capacity=1) as local:
            worker = run_product("product: local executor", job, data, local)
        runs.append([plain, inline, worker])
        for run in runs[-1]:
            print(f"round {round_}: " + " | ".join(summary(run, plain)), flush=True)

    rows = [summary(run, engines[0]) for engines in runs for run in engines]
    for row, (round_, _) in zip(rows, itertools.product(range(args.rounds), range(3)), strict=True):
        row[0] = f"{row[0]} (round {round_ + 1})"
    body = table(
        [
            "engine",
            "wall s, 27 trials",
            "vs the loop",
            "mean val acc %",
            "best val acc % (strides)",
            "setup s / trial",
            "train s / trial",
            "eval s / trial",
            "outside the trial s / trial",
            "smallest / largest trial s",
        ],
        rows,
    )
    ratios = [engines[1].wall / engines[0].wall for engines in runs]
    local_ratios = [engines[2].wall / engines[0].wall for engines in runs]
    gaps = [
        100
        * (
            statistics.fmean(t.accuracy for t in engines[0].trials)
            - statistics.fmean(t.accuracy for t in engines[1].trials)
        )
        for engines in runs
    ]
    time_ok = max(ratios) <= 1.1
    acc_ok = max(abs(g) for g in gaps) <= 1.0
    results_module.RESULTS = Path(args.results)
    write_section(
        "engine",
        f"""## The trial engine against a hand-written loop (`bench/engine.py`)

Machine: {machine()}.

The 27 stride triples over {{1, 2, 3}}^3 of `{SPEC}` (78k parameters), 1 epoch per trial on
{data.num_train:,} Fashion-MNIST training images, every engine scored on the same
{data.num_val:,} validation images. Recipe: SGD (Nesterov 0.9), lr 0.1 at batch 128, weight
decay 5e-4, per-step cosine to 0, label smoothing 0.1, random crop with 2 px of background
padding and horizontal flips, {THREADS} threads, seed 0. The engines run one after another in
one process, {args.rounds} rounds. Setup is data, model build, optimizer and FLOP counting;
"outside the trial" is the rest of the wall time per trial (the runner, the strategy, the
store, the worker round trip).

{body}

Aims: the product's grid (`nas run`, inline) within 1.1x of the loop's wall time:
**{max(ratios):.2f}x at worst, {"met" if time_ok else "not met"}** (the local executor, a
worker process per slot: {max(local_ratios):.2f}x at worst); its mean accuracy within 1 point of
the loop's:
**{max(abs(g) for g in gaps):.2f} points at worst, {"met" if acc_ok else "not met"}**.
""",
    )
    print(f"wrote section 'engine' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
