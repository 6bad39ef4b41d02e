"""Deterministic, class-stratified subsetting and train/val splitting of label arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from nas.errors import DataError

from .sizes import validation_count

_SUBSET_STREAM = 0
_SPLIT_STREAM = 1


def _allocate(counts: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
    """Share ``total`` among classes in proportion to ``counts`` (largest remainder, capped)."""
    n = int(counts.sum())
    exact = counts * (total / n) if n else counts.astype(np.float64)
    alloc = np.minimum(np.floor(exact).astype(np.int64), counts)
    rest = total - int(alloc.sum())
    order = np.argsort(-(exact - alloc), kind="stable")
    for c in order:
        if rest == 0:
            break
        if alloc[c] < counts[c]:
            alloc[c] += 1
            rest -= 1
    return alloc


def _stratified_pick(
    y: npt.NDArray[Any], total: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Pick ``total`` indices of ``y`` stratified by class; return (picked, rest), both sorted."""
    classes, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse, minlength=classes.shape[0]).astype(np.int64)
    alloc = _allocate(counts, total)
    perm = rng.permutation(y.shape[0])
    # Rank of each permuted index within its class: stable sort by class keeps the random order.
    by_class = perm[np.argsort(inverse[perm], kind="stable")]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.arange(y.shape[0]) - np.repeat(starts, counts)
    chosen = rank < np.repeat(alloc, counts)
    return np.sort(by_class[chosen]), np.sort(by_class[~chosen])


def subset_indices(y: npt.NDArray[Any], n: int, *, seed: int = 0) -> npt.NDArray[np.int64]:
    """Indices of ``n`` samples of ``y``, stratified by class, deterministic for ``seed``."""
    if n < 1:
        raise DataError(f"subset must be >= 1, got {n}", field="subset")
    if n >= y.shape[0]:
        return np.arange(y.shape[0], dtype=np.int64)
    picked, _ = _stratified_pick(y, n, np.random.default_rng([seed, _SUBSET_STREAM]))
    return picked


def split_indices(
    y: npt.NDArray[Any], val_fraction: float, *, seed: int = 0
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Disjoint (train, val) indices of ``y``; val gets ``validation_count(N, val_fraction)``
    (``round(val_fraction * N)``, at least 1), stratified."""
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}", field="val_fraction")
    n = y.shape[0]
    n_val = validation_count(n, val_fraction)
    if n - n_val < 1:
        raise DataError(
            f"{n} images leave no training data with val_fraction={val_fraction}",
            field="val_fraction",
        )
    val, train = _stratified_pick(y, n_val, np.random.default_rng([seed, _SPLIT_STREAM]))
    return train, val
