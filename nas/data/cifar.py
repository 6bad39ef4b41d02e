"""CIFAR-10 / CIFAR-100 "python version" batches, read with a restricted unpickler."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from nas.errors import DataError

from .dataset import RawImages

CIFAR10_ENV = "NAS_CIFAR10_DIR"
CIFAR100_ENV = "NAS_CIFAR100_DIR"

# Only what numpy arrays need to unpickle: never arbitrary callables from a data file.
_ALLOWED: dict[tuple[str, str], tuple[str, str]] = {
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),  # bytes in protocol-2 pickles
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        target = _ALLOWED.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(*target)


def read_batch(path: Path) -> dict[str, Any]:
    """One pickled CIFAR batch as a dict with ``str`` keys."""
    try:
        obj = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"cannot read CIFAR batch {path}: {exc}", field="source") from exc
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR batch {path} is not a dict", field="source")
    return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in obj.items()}


def _images_labels(path: Path, label_key: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    batch = read_batch(path)
    if "data" not in batch or label_key not in batch:
        raise DataError(f"CIFAR batch {path} lacks 'data' or {label_key!r}", field="source")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch[label_key])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(
            f"CIFAR batch {path}: data must be (N, 3072) uint8, got {data.shape} {data.dtype}",
            field="source",
        )
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise DataError(f"CIFAR batch {path}: labels do not match data", field="source")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def _resolve(root: str | Path | None, env: str, subdir: str, name: str) -> Path:
    if root is None:
        value = os.environ.get(env)
        if not value:
            raise DataError(
                f"{name} location unknown: pass root= or set {env} to the extracted "
                f"'{subdir}' directory (python version from https://www.cs.toronto.edu/~kriz/)",
                field="source",
            )
        root = value
    path = Path(root)
    return path / subdir if (path / subdir).is_dir() else path


def load_cifar10(root: str | Path | None = None) -> RawImages:
    """CIFAR-10 training images (``data_batch_1..5``) as 3x32x32 uint8, 10 classes."""
    path = _resolve(root, CIFAR10_ENV, "cifar-10-batches-py", "CIFAR-10")
    files = sorted(path.glob("data_batch_*"))
    if not files:
        raise DataError(f"no CIFAR-10 data_batch_* files in {path}", field="source")
    parts = [_images_labels(f, "labels") for f in files]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return RawImages(x, y, 10, origin=str(path))


def load_cifar100(root: str | Path | None = None) -> RawImages:
    """CIFAR-100 training images (the ``train`` file) as 3x32x32 uint8, 100 fine classes."""
    path = _resolve(root, CIFAR100_ENV, "cifar-100-python", "CIFAR-100")
    if not (path / "train").is_file():
        raise DataError(f"no CIFAR-100 'train' file in {path}", field="source")
    x, y = _images_labels(path / "train", "fine_labels")
    return RawImages(x, y, 100, origin=str(path))


def load_cifar10_test(root: str | Path | None = None) -> RawImages | None:
    """The official CIFAR-10 test split (``test_batch``), or None when it is not there."""
    path = _resolve(root, CIFAR10_ENV, "cifar-10-batches-py", "CIFAR-10")
    if not (path / "test_batch").is_file():
        return None
    x, y = _images_labels(path / "test_batch", "labels")
    return RawImages(x, y, 10, origin=str(path / "test_batch"))


def load_cifar100_test(root: str | Path | None = None) -> RawImages | None:
    """The official CIFAR-100 test split (the ``test`` file), or None when it is not there."""
    path = _resolve(root, CIFAR100_ENV, "cifar-100-python", "CIFAR-100")
    if not (path / "test").is_file():
        return None
    x, y = _images_labels(path / "test", "fine_labels")
    return RawImages(x, y, 100, origin=str(path / "test"))


def load_cifar_dir_test(path: Path) -> RawImages | None:
    """The test split of either CIFAR flavour, or None."""
    if any(path.glob("data_batch_*")):
        return load_cifar10_test(path)
    return load_cifar100_test(path)


def load_cifar_dir(path: Path) -> RawImages:
    """Either CIFAR flavour, told apart by its files."""
    if any(path.glob("data_batch_*")):
        return load_cifar10(path)
    return load_cifar100(path)


def is_cifar_dir(path: Path) -> bool:
    """Whether ``path`` looks like an extracted CIFAR-10 or CIFAR-100 python directory."""
    return any(path.glob("data_batch_*")) or (
        (path / "train").is_file() and (path / "meta").is_file()
    )
