"""Oracle tables: every point of a search space trained over several seeds, for lookups.

A table answers "what would this fixed-stride architecture have scored, and what would it have
cost?" without training: a simulator replays strategies against it (``workers.jobs.simulation``),
many repetitions in seconds, compute charged as if trained (NAS-Bench-201's and Syne Tune's idea).
Each point keeps, per seed, the validation accuracy after every epoch (so pruners see real
learning curves), the final test accuracy, and the FLOPs of one epoch.

Held-out scoring: a simulated run selects on one seed's validation accuracy (what its
strategy saw), and is scored by what the architecture is worth without that run
(``OraclePoint.held_out``): the test accuracy of the table's *other* seeds, on the 10,000
official test images none of the selection saw. A trial of fewer epochs than the table's has no
test score at that epoch: it is scored by the other seeds' validation accuracy after those
epochs (other weights, but the images the selection saw; ``OracleTable.split`` says which).

The comparison's headline (``target``): the table's best mean on that split minus
``max(0.5 points, 2 standard errors of that mean)`` (the rule: ``nas.targets``); a strategy's
compute-to-target is what it was charged until its recommendation reached it (``nas.compare``).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nas.errors import DataError, NotFoundError
from nas.presets import parse_spec
from nas.spec import ArchSpec
from nas.targets import MIN_MARGIN as MIN_MARGIN
from nas.targets import mean_standard_error, table_target
from nas.trial import TrialResult

_FROZEN = ConfigDict(frozen=True, extra="forbid")
Split = Literal["test", "validation"]


class OracleRun(BaseModel):
    """One seed of one point."""

    model_config = _FROZEN
    seed: int
    val_accuracy: list[float] = Field(min_length=1, description="after each epoch")
    val_loss: list[float] = Field(min_length=1)
    test_accuracy: float | None = None
    wall_seconds: float = Field(ge=0)

    @model_validator(mode="after")
    def _same_length(self) -> OracleRun:
        if len(self.val_loss) != len(self.val_accuracy):
            raise ValueError("val_loss and val_accuracy need one value per epoch each")
        return self


class OraclePoint(BaseModel):
    """One architecture of the space and its runs."""

    model_config = _FROZEN
    spec: str = Field(description="the block string (nas.spec)")
    strides: list[int]
    params: int
    macs: int
    epoch_flops: float = Field(gt=0, description="FLOPs of one epoch: 3 x train + val forwards")
    runs: list[OracleRun] = Field(min_length=1)

    @classmethod
    def from_results(
        cls, spec: ArchSpec, results: Sequence[tuple[int, TrialResult]]
    ) -> OraclePoint:
        """A point from its ``(seed, result)`` runs (full runs of the same epochs)."""
        if not results:
            raise ValueError("a point needs at least one run")
        last = results[-1][1]
        return cls(
            spec=spec.to_string(),
            strides=[int(stage.stride[0]) for stage in spec.stages],
            params=last.params,
            macs=last.macs,
            epoch_flops=last.cost_flops / last.epochs_run,
            runs=[
                OracleRun(
                    seed=seed,
                    val_accuracy=[h.val_accuracy for h in result.history],
                    val_loss=[h.val_loss for h in result.history],
                    test_accuracy=result.test_accuracy,
                    wall_seconds=result.wall_seconds,
                )
                for seed, result in results
            ],
        )

    def final(self, epochs: int | None = None) -> list[float]:
        """Every seed's validation accuracy after ``epochs`` epochs (default: the last)."""
        return [run.val_accuracy[(epochs or len(run.val_accuracy)) - 1] for run in self.runs]

    def mean(self, epochs: int | None = None) -> float:
        return statistics.fmean(self.final(epochs))

    def standard_error(self, epochs: int | None = None) -> float:
        return mean_standard_error(self.final(epochs))

    def test_mean(self) -> float | None:
        tests = [r.test_accuracy for r in self.runs if r.test_accuracy is not None]
        return statistics.fmean(tests) if tests else None

    def scores(self, split: Split, epochs: int | None = None) -> list[float]:
        """Every seed's accuracy on ``split``: test (after the full training) or validation
        after ``epochs``."""
        if split == "validation":
            return self.final(epochs)
        return [r.test_accuracy for r in self.runs if r.test_accuracy is not None]

    def held_out(
        self, seen_seed: int | None, split: Split, epochs: int | None = None
    ) -> float | None:
        """The architecture's worth without the run a strategy saw (seed ``seen_seed``): the
        mean on ``split`` over the other seeds (None: no other seed; every seed when
        ``seen_seed`` is None)."""
        others = [r for r in self.runs if r.seed != seen_seed]
        point = self.model_copy(update={"runs": others}) if others else None
        values = point.scores(split, epochs) if point is not None else []
        return statistics.fmean(values) if values else None


