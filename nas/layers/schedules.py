"""Per-epoch schedules of layer hyper-parameters, driven by the training loop.

A module that exposes ``set_epoch(epoch)`` (the :class:`EpochAware` protocol) is told the epoch
about to start by ``nas.train.train`` through :func:`set_epoch`; dynamic convolution uses this for
its softmax temperature.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field
from torch import nn


class TemperatureSchedule(BaseModel):
    """Linear from ``start`` at epoch 0 to ``end`` at epoch ``epochs``, then ``end``.

    Chen et al. 2020 (Dynamic Convolution, Sec. 3.2): 30 falling to 1 over the first 10 epochs,
    so the kernel attention starts near uniform and every kernel is trained.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: float = Field(default=30.0, ge=1.0)
    end: float = Field(default=1.0, gt=0.0)
    epochs: int = Field(default=10, ge=0)

    def __call__(self, epoch: int) -> float:
        if self.epochs == 0 or epoch >= self.epochs:
            return self.end
        fraction = max(0, epoch) / self.epochs
        return self.start + (self.end - self.start) * fraction


@runtime_checkable
class EpochAware(Protocol):
    """A module whose behaviour depends on the training epoch."""

    def set_epoch(self, epoch: int) -> None: ...


def set_epoch(model: nn.Module, epoch: int) -> int:
    """Call ``set_epoch(epoch)`` on every epoch-aware module of ``model``; returns how many."""
    count = 0
    for module in model.modules():
        if isinstance(module, EpochAware):
            module.set_epoch(epoch)
            count += 1
    return count
