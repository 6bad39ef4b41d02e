"""Simulated strategies: the live runner against an oracle table instead of training.

``OracleExecutor`` is an executor like the others, except that a trial is a lookup: the
request's architecture is found in the table (``nas.oracle``), one of the table's seeds is
picked at random (per proposal, from the repetition's own generator), and its per-epoch
validation accuracies are reported epoch by epoch, so pruners decide on real learning curves.
The trial is charged the table's compute for the epochs it ran. ``simulate`` runs the job with
``workers.jobs.runner.JobRunner`` unchanged, so the strategies cannot tell the difference, once per
repetition with the job's seed advanced: different sampler and grid orders, different seeds.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import torch

from nas.compare import Step
from nas.data import ImageData
from nas.errors import OptionsError
from nas.job import DatasetRef, JobSpec
from nas.oracle import OracleTable
from nas.presets import parse_spec
from nas.trial import EpochReport, TrialRequest, TrialResult
from workers.executors.interface import Completion, ProgressCallback
from workers.jobs.runner import JobRunner
from workers.jobs.store import MemoryTrialStore, StoredTrial

SIMULATED = ("grid", "random", "optuna", "base")
NOT_IN_TABLE = "not in the oracle table"


class OracleExecutor:
    """Looks trials up in ``table`` instead of training them."""

    capacity = 1

    def __init__(self, table: OracleTable, rng: random.Random) -> None:
        self.table = table
        self.rng = rng
        self.seen_seeds: dict[int, int] = {}
        """The table seed each trial was shown (held-out scoring leaves it out)."""
        self._queue: deque[tuple[int, TrialRequest, ProgressCallback]] = deque()

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        self.cancel(trial_id)
        self._queue.append((trial_id, request, on_progress))

    def in_flight(self) -> int:
        return len(self._queue)

    def cancel(self, trial_id: int) -> None:
        self._queue = deque(q for q in self._queue if q[0] != trial_id)

    def wait(self, timeout: float | None = None) -> list[Completion]:
        if not self._queue:
            return []
        trial_id, request, on_progress = self._queue.popleft()
        point = self.table.lookup(request.spec)
        if point is None:
            return [Completion(trial_id, None, f"{NOT_IN_TABLE}: {request.spec.to_string()}")]
        if request.epochs > self.table.epochs:
            message = f"the table has {self.table.epochs} epochs, the trial asks {request.epochs}"
            return [Completion(trial_id, None, message)]
        run = self.rng.choice(point.runs)
        self.seen_seeds[trial_id] = run.seed
        history: list[EpochReport] = []
        for epoch in range(request.epochs):
            report = EpochReport(
                epoch=epoch + 1,
                train_loss=run.val_loss[epoch],  # the table keeps validation curves only
                train_accuracy=run.val_accuracy[epoch],
                val_loss=run.val_loss[epoch],
                val_accuracy=run.val_accuracy[epoch],
                lr=0.0,
                seconds=run.wall_seconds / self.table.epochs,
                strides=[None] * len(request.spec.stages),
            )
            history.append(report)
            if on_progress(report) and epoch + 1 < request.epochs:
                break
        pruned = len(history) < request.epochs
        result = TrialResult(
            accuracy=history[-1].val_accuracy,
            best_accuracy=max(h.val_accuracy for h in history),
            val_loss=history[-1].val_loss,
            params=point.params,
            macs=point.macs,
            wall_seconds=run.wall_seconds * len(history) / self.table.epochs,
            cost_flops=point.epoch_flops * len(history),
            epochs_run=len(history),
            pruned=pruned,
            learned_strides=[None] * len(request.spec.stages),
            history=history,
        )
        return [Completion(trial_id, result)]


def shape_only_data(table: OracleTable) -> ImageData:
    """An ``ImageData`` with the table's sizes and image shape and no pixels (the runner reads
    only shapes and counts; the tensors are broadcast views of one zero image)."""
    base = parse_spec(table.base)
    image = torch.zeros(1, base.in_channels, base.resolution, base.resolution)

    def images(n: int) -> torch.Tensor:
        return image.expand(n, -1, -1, -1)

    def labels(n: int) -> torch.Tensor:
        return torch.arange(n) % base.num_classes

    return ImageData(
        name=str(table.dataset.get("name", table.name)),
        train_x=images(table.num_train),
        train_y=labels(table.num_train),
        val_x=images(table.num_val),
        val_y=labels(table.num_val),
        num_classes=base.num_classes,
        mean=(0.0,) * base.in_channels,
        std=(1.0,) * base.in_channels,
    )


@dataclass
class Repetition:
    """One simulated run of a job: per strategy, its finished proposals in order."""

    seed: int
    steps: dict[str, list[Step]] = field(default_factory=dict)
    trials: dict[str, list[StoredTrial]] = field(default_factory=dict)


def check_simulable(job: JobSpec, table: OracleTable) -> None:
    """Only fixed-stride strategies over the table's space can be looked up (``base`` only when
    the base's own strides are a point of the table)."""
    for i, config in enumerate(job.strategies):
        if config.name not in SIMULATED:
            raise OptionsError(
                f"{config.name} trains networks that are not in an oracle table; simulate "
                f"{', '.join(SIMULATED)}",
                field=f"strategies[{i}].name",
            )
        if config.name == "base" and table.lookup(parse_spec(job.base or table.base)) is None:
            raise OptionsError(
                "the base network's strides are not a point of the oracle table",
                field=f"strategies[{i}].name",
            )
    if job.space.strides and job.space.strides != table.strides:
        raise OptionsError(
            f"the job searches {job.space.strides}, the table holds {table.strides}",
            field="space.strides",
        )
    if parse_spec(job.base or table.base).to_string() != parse_spec(table.base).to_string():
        raise OptionsError("the job's base is not the table's", field="base")
    if job.budget.epochs_per_trial > table.epochs:
        raise OptionsError(
            f"the table has {table.epochs} epochs per point", field="budget.epochs_per_trial"
        )


