"""The in-memory dataset types: raw arrays from a reader, and normalized tensors for training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from nas.errors import DataError

from .split import split_indices, subset_indices


@dataclass(frozen=True)
class RawImages:
    """Images as a reader returns them, before subsetting, splitting and normalization.

    ``x`` is (N, C, H, W), uint8 (scaled to [0, 1] later) or float32 (kept as is);
    ``y`` is (N,) int64 with values in ``[0, num_classes)``.
    """

    x: npt.NDArray[Any]
    y: npt.NDArray[np.int64]
    num_classes: int
    origin: str = ""

    def __post_init__(self) -> None:
        where = f" in {self.origin}" if self.origin else ""
        if self.x.ndim != 4:
            raise DataError(
                f"images must be (N, C, H, W), got shape {self.x.shape}{where}", field="x"
            )
        if self.x.dtype != np.uint8 and self.x.dtype != np.float32:
            raise DataError(
                f"images must be uint8 or float32, got {self.x.dtype}{where}", field="x"
            )
        if self.y.ndim != 1 or self.y.shape[0] != self.x.shape[0]:
            raise DataError(
                f"labels shape {self.y.shape} does not match {self.x.shape[0]} images{where}",
                field="y",
            )
        if self.num_classes < 1:
            raise DataError(f"num_classes must be >= 1, got {self.num_classes}{where}", field="y")
        if self.y.size and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise DataError(
                f"labels must lie in [0, {self.num_classes}), got [{int(self.y.min())}, "
                f"{int(self.y.max())}]{where}",
                field="y",
            )


def labels_from(y: npt.NDArray[Any], origin: str) -> tuple[npt.NDArray[np.int64], int]:
    """Validate integer labels; return them as int64 with ``num_classes = max + 1``."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"labels must be 1-D, got shape {y.shape} in {origin}", field="y")
    if y.dtype.kind == "f" and y.size and np.all(np.equal(np.mod(y, 1), 0)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise DataError(f"labels must be integers, got {y.dtype} in {origin}", field="y")
    if y.size == 0:
        raise DataError(f"no labels in {origin}", field="y")
    if int(y.min()) < 0:
        raise DataError(f"labels must be >= 0 in {origin}", field="y")
    return y.astype(np.int64, copy=False), int(y.max()) + 1


@dataclass(frozen=True)
class ImageData:
    """In-memory tensors ready for training, normalized with the train part's per-channel stats."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    test_x: torch.Tensor | None = None
    """The official test split (normalized with the train stats), or None: scored, never used
    to select."""
    test_y: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for part in ("train", "val"):
            x: torch.Tensor = getattr(self, f"{part}_x")
            y: torch.Tensor = getattr(self, f"{part}_y")
            if x.ndim != 4 or y.ndim != 1 or x.shape[0] != y.shape[0]:
                raise DataError(
                    f"{part} tensors must be (N, C, H, W) and (N,), got {tuple(x.shape)} and "
                    f"{tuple(y.shape)}",
                    field=f"{part}_x",
                )
        if self.train_x.shape[1:] != self.val_x.shape[1:]:
            raise DataError("train and val images differ in shape", field="val_x")
        if (self.test_x is None) != (self.test_y is None):
            raise DataError("test_x and test_y come together", field="test_x")
        if self.test_x is not None and self.test_y is not None:
            if self.test_x.shape[1:] != self.train_x.shape[1:]:
                raise DataError("test images differ in shape from training", field="test_x")
            if self.test_y.ndim != 1 or self.test_y.shape[0] != self.test_x.shape[0]:
                raise DataError("test labels do not match the test images", field="test_y")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise DataError("mean/std must have one entry per channel", field="mean")

    @property
    def in_channels(self) -> int:
        """Number of image channels C."""
        return int(self.train_x.shape[1])

    @property
    def resolution(self) -> int:
        """Side length H of the (square) images."""
        h, w = int(self.train_x.shape[2]), int(self.train_x.shape[3])
        if h != w:
            raise DataError(f"images are not square ({h}x{w})", field="resolution")
        return h

    @property
    def num_train(self) -> int:
        """Number of training images."""
        return int(self.train_x.shape[0])

    @property
    def num_val(self) -> int:
        """Number of validation images."""
        return int(self.val_x.shape[0])

    @property
    def background(self) -> tuple[float, ...]:
        """A raw 0 (black) per channel after normalization: the value to pad images with."""
        return tuple(-m / s for m, s in zip(self.mean, self.std, strict=True))

    @property
    def num_test(self) -> int:
        """Number of official test images (0 without a test split)."""
        return 0 if self.test_x is None else int(self.test_x.shape[0])


def _to_float(x: npt.NDArray[Any]) -> torch.Tensor:
    array = np.ascontiguousarray(x)
    if not array.flags.writeable:  # e.g. np.frombuffer over a file's bytes
        array = array.copy()
    t = torch.from_numpy(array)
    if t.dtype == torch.uint8:
        return t.to(torch.float32).div_(255.0)
    return t.to(torch.float32, copy=True)


def prepare(
    raw: RawImages,
    name: str,
    *,
    subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    test: RawImages | None = None,
) -> ImageData:
    """Subset, split train/val (both seeded, stratified) and normalize with train-part stats.

    ``test``, the official test split, is kept whole and normalized with the same stats.
    """
    idx = np.arange(raw.y.shape[0])
    if subset is not None:
        idx = subset_indices(raw.y, subset, seed=seed)
    train_rel, val_rel = split_indices(raw.y[idx], val_fraction, seed=seed)
    train_idx, val_idx = idx[train_rel], idx[val_rel]

    train_x, val_x = _to_float(raw.x[train_idx]), _to_float(raw.x[val_idx])
    std_t, mean_t = torch.std_mean(train_x, dim=(0, 2, 3))
    if train_x.shape[0] * train_x.shape[2] * train_x.shape[3] < 2:
        std_t = torch.ones_like(mean_t)
    std_t = torch.where(std_t > 1e-8, std_t, torch.ones_like(std_t))
    test_x = None
    if test is not None:
        if test.x.shape[1:] != raw.x.shape[1:] or test.num_classes > raw.num_classes:
            raise DataError(
                f"the test split {tuple(test.x.shape[1:])} with {test.num_classes} classes does "
                f"not match the training images {tuple(raw.x.shape[1:])} with "
                f"{raw.num_classes}",
                field="test",
            )
        test_x = _to_float(test.x)
    for x in (train_x, val_x, *([test_x] if test_x is not None else [])):
        x.sub_(mean_t.view(1, -1, 1, 1)).div_(std_t.view(1, -1, 1, 1))
    return ImageData(
        name=name,
        train_x=train_x,
        train_y=torch.from_numpy(raw.y[train_idx].astype(np.int64)),
        val_x=val_x,
        val_y=torch.from_numpy(raw.y[val_idx].astype(np.int64)),
        num_classes=raw.num_classes,
        mean=tuple(float(v) for v in mean_t),
        std=tuple(float(v) for v in std_t),
        test_x=test_x,
        test_y=None if test is None else torch.from_numpy(test.y.astype(np.int64)),
    )
