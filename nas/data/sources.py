"""Dataset names -> loaders, and ``load``: a name or a path to normalized train/val tensors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nas.errors import DataError, NotFoundError
from nas.registry import Registry

from .cifar import (
    is_cifar_dir,
    load_cifar10,
    load_cifar10_test,
    load_cifar100,
    load_cifar100_test,
    load_cifar_dir,
    load_cifar_dir_test,
)
from .dataset import ImageData, RawImages, prepare
from .folder import load_folder
from .idx import find_idx, load_fashion_mnist, load_fashion_mnist_test, load_idx_pair, load_idx_test
from .npz import load_npz
from .sizes import TRAIN_IMAGES
from .synthetic import make_synthetic

Loader = Callable[[Path | None], RawImages]
TestLoader = Callable[[Path | None], RawImages | None]

DATASETS: Registry[Loader] = Registry(
    "dataset",
    field="source",
    replace=True,
    entries={
        "fashion-mnist": load_fashion_mnist,
        "cifar10": load_cifar10,
        "cifar100": load_cifar100,
        "synthetic": lambda _root: make_synthetic(),
    },
)
# The official test split of a registered dataset, where it has one (None: files missing).
TEST_SPLITS: Registry[TestLoader] = Registry(
    "dataset test split",
    field="source",
    replace=True,
    entries={
        "fashion-mnist": load_fashion_mnist_test,
        "cifar10": load_cifar10_test,
        "cifar100": load_cifar100_test,
    },
)


def register(
    name: str,
    loader: Loader,
    test_loader: TestLoader | None = None,
    *,
    images: int | None = None,
) -> None:
    """Add (or replace) a named dataset; ``loader(root)`` returns its raw training images and
    ``test_loader(root)``, when given, its official test split. ``images``, when given, is how
    many training images it has (``nas.data.sizes.TRAIN_IMAGES``: a job's validation size
    without loading it); else its size is not known until it is loaded."""
    DATASETS.add(name, loader)
    if test_loader is not None:
        TEST_SPLITS.add(name, test_loader)
    else:
        TEST_SPLITS.remove(name)
    if images is not None:
        TRAIN_IMAGES[name] = images
    else:
        TRAIN_IMAGES.pop(name, None)


def names() -> list[str]:
    """Registered dataset names, sorted."""
    return DATASETS.names()


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


def read_test_path(path: Path) -> RawImages | None:
    """The official test split next to a dataset path (IDX ``t10k-*``, CIFAR), else None."""
    if path.is_dir() and is_cifar_dir(path):
        return load_cifar_dir_test(path)
    if path.is_dir():
        return load_idx_test(path)
    return None


def load(
    source: str,
    *,
    subset: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    root: str | Path | None = None,
    with_test: bool = True,
) -> ImageData:
    """Load ``source`` (a registered name or a path) as normalized train/val(/test) tensors.

    ``subset`` keeps that many training images (stratified, seeded) before the seeded,
    stratified train/val split; normalization stats come from the train part only.
    ``root`` overrides where a registered dataset's files live. The official test split, when
    the dataset has one and ``with_test``, is loaded whole (never subset) as ``test_x/test_y``.
    """
    test: RawImages | None = None
    loader = DATASETS.find(source)
    if loader is not None:
        where = Path(root) if root is not None else None
        raw = loader(where)
        test_loader = TEST_SPLITS.find(source) if with_test else None
        if test_loader is not None:
            test = test_loader(where)
        name = source
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise NotFoundError(
                f"unknown dataset {source!r}: not a path, and not one of {', '.join(names())}",
                field="source",
            )
        raw = read_path(path)
        test = read_test_path(path) if with_test else None
        name = path.name or str(path)
    return prepare(raw, name, subset=subset, val_fraction=val_fraction, seed=seed, test=test)
