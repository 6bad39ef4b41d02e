"""Dataset loaders (Fashion-MNIST IDX, CIFAR batches, ImageFolder, npz, synthetic) to tensors.

Importing the package imports no torch: ``nas.data.sizes`` (what a job's validation set holds,
read by ``nas.job``) is torch-free. The public names below are loaded at first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nas.lazy import lazy_exports

if TYPE_CHECKING:
    from nas.data.augment import Augment
    from nas.data.batching import batches
    from nas.data.dataset import ImageData, RawImages, prepare
    from nas.data.sources import load, names, register

_EXPORTS = {
    "Augment": "nas.data.augment",
    "ImageData": "nas.data.dataset",
    "RawImages": "nas.data.dataset",
    "batches": "nas.data.batching",
    "load": "nas.data.sources",
    "names": "nas.data.sources",
    "prepare": "nas.data.dataset",
    "register": "nas.data.sources",
}

__all__ = ["Augment", "ImageData", "RawImages", "batches", "load", "names", "prepare", "register"]


_export, __dir__ = lazy_exports(globals(), _EXPORTS)

if not TYPE_CHECKING:  # hidden from mypy, which reads the imports above (a typo stays an error)
    __getattr__ = _export
