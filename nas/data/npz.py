"""``.npz`` archives holding ``x`` (images) and ``y`` (integer labels)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nas.errors import DataError

from .dataset import RawImages, labels_from

_CHANNELS = (1, 2, 3, 4)


def to_nchw(x: npt.NDArray[Any], origin: str) -> npt.NDArray[Any]:
    """(N, H, W), (N, H, W, C) or (N, C, H, W) -> (N, C, H, W); channels are 1..4.

    When both axis 1 and axis 3 could be channels, square H == W decides, else NCHW wins.
    """
    if x.ndim == 3:
        return x[:, None]
    if x.ndim != 4:
        raise DataError(f"x must be 3-D or 4-D, got shape {x.shape} in {origin}", field="x")
    first, last = x.shape[1] in _CHANNELS, x.shape[3] in _CHANNELS
    if last and (not first or x.shape[1] == x.shape[2] != x.shape[3]):
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    if first:
        return x
    raise DataError(f"cannot tell the channel axis of shape {x.shape} in {origin}", field="x")


def as_image_dtype(x: npt.NDArray[Any], origin: str) -> npt.NDArray[Any]:
    """Keep uint8, cast floats to float32; refuse anything else."""
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DataError(f"x holds NaN or infinite values in {origin}", field="x")
        return x.astype(np.float32, copy=False)
    raise DataError(f"x must be uint8 or float, got {x.dtype} in {origin}", field="x")


def load_npz(path: str | Path) -> RawImages:
    """Images ``x`` and labels ``y`` of an ``.npz`` file; ``num_classes = max(y) + 1``."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive or "y" not in archive:
                raise DataError(
                    f"{path} must hold arrays 'x' and 'y', has {sorted(archive.files)}",
                    field="source",
                )
            x, y = archive["x"], archive["y"]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path}: {exc}", field="source") from exc
    x = as_image_dtype(to_nchw(x, str(path)), str(path))
    if y.shape != (x.shape[0],):
        raise DataError(
            f"y shape {y.shape} does not match {x.shape[0]} images in {path}", field="y"
        )
    y64, num_classes = labels_from(y, str(path))
    return RawImages(x, y64, num_classes, origin=str(path))