class OracleTable(BaseModel):
    """A whole table and how it was made."""

    model_config = _FROZEN
    name: str
    base: str = Field(description="the base architecture's block string")
    strides: list[list[int]] = Field(description="the space: stride choices per stage")
    dataset: dict[str, object] = Field(description="name, subset, val_fraction, seed")
    num_train: int
    num_val: int
    epochs: int = Field(ge=1)
    train: dict[str, object] = Field(description="the TrainOptions every run used, but the seed")
    machine: str
    version: str = Field(description="the stride-nas version that made the table")
    created: str
    points: list[OraclePoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> OracleTable:
        seen = {tuple(p.strides) for p in self.points}
        if len(seen) != len(self.points):
            raise ValueError("a point appears twice")
        for point in self.points:
            if any(len(r.val_accuracy) != self.epochs for r in point.runs):
                raise ValueError(f"point {point.strides}: every run needs {self.epochs} epochs")
        return self

    @property
    def seeds(self) -> list[int]:
        return sorted({r.seed for p in self.points for r in p.runs})

    def base_epoch_flops(self) -> float:
        """FLOPs of one epoch of the base architecture (the budget's unit)."""
        base = parse_spec(self.base)
        point = self.lookup(base)
        if point is None:
            raise NotFoundError("the base architecture is not a point of the table", field="base")
        return point.epoch_flops

    def lookup(self, spec: ArchSpec) -> OraclePoint | None:
        """The point with ``spec``'s strides (square, integer), or None if it is not here."""
        strides = []
        for stage in spec.stages:
            h, w = stage.stride
            if h != w or h != int(h):
                return None
            strides.append(int(h))
        return self._by_strides().get(tuple(strides))

    def _by_strides(self) -> dict[tuple[int, ...], OraclePoint]:
        return {tuple(p.strides): p for p in self.points}

    def split(self, epochs: int | None = None) -> Split:
        """What a run of ``epochs`` (default: the table's) is scored on: ``test`` when every run
        has a test accuracy and the trial trains as long as the table did, else
        ``validation``."""
        full = epochs is None or epochs == self.epochs
        tested = all(r.test_accuracy is not None for p in self.points for r in p.runs)
        return "test" if full and tested else "validation"

    def best(self, epochs: int | None = None) -> OraclePoint:
        """The point with the best mean on the scoring split (``split``)."""
        split = self.split(epochs)
        return max(self.points, key=lambda p: statistics.fmean(p.scores(split, epochs)))

    def target(self, epochs: int | None = None) -> float:
        """The best mean accuracy on the scoring split (after ``epochs``, default all) minus
        max(0.5 points, 2 standard errors of that mean) (``nas.targets.table_target``)."""
        return table_target(self.best(epochs).scores(self.split(epochs), epochs))

    def full_cost(self, epochs: int | None = None) -> float:
        """FLOPs to train every point once for ``epochs`` (default: the table's)."""
        return sum(p.epoch_flops for p in self.points) * (epochs or self.epochs)

    # ---- files ------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> OracleTable:
        """Read a table, saying what is wrong with a bad file."""
        path = Path(path)
        try:
            return cls.model_validate(json.loads(path.read_text()))
        except OSError as exc:
            raise DataError(
                f"cannot read oracle table {path}: {exc.strerror}", field="table"
            ) from None
        except (json.JSONDecodeError, ValidationError) as exc:
            raise DataError(f"{path} is not an oracle table: {exc}", field="table") from None
