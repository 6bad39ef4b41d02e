"""What one trial is asked to do and what it reports: plain, JSON-able values.

Workers receive a ``TrialRequest`` (never an ORM object) and return a ``TrialResult``; every
per-epoch ``EpochReport`` is streamed back while the trial runs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nas.readout import StrideReadout
from nas.spec import ArchSpec

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class TrainOptions(BaseModel):
    """How to train; every field is checked before any work starts.

    The defaults are a standard small-image CNN recipe (e.g. the ResNet CIFAR recipe of He et
    al. 2016, with label smoothing, Szegedy et al. 2016): SGD with Nesterov momentum 0.9, lr 0.1
    at batch 128 (scaled linearly with the batch size), weight decay 5e-4 (not on BN, biases or
    strides), per-step cosine to 0, label smoothing 0.1, random crop with 2 px of background
    padding and horizontal flips.
    """

    model_config = _FROZEN
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float | None = Field(
        default=None,
        gt=0,
        le=10,
        description="default: SGD 0.1 x batch_size / 128 (the linear scaling rule), AdamW 2e-3",
    )
    momentum: float = Field(default=0.9, ge=0, lt=1)
    nesterov: bool = True
    weight_decay: float = Field(default=5e-4, ge=0, le=1)
    batch_size: int = Field(default=128, ge=1, le=8192)
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = Field(default=0, ge=0)
    label_smoothing: float = Field(default=0.1, ge=0, lt=1)
    augment: bool = Field(
        default=True, description="random crop (crop_padding px of background) and hflip"
    )
    crop_padding: int = Field(default=2, ge=0, le=64, description="pixels of the random crop")
    stride_regularizer: float = Field(
        default=0.0, ge=0, description="lambda of DiffStride's complexity regularizer"
    )
    stride_optimizer: Literal["adam", "sgd"] = Field(
        default="adam",
        description="optimizer of DiffStride's strides (their own parameter group, no weight "
        "decay); sgd uses the weights' momentum. Adam at 0.1, cosine: see bench/stride_sweep.py",
    )
    stride_lr: float = Field(
        default=0.1, gt=0, le=100, description="absolute learning rate of the strides"
    )
    stride_lr_scale: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description="when given, the strides' learning rate is this multiple of the weights' "
        "(instead of stride_lr)",
    )
    stride_schedule: Literal["cosine", "constant"] = Field(
        default="cosine", description="the strides' learning-rate schedule (no warm-up)"
    )
    score_test: bool = Field(
        default=False,
        description="also score the final model on the dataset's official test split, when it "
        "has one (reported, never used to select)",
    )
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(default=None, ge=1, le=512)
    max_seconds: float | None = Field(default=None, gt=0, description="stop after this wall time")

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        if self.optimizer == "sgd":
            return 0.1 * self.batch_size / 128  # Goyal et al. 2017: lr scales with the batch
        return 2e-3

    @property
    def stride_learning_rate(self) -> float:
        """The strides' base learning rate: the scale times the weights', else ``stride_lr``."""
        if self.stride_lr_scale is not None:
            return self.stride_lr_scale * self.learning_rate
        return self.stride_lr


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
    gpus: float | None = Field(
        default=None,
        ge=0,
        description="GPUs the trial's worker reserves (its job's resources.gpus_per_trial); "
        "None: the executor's choice. Set by the runner at dispatch, not by strategies",
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


class TrialTiming(BaseModel):
    """Where a trial's wall time went, in seconds."""

    model_config = _FROZEN
    setup: float = Field(ge=0, description="data, model build, optimizer, FLOP counting")
    train: float = Field(ge=0, description="the training steps")
    evaluate: float = Field(ge=0, description="validation (and test) passes")


class TrialResult(BaseModel):
    """Final metrics and cost of a trial."""

    model_config = _FROZEN
    accuracy: float = Field(description="validation top-1 accuracy after the last epoch")
    test_accuracy: float | None = Field(
        default=None,
        description="top-1 accuracy of the final model on the official test split "
        "(options.score_test and a dataset that has one; None otherwise)",
    )
    best_accuracy: float
    val_loss: float
    params: int
    macs: int = Field(description="forward MACs per image at the final strides")
    wall_seconds: float
    timing: TrialTiming | None = Field(default=None, description="wall time by phase")
    cost_flops: float = Field(description="FLOPs spent: 3 x forward FLOPs x samples trained + eval")
    epochs_run: int
    pruned: bool = False
    stopped_early: bool = False
    learned_strides: list[tuple[float, float] | None] = Field(default_factory=list)
    stride_readout: list[StrideReadout | None] = Field(
        default_factory=list,
        description="per stage: what its DiffStride layer learned (init, bounds, sizes), else None",
    )
    history: list[EpochReport] = Field(default_factory=list)
    device: str = "cpu"
    node: str | None = Field(
        default=None,
        description="the machine (or Ray node) it ran on: NAS_NODE_NAME where set, else the "
        "host name; None when not recorded",
    )
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
