"""What one trial is asked to do and what it reports: plain, JSON-able values.

Workers receive a ``TrialRequest`` (never an ORM object) and return a ``TrialResult``; every
per-epoch ``EpochReport`` is streamed back while the trial runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nas.spec import ArchSpec

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TrainOptions(BaseModel):
    """How to train; every field is checked before any work starts."""

    model_config = _FROZEN
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float | None = Field(default=None, gt=0, le=10, description="default: 0.05 SGD, 2e-3 AdamW")
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(default=5e-4, ge=0, le=1)
    batch_size: int = Field(default=128, ge=1, le=8192)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = Field(default=0, ge=0)
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    augment: bool = True
    stride_regularizer: float = Field(
        default=0.0, ge=0, description="lambda of DiffStride's complexity regularizer"
    )
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=None, ge=1, le=512)
    max_seconds: float | None = Field(default=None, gt=0, description="stop after this wall time")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        return 0.05 if self.optimizer == "sgd" else 2e-3


class TrialRequest(BaseModel):
    """One unit of work: train ``spec`` for ``epochs`` with ``options`` on the job's data."""

    model_config = _FROZEN
    spec: ArchSpec
    epochs: int = Field(ge=1, le=1000)
    options: TrainOptions = TrainOptions()
    strategy: str = Field(default="", description="the strategy's key (label) in its job")
    number: int = Field(default=0, ge=0, description="ordinal of this trial within its strategy")
    params: dict[str, Any] = Field(
        default_factory=dict, description="what the strategy chose (for display and replay)"
    )
    artifact: str | None = Field(
        default=None,
        max_length=4096,
        description="directory the worker saves the trained model to (nas.export layout); "
        "None: keep nothing. Set by the scheduler at dispatch, not by strategies",
    )


class EpochReport(BaseModel):
    """Progress after one epoch (also the unit Optuna prunes on)."""

    model_config = _FROZEN
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    strides: list[tuple[float, float] | None] = Field(
        default_factory=list, description="per stage: learned (DiffStride) stride, else None"
    )


class TrialResult(BaseModel):
    """Final metrics and cost of a trial."""

    model_config = _FROZEN
    accuracy: float = Field(description="validation top-1 accuracy after the last epoch")
    best_accuracy: float
    val_loss: float
    params: int
    macs: int = Field(description="forward MACs per image at the final strides")
    wall_seconds: float
    cost_flops: float = Field(description="FLOPs spent: 3 x forward FLOPs x samples trained + eval")
    epochs_run: int
    pruned: bool = False
    stopped_early: bool = False
    learned_strides: list[tuple[float, float] | None] = Field(default_factory=list)
    history: list[EpochReport] = Field(default_factory=list)
    device: str = "cpu"
    artifact: str | None = Field(
        default=None, description="where the worker saved the trained model (None: not saved)"
    )
    artifact_error: str | None = Field(
        default=None, description="why the model asked for could not be saved (e.g. disk full)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrialResult:
        if self.epochs_run != len(self.history):
            raise ValueError("epochs_run must equal the number of epoch reports")
        return self
