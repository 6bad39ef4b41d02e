"""What is known of a dataset without loading it (torch-free): how many training images each
registered dataset has, and how many of ``n`` images the train/val split holds out."""

from __future__ import annotations

SYNTHETIC_IMAGES = 2000
"""Images of the registered ``synthetic`` dataset (``make_synthetic``'s default)."""

TRAIN_IMAGES: dict[str, int] = {
    "fashion-mnist": 60_000,
    "cifar10": 50_000,
    "cifar100": 50_000,
    "synthetic": SYNTHETIC_IMAGES,
}
"""Training images of each registered dataset whose size is known (``register`` keeps it true)."""


def validation_count(n: int, val_fraction: float) -> int:
    """Images ``split_indices`` holds out of ``n`` for validation: ``round(val_fraction * n)``,
    at least 1 when ``val_fraction > 0``."""
    n_val = round(val_fraction * n)
    return max(n_val, 1) if val_fraction > 0 else n_val
