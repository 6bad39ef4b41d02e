"""A deterministic, learnable generated dataset: class-specific patterns, jitter and noise."""

from __future__ import annotations

import numpy as np

from nas.errors import DataError

from .dataset import RawImages
from .sizes import SYNTHETIC_IMAGES


def make_synthetic(
    *,
    num_images: int = SYNTHETIC_IMAGES,
    num_classes: int = 10,
    channels: int = 1,
    size: int = 28,
    noise: float = 0.15,
    seed: int = 1234,
) -> RawImages:
    """``num_images`` float32 images in [0, 1], balanced over ``num_classes``.

    Each class owns an oriented grating with its own frequency, phase and Gaussian blob position;
    every image is its class pattern shifted by up to 2 px, scaled in contrast, plus noise.
    The same arguments always give the same data.
    """
    if num_images < 1 or num_classes < 1 or channels < 1 or size < 4 or noise < 0:
        raise DataError("synthetic options must be positive (size >= 4)", field="source")
    rng = np.random.default_rng(seed)
    coords = np.arange(size, dtype=np.float64) / size
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    angle = np.pi * np.arange(num_classes) / num_classes
    freq = 2.0 + 3.0 * rng.random(num_classes)
    phase = 2 * np.pi * rng.random((num_classes, channels))
    centre = 0.25 + 0.5 * rng.random((num_classes, 2))
    grating = np.sin(
        2
        * np.pi
        * freq[:, None, None, None]
        * (np.cos(angle)[:, None, None, None] * xx + np.sin(angle)[:, None, None, None] * yy)
        + phase[:, :, None, None]
    )
    blob = np.exp(
        -((yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2) / 0.02
    )
    protos = 0.5 + 0.25 * grating + 0.25 * blob[:, None]  # (K, C, H, W) in [0, 1]

    y = np.arange(num_images) % num_classes
    rng.shuffle(y)
    pad = 2
    padded = np.pad(protos, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, num_images))
    rows = dy[:, None] + np.arange(size)  # (N, H)
    cols = dx[:, None] + np.arange(size)  # (N, W)
    x = padded[y[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
    contrast = rng.uniform(0.7, 1.3, size=(num_images, 1, 1, 1))
    x = 0.5 + contrast * (x - 0.5) + noise * rng.standard_normal(x.shape)
    images = np.clip(x, 0.0, 1.0).astype(np.float32).transpose(0, 3, 1, 2)
    return RawImages(
        np.ascontiguousarray(images), y.astype(np.int64), num_classes, origin="synthetic"
    )