def simulate(job: JobSpec, table: OracleTable, repeats: int, seed: int = 0) -> list[Repetition]:
    """``repeats`` runs of ``job`` against ``table``; repetition ``r`` uses job seed
    ``job.seed + r`` and its own generator for the table's seeds. Steps are in ask order,
    which is the order they finished in (one trial at a time)."""
    check_simulable(job, table)
    # no confirmation runs: the table's mean over seeds already scores every recommendation
    job = job.model_copy(update={"base": job.base or table.base, "confirm_seeds": 0})
    if not job.space.strides:
        space = job.space.model_copy(update={"strides": table.strides})
        job = job.model_copy(update={"space": space})
    data = shape_only_data(table)
    out = []
    for r in range(repeats):
        run_seed = job.seed + r
        executor = OracleExecutor(table, random.Random(f"oracle:{seed}:{r}"))
        repeated = job.model_copy(update={"seed": run_seed})
        stored = JobRunner(repeated, data, executor, MemoryTrialStore()).run()
        repetition = Repetition(seed=run_seed)
        for trial in sorted((t for t in stored if t.finished), key=lambda t: t.id):
            repetition.trials.setdefault(trial.strategy, []).append(trial)
            seen = executor.seen_seeds.get(trial.id)
            step = step_of(trial, table, job.budget.epochs_per_trial, seen)
            repetition.steps.setdefault(trial.strategy, []).append(step)
        out.append(repetition)
    return out


def step_of(
    trial: StoredTrial,
    table: OracleTable,
    epochs: int | None = None,
    seen_seed: int | None = None,
) -> Step:
    """A finished trial as a comparison step: what it cost, what it showed (seed
    ``seen_seed``'s validation accuracy), and how good its architecture truly is, held out
    from that run: the table's other seeds on its scoring split (``OracleTable.split``)."""
    result = trial.result
    point = table.lookup(trial.request.spec)
    seen = result.accuracy if result is not None and not result.pruned else None
    split = table.split(epochs)
    return Step(
        cost=result.cost_flops if result is not None else 0.0,
        seen=seen,
        true=point.held_out(seen_seed, split, epochs) if point is not None else None,
    )
