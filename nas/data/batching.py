"""Index-based mini-batches over in-memory tensors (no per-item Dataset in the hot loop)."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from nas.errors import DataError

from .augment import Augment


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    augment: Augment | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x_batch, y_batch)`` covering every sample once; the last batch may be smaller.

    ``shuffle`` draws a fresh permutation from ``generator``; ``augment`` runs per batch.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be >= 1, got {batch_size}", field="batch_size")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{x.shape[0]} images but {y.shape[0]} labels", field="y")
    n = int(x.shape[0])
    order: torch.Tensor | None = None
    if shuffle:
        device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=device).to(x.device)
    for start in range(0, n, batch_size):
        if order is None:
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            xb, yb = x.index_select(0, idx), y.index_select(0, idx.to(y.device))
        if augment is not None and augment.active:
            xb = augment(xb, generator)
        yield xb, yb
