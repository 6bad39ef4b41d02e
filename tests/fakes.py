"""Test doubles shared by the test suites: a known objective instead of training, and an
executor that evaluates requests with it.

- ``SyntheticObjective``: a cheap, known objective of the spec. Accuracy peaks at a target stride
  schedule and width and falls off smoothly with the distance to it; cost is proportional to the
  spec's (analytic) compute, so budget logic sees realistic differences between cheap and
  expensive architectures. Optional seeded noise.
- ``SyntheticExecutor``: an ``Executor`` that answers its oldest submission with the objective's
  result (reporting every epoch, so strategies may prune), and can crash after ``n``.
- For tests of real executors: ``DATA`` (200 synthetic images), ``request`` (a small real trial),
  ``record`` (an ``on_progress`` that keeps the reports) and ``collect`` (wait for completions).
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nas.job import DatasetRef, JobSpec
from nas.models import preset
from nas.spec import ArchSpec
from nas.trial import EpochReport, TrainOptions, TrialRequest, TrialResult
from workers.executors.interface import Completion, Executor, ProgressCallback


def relative_compute(spec: ArchSpec, base: ArchSpec) -> float:
    """Compute of ``spec`` relative to ``base``: width^2 x depth x pixels, stage by stage."""

    def compute(s: ArchSpec) -> float:
        total, side = 0.0, s.resolution / s.stem.reduction
        for stage in s.stages:
            side /= stage.stride[0]
            total += stage.out_channels**2 * stage.repeats * max(side, 1.0) ** 2
        return total

    return compute(spec) / compute(base)


@dataclass(frozen=True)
class SyntheticObjective:
    """accuracy = peak - distance penalty (+ noise); cost = base_cost x relative compute."""

    base: ArchSpec
    target_strides: tuple[float, ...]
    target_width: float = 1.0
    peak: float = 0.95
    noise: float = 0.0
    base_epoch_cost: float = 1e12
    cost_of_epoch: Callable[[ArchSpec], float] | None = None
    """Charge this per epoch instead of ``base_epoch_cost x relative compute`` (e.g. the
    runner's own estimator, so charged and estimated costs agree)."""

    def accuracy(self, spec: ArchSpec, seed: int = 0) -> float:
        strides = [s.stride[0] for s in spec.stages]
        distance = sum(
            (math.log2(a) - math.log2(b)) ** 2
            for a, b in zip(strides, self.target_strides, strict=True)
        )
        width = spec.stages[-1].out_channels / self.base.stages[-1].out_channels
        distance += (math.log2(width) - math.log2(self.target_width)) ** 2
        value = self.peak - 0.08 * distance
        if self.noise:
            value += random.Random(f"{spec.to_string()}:{seed}").gauss(0.0, self.noise)
        return min(1.0, max(0.0, value))

    def epoch_cost(self, spec: ArchSpec) -> float:
        if self.cost_of_epoch is not None:
            return self.cost_of_epoch(spec)
        return self.base_epoch_cost * relative_compute(spec, self.base)

    def evaluate(self, request: TrialRequest) -> TrialResult:
        """A TrialResult as if ``request`` had been trained (one report per epoch)."""
        final = self.accuracy(request.spec, request.options.seed)
        history = [
            EpochReport(
                epoch=e + 1,
                train_loss=1.0 / (e + 1),
                train_accuracy=final * (e + 1) / request.epochs,
                val_loss=1.0 / (e + 1),
                val_accuracy=final * (0.8 + 0.2 * (e + 1) / request.epochs),
                lr=0.1,
                seconds=0.0,
                strides=[None] * len(request.spec.stages),
            )
            for e in range(request.epochs)
        ]
        relative = relative_compute(request.spec, self.base)
        return TrialResult(
            accuracy=history[-1].val_accuracy,
            best_accuracy=max(h.val_accuracy for h in history),
            val_loss=history[-1].val_loss,
            params=int(1e6 * relative),
            macs=int(1e8 * relative),
            wall_seconds=0.0,
            cost_flops=self.epoch_cost(request.spec) * request.epochs,
            epochs_run=request.epochs,
            history=history,
        )


class SyntheticExecutor:
    """Evaluates requests with a known objective instead of training; can crash after n."""

    capacity = 2

    def __init__(self, objective: SyntheticObjective, crash_after: int | None = None) -> None:
        self.objective = objective
        self.crash_after = crash_after
        self.completed = 0
        self.queue: deque[tuple[int, TrialRequest, ProgressCallback]] = deque()
        self.submitted: list[int] = []

    def submit(
        self,
        trial_id: int,
        request: TrialRequest,
        dataset: DatasetRef,
        on_progress: ProgressCallback,
    ) -> None:
        self.submitted.append(trial_id)
        self.queue.append((trial_id, request, on_progress))

    def in_flight(self) -> int:
        return len(self.queue)

    def cancel(self, trial_id: int) -> None:
        pass

    def wait(self, timeout: float | None = None) -> list[Completion]:
        if self.crash_after is not None and self.completed >= self.crash_after:
            raise KeyboardInterrupt("simulated crash")
        trial_id, request, on_progress = self.queue.popleft()
        result = self.objective.evaluate(request)
        for report in result.history:
            if on_progress(report):
                result = result.model_copy(update={"pruned": True})
                break
        self.completed += 1
        return [Completion(trial_id, result)]


def make_job(**overrides: Any) -> JobSpec:
    """A five-strategy job on synthetic data (4-stage stride space, 400 base epochs), with
    ``overrides`` (top-level fields) applied."""
    spec: dict[str, Any] = {
        "name": "test",
        "dataset": {"name": "synthetic", "subset": 200},
        "space": {"strides": [[1], [1, 2], [1, 2, 3], [1, 2]]},
        "strategies": ["grid", "random", "optuna", "diffstride", "compound"],
        "budget": {"unit": "base_epochs", "total": 400, "epochs_per_trial": 2},
        "confirm_seeds": 0,
        "seed": 0,
    }
    spec.update(overrides)
    return JobSpec.parse(spec)


# ---- real executors -----------------------------------------------------------------------------

DATA = DatasetRef(name="synthetic", subset=200)


def request(epochs: int, **spec_changes: Any) -> TrialRequest:
    """A small real trial: ``resnet_narrow_fmnist`` (with ``spec_changes``), batches of 100."""
    spec = preset("resnet_narrow_fmnist")
    if spec_changes:
        spec = spec.replace(**spec_changes)
    return TrialRequest(spec=spec, epochs=epochs, options=TrainOptions(batch_size=100))


def record(reports: list[EpochReport]) -> ProgressCallback:
    """An ``on_progress`` that keeps the reports and never prunes."""

    def on_progress(report: EpochReport) -> bool:
        reports.append(report)
        return False

    return on_progress


def collect(executor: Executor, count: int, timeout: float = 180.0) -> dict[int, Completion]:
    """Wait until ``count`` completions arrived (fails after ``timeout`` seconds); by trial id,
    in the order they arrived. The deadline is generous: a Ray actor's first start took over 60 s
    on the 2-core machine while other suites and a benchmark shared it."""
    deadline = time.monotonic() + timeout
    done: dict[int, Completion] = {}
    while len(done) < count:
        assert time.monotonic() < deadline, f"only {len(done)} of {count} completions"
        done.update((c.trial_id, c) for c in executor.wait(timeout=1.0))
    return done
