"""Oracle tables on real Fashion-MNIST: every point of a stride space over several seeds.

Two tables, committed under data/oracles/ (JSON, `nas.oracle.OracleTable`):

- `resnet3_27.json`: the 27 stride triples (1..3 per stage) of a 3-stage ResNet for 28x28x1
  (stem 16; one basic block per stage, 16/32/64 channels);
- `resnet_narrow_18.json`: the 18 points of `resnet_narrow_fmnist` over
  [[1], [1, 2], [1, 2, 3], [1, 2, 3]];
- `resnet3_27_e15.json`: the first table's space trained 15 epochs instead of 3 (the paper's
  question is long training; hours on 2 cores, built only when asked for).

Every point trains with the product's default recipe (`nas.train.train`) once per seed; each run
keeps its validation accuracy after every epoch, its test accuracy on the 10,000 official test
images, and the FLOPs one epoch costs. `nas simulate` and `bench/strategies.py` replay strategies
against them. Every finished run is appended to `<table>.partial.jsonl` first, so a build
that is killed (or spread over several sittings) resumes where it stopped.

    python bench/oracle.py [--table resnet3_27|resnet_narrow_18|resnet3_27_e15] [--seeds 3]
                           [--epochs N]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nas
from bench.checkpoint import Checkpoint
from bench.results import machine
from nas.data import load
from nas.models import preset
from nas.oracle import OraclePoint, OracleTable
from nas.presets import parse_spec
from nas.train import train
from nas.trial import TrainOptions

ORACLES = Path(__file__).resolve().parent.parent / "data" / "oracles"


@dataclass(frozen=True)
class TableSpec:
    name: str
    base: str
    strides: list[list[int]]
    subset: int
    val_fraction: float
    epochs: int = 3


TABLES = {
    "resnet3_27": TableSpec(
        "resnet3_27",
        "resnet:r28:c1:n10:relu:stem_c16:basic_r1_c16:basic_r1_s2_c32:basic_r1_s2_c64:head_d0",
        [[1, 2, 3]] * 3,
        subset=12000,
        val_fraction=1 / 6,
    ),
    # the paper's question is long training: the same space at 15 epochs (issue 26, part 1)
    "resnet3_27_e15": TableSpec(
        "resnet3_27_e15",
        "resnet:r28:c1:n10:relu:stem_c16:basic_r1_c16:basic_r1_s2_c32:basic_r1_s2_c64:head_d0",
        [[1, 2, 3]] * 3,
        subset=12000,
        val_fraction=1 / 6,
        epochs=15,
    ),
    "resnet_narrow_18": TableSpec(
        "resnet_narrow_18",
        preset("resnet_narrow_fmnist").to_string(),
        [[1], [1, 2], [1, 2, 3], [1, 2, 3]],
        subset=6000,
        val_fraction=1 / 6,
    ),
}


def oracle_key(point: OraclePoint) -> tuple[tuple[int, ...], int]:
    """A checkpointed run's key: its strides and its one seed."""
    return tuple(point.strides), point.runs[0].seed


def build(table: TableSpec, seeds: int, epochs: int, checkpoint_dir: Path) -> OracleTable:
    data = load("fashion-mnist", subset=table.subset, val_fraction=table.val_fraction, seed=0)
    print(f"{table.name}: {data.num_train} train, {data.num_val} val images", flush=True)
    base = parse_spec(table.base)
    options = TrainOptions(score_test=True)
    header = {
        "name": table.name,
        "base": table.base,
        "strides": table.strides,
        "subset": table.subset,
        "val_fraction": table.val_fraction,
        "epochs": epochs,
        "train": options.model_dump(mode="json"),
        "version": nas.__version__,
    }
    checkpoint = Checkpoint(
        checkpoint_dir / f"{table.name}.partial.jsonl", header, OraclePoint, oracle_key
    )
    points = []
    start = time.perf_counter()
    for strides in itertools.product(*table.strides):
        spec = base.with_strides(strides)
        runs = []
        for seed in range(seeds):
            run = checkpoint.get((tuple(strides), seed))
            if run is None:
                result = train(spec, data, epochs, options.model_copy(update={"seed": seed}))
                run = OraclePoint.from_results(spec, [(seed, result)])
                checkpoint.add(run)
            runs.append(run)
        point = runs[0].model_copy(update={"runs": [r.runs[0] for r in runs]})
        points.append(point)
        finals = [f"{100 * r.val_accuracy[-1]:.2f}" for r in point.runs]
        print(
            f"{table.name} {strides}: val {finals} {point.macs / 1e6:.1f} MMACs "
            f"({time.perf_counter() - start:.0f} s so far)",
            flush=True,
        )
    return OracleTable(
        name=table.name,
        base=table.base,
        strides=table.strides,
        dataset={
            "name": "fashion-mnist",
            "subset": table.subset,
            "val_fraction": table.val_fraction,
            "seed": 0,
        },
        num_train=data.num_train,
        num_val=data.num_val,
        epochs=epochs,
        train=options.model_dump(exclude={"seed"}),
        machine=machine(),
        version=nas.__version__,
        created=f"{datetime.now(UTC):%Y-%m-%d}",
        points=points,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--table",
        choices=sorted(TABLES),
        nargs="+",
        default=["resnet3_27", "resnet_narrow_18"],
        help="tables to build (resnet3_27_e15: 15 epochs, hours on 2 cores)",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--epochs", type=int, help="override the tables' epochs (default: 3; 15 for resnet3_27_e15)"
    )
    parser.add_argument("--subset", type=int, help="override the tables' data size (smoke runs)")
    parser.add_argument("--out", type=Path, default=ORACLES)
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave a table whose JSON exists alone (a queue of reruns resumes past it)",
    )
    args = parser.parse_args()
    for name in args.table:
        if args.skip_existing and (args.out / f"{name}.json").exists():
            print(f"{name}: {args.out / f'{name}.json'} exists, skipped", flush=True)
            continue
        spec = TABLES[name]
        if args.subset is not None:
            spec = TableSpec(
                spec.name, spec.base, spec.strides, args.subset, spec.val_fraction, spec.epochs
            )
        table = build(spec, args.seeds, args.epochs or spec.epochs, args.out)
        path = table.save(args.out / f"{name}.json")
        (args.out / f"{name}.partial.jsonl").unlink(missing_ok=True)
        best = table.best()
        print(
            f"wrote {path}: best {best.strides} {100 * best.mean():.2f}% "
            f"(target {100 * table.target():.2f}%)",
            flush=True,
        )


if __name__ == "__main__":
    main()
