"""Dataset names -> loaders, and ``load``: a name or a path to normalized train/val tensors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nas.errors import DataError, NotFoundError

from .cifar import is_cifar_dir, load_cifar10, load_cifar100, load_cifar_dir
from .dataset import ImageData, RawImages, prepare
from .folder import load_folder
from .idx import find_idx, load_fashion_mnist, load_idx_pair
from .npz import load_npz
from .synthetic import make_synthetic

Loader = Callable[[Path | None], RawImages]

_LOADERS: dict[str, Loader] = {
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "synthetic": lambda _root: make_synthetic(),
}


def register(name: str, loader: Loader) -> None:
    """Add (or replace) a named dataset; ``loader(root)`` returns its raw images."""
    _LOADERS[name] = loader


def names() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_LOADERS)


def read_path(path: Path) -> RawImages:
    """Raw images of a path: ``.npz`` file, CIFAR batches dir, IDX dir or ImageFolder tree."""
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return load_npz(path)
        raise DataError(f"unsupported dataset file {path} (expected .npz)", field="source")
    if is_cifar_dir(path):
        return load_cifar_dir(path)
    if find_idx(path, "train-images-idx3-ubyte") is not None:
        return load_idx_pair(path)
    return load_folder(path)


def load(
    source: str,
    *,
    subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    root: str | Path | None = None,
) -> ImageData:
    """Load ``source`` (a registered name or a path) as normalized train/val tensors.

    ``subset`` keeps that many training images (stratified, seeded) before the seeded,
    stratified train/val split; normalization stats come from the train part only.
    ``root`` overrides where a registered dataset's files live.
    """
    if source in _LOADERS:
        raw = _LOADERS[source](Path(root) if root is not None else None)
        name = source
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise NotFoundError(
                f"unknown dataset {source!r}: not a path, and not one of {', '.join(names())}",
                field="source",
            )
        raw = read_path(path)
        name = path.name or str(path)
    return prepare(raw, name, subset=subset, val_fraction=val_fraction, seed=seed)
