"""Dataset loaders (Fashion-MNIST IDX, CIFAR batches, ImageFolder, npz, synthetic) to tensors."""

from __future__ import annotations

from .augment import Augment
from .batching import batches
from .dataset import ImageData, RawImages, prepare
from .registry import load, names, register

__all__ = ["Augment", "ImageData", "RawImages", "batches", "load", "names", "prepare", "register"]
