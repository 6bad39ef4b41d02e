"""What a model costs: parameters, multiply-accumulates (torch's flop counter) and latency.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2 for convolutions and
matrix products). FFTs, which the counter does not know, get the textbook radix-2 estimate
(5 N log2 N real FLOPs for a complex transform of N points, half that for a real one) so that
spectral pooling and DiffStride are not counted as free.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from nas.models import build_model
from nas.spec import ArchSpec

aten = torch.ops.aten


class Complexity(BaseModel):
    """Cost of one forward pass of one image at the spec's resolution."""

    model_config = ConfigDict(frozen=True)
    params: int
    macs: int
    latency_ms: float | None = None


def _transform_points(shape: Sequence[int], dims: Sequence[int]) -> int:
    return math.prod(shape[d] for d in dims)


def _real_fft_flops(
    x_shape: Sequence[int], dim: Sequence[int], *args: Any, out_shape: Any = None, **kw: Any
) -> int:
    numel = math.prod(x_shape)
    return int(2.5 * numel * math.log2(max(2, _transform_points(x_shape, dim))))


def _inverse_real_fft_flops(
    x_shape: Sequence[int], dim: Sequence[int], *args: Any, out_shape: Any = None, **kw: Any
) -> int:
    numel = math.prod(out_shape)
    return int(2.5 * numel * math.log2(max(2, _transform_points(out_shape, dim))))


def _complex_fft_flops(
    x_shape: Sequence[int], dim: Sequence[int], *args: Any, out_shape: Any = None, **kw: Any
) -> int:
    numel = math.prod(x_shape)
    return int(5 * numel * math.log2(max(2, _transform_points(x_shape, dim))))


FFT_FORMULAS: dict[Any, Any] = {
    aten._fft_r2c: _real_fft_flops,
    aten._fft_c2r: _inverse_real_fft_flops,
    aten._fft_c2c: _complex_fft_flops,
}


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass on ``inputs`` (eval mode, no grad)."""
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False, custom_mapping=FFT_FORMULAS)
    try:
        with torch.no_grad(), counter:
            model(inputs)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, spec: ArchSpec) -> int:
    """Multiply-accumulates of one image at ``spec.resolution``."""
    device = next(model.parameters()).device
    x = torch.zeros(1, spec.in_channels, spec.resolution, spec.resolution, device=device)
    return count_flops(model, x) // 2


def measure_latency_ms(
    model: nn.Module,
    spec: ArchSpec,
    *,
    batch: int = 1,
    warmup: int = 3,
    repeats: int = 10,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median forward wall time in milliseconds for ``batch`` images (eval, no grad).

    ``clock`` returns seconds (``time.perf_counter``; tests pass a scripted one).
    """
    device = next(model.parameters()).device
    x = torch.randn(batch, spec.in_channels, spec.resolution, spec.resolution, device=device)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.no_grad():
            for i in range(warmup + repeats):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = clock()
                model(x)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                elapsed_ms = (clock() - start) * 1000
                if i >= warmup:
                    times.append(elapsed_ms)
    finally:
        model.train(was_training)
    return statistics.median(times)


def complexity(
    spec: ArchSpec, *, latency: bool = False, model: nn.Module | None = None
) -> Complexity:
    """Params and MACs of ``spec`` (building it unless ``model`` is given), optionally latency.

    Without a model or latency, the model is built on the meta device: shapes only, so
    estimating a model far too big for memory costs nothing. Layers whose shapes depend on
    parameter values (DiffStride's learned strides) fall back to a real build.
    """
    if model is None and not latency:
        try:
            with torch.device("meta"):
                meta = build_model(spec)
            return Complexity(params=count_params(meta), macs=count_macs(meta, spec))
        except (RuntimeError, NotImplementedError):
            pass  # data-dependent shapes: measure on real tensors below
    built = model if model is not None else build_model(spec)
    return Complexity(
        params=count_params(built),
        macs=count_macs(built, spec),
        latency_ms=measure_latency_ms(built, spec) if latency else None,
    )


# ---- the cost of training ------------------------------------------------------------------------


def epoch_flops(forward: float, train_images: int, val_images: int) -> float:
    """FLOPs of one epoch at ``forward`` FLOPs per image: forward and backward (3 x forward) on
    every training image plus one forward per validation image. The one formula: the trainer
    charges it with the strides a model really has, the runner estimates with it before a
    trial runs (``epoch_cost_estimator``)."""
    return 3.0 * forward * train_images + forward * val_images


@lru_cache(maxsize=4096)
def forward_flops(spec_text: str) -> int:
    """FLOPs of one forward pass of one image (from the block string; cached)."""
    return 2 * complexity(ArchSpec.from_string(spec_text)).macs


def epoch_cost_estimator(num_train: int, num_val: int) -> Callable[[ArchSpec], float]:
    """Estimated FLOPs of one epoch of a spec on ``num_train`` training and ``num_val``
    validation images (``epoch_flops`` at the spec's nominal strides)."""

    def estimate(spec: ArchSpec) -> float:
        return epoch_flops(forward_flops(spec.to_string()), num_train, num_val)

    return estimate
