"""Subset/split, normalization, batching, augmentation, synthetic data and real Fashion-MNIST."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nas.data import Augment, ImageData, RawImages, batches, load, names, prepare
from nas.data.split import split_indices, subset_indices
from nas.data.synthetic import make_synthetic
from nas.errors import DataError

FMNIST = Path("/usr/share/datasets/fashion-mnist")


def _raw(n: int = 200, classes: int = 5, channels: int = 2) -> RawImages:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, size=(n, channels, 4, 4), dtype=np.uint8)
    x[:, :, 0, 0] = (np.arange(n) % 256)[:, None]  # mark each sample
    x[:, :, 0, 1] = (np.arange(n) // 256)[:, None]
    return RawImages(x, (np.arange(n) % classes).astype(np.int64), classes)


def _ids(x: torch.Tensor, data: ImageData) -> set[int]:
    lo = x[:, 0, 0, 0] * data.std[0] + data.mean[0]
    hi = x[:, 0, 0, 1] * data.std[0] + data.mean[0]
    return set(torch.round(lo * 255 + hi * 255 * 256).long().tolist())


def test_names() -> None:
    assert {"fashion-mnist", "cifar10", "cifar100", "synthetic"} <= set(names())


def test_subset_and_split_deterministic_disjoint() -> None:
    raw = _raw()
    a = prepare(raw, "r", subset=100, val_fraction=0.2, seed=7)
    b = prepare(raw, "r", subset=100, val_fraction=0.2, seed=7)
    c = prepare(raw, "r", subset=100, val_fraction=0.2, seed=8)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val_y, b.val_y)
    assert (a.num_train, a.num_val) == (80, 20)
    train, val = _ids(a.train_x, a), _ids(a.val_x, a)
    assert len(train) == 80 and len(val) == 20 and not train & val
    assert train | val != _ids(c.train_x, c) | _ids(c.val_x, c)
    # stratified: 5 classes x 20 in the subset, 4 per class in val
    assert torch.bincount(a.val_y).tolist() == [4] * 5
    assert torch.bincount(a.train_y).tolist() == [16] * 5


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 6), min_size=2, max_size=80),
    frac=st.floats(0.0, 0.9),
    seed=st.integers(0, 2**31),
)
@example(labels=[0, 1, 2, 3, 3, 3, 3, 3], frac=0.8125, seed=0)  # found by hypothesis in make test
def test_split_partitions(labels: list[int], frac: float, seed: int) -> None:
    y = np.asarray(labels)
    try:
        train, val = split_indices(y, frac, seed=seed)
    except DataError:
        assert len(y) - max(round(frac * len(y)), 1 if frac > 0 else 0) < 1
        return
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(len(y)))
    assert len(val) == max(round(frac * len(y)), 1 if frac > 0 else 0)
    k = len(y) // 2
    sub = subset_indices(y, k, seed=seed) if k else np.arange(0)
    assert len(set(sub.tolist())) == min(k, len(y))
    # Stratified: each class within one sample of its share of the val size actually drawn
    # (round() may move that size half a sample off frac * N: 8 labels at 0.8125 draw 6, not 6.5).
    drawn = len(val) / len(y)
    for cls in set(labels):
        assert abs(np.sum(y[val] == cls) - drawn * np.sum(y == cls)) < 1.0 + 1e-9


def test_split_rejects_bad_fraction() -> None:
    with pytest.raises(DataError):
        split_indices(np.arange(10), 1.0)
    with pytest.raises(DataError):
        subset_indices(np.arange(10), 0)


def test_normalization_uses_train_stats() -> None:
    raw = _raw(400)
    data = prepare(raw, "r", val_fraction=0.25, seed=0)
    per_channel = data.train_x.transpose(0, 1).reshape(data.in_channels, -1)
    torch.testing.assert_close(per_channel.mean(1), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(per_channel.std(1), torch.ones(2), atol=1e-3, rtol=0)
    # val is normalized with the train stats: undoing them gives back the raw pixels
    mean, std = torch.tensor(data.mean), torch.tensor(data.std)
    val_raw = data.val_x * std.view(1, -1, 1, 1) + mean.view(1, -1, 1, 1)
    assert float(val_raw.min()) >= -1e-5 and float(val_raw.max()) <= 1 + 1e-5
    assert data.in_channels == 2 and data.resolution == 4


def test_constant_channel_does_not_divide_by_zero() -> None:
    x = np.zeros((10, 1, 3, 3), dtype=np.uint8)
    data = prepare(RawImages(x, np.arange(10) % 2, 2), "z", val_fraction=0.2)
    assert data.std == (1.0,) and torch.isfinite(data.train_x).all()


def test_resolution_requires_square() -> None:
    x = np.zeros((10, 1, 3, 4), dtype=np.uint8)
    data = prepare(RawImages(x, np.arange(10) % 2, 2), "z", val_fraction=0.2)
    with pytest.raises(DataError):
        _ = data.resolution


def test_raw_images_validation() -> None:
    with pytest.raises(DataError):
        RawImages(np.zeros((3, 1, 2, 2), np.uint8), np.array([0, 1, 5]), 3)
    with pytest.raises(DataError):
        RawImages(np.zeros((3, 2, 2), np.uint8), np.array([0, 1, 2]), 3)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 100])
def test_batches_cover_each_sample_once(batch_size: int) -> None:
    x = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    y = torch.arange(50)
    g = torch.Generator().manual_seed(0)
    epochs = []
    for _ in range(2):
        seen = []
        for xb, yb in batches(x, y, batch_size, shuffle=True, generator=g):
            assert len(xb) <= batch_size and torch.equal(xb[:, 0, 0, 0].long(), yb)
            seen.extend(yb.tolist())
        assert sorted(seen) == list(range(50))
        epochs.append(seen)
    assert batch_size == 100 or epochs[0] != epochs[1]  # reshuffled per epoch
    ordered = [yb for _, yb in batches(x, y, batch_size, shuffle=False)]
    assert torch.equal(torch.cat(ordered), y)


def test_batches_reproducible_and_validated() -> None:
    x, y = torch.randn(20, 1, 3, 3), torch.arange(20)
    a = [yb for _, yb in batches(x, y, 6, shuffle=True, generator=torch.Generator().manual_seed(1))]
    b = [yb for _, yb in batches(x, y, 6, shuffle=True, generator=torch.Generator().manual_seed(1))]
    assert all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    with pytest.raises(DataError):
        next(batches(x, y, 0, shuffle=False))
    with pytest.raises(DataError):
        next(batches(x, y[:5], 4, shuffle=False))


def test_augment_crop_keeps_shape_and_moves_content() -> None:
    x = torch.arange(64 * 2 * 8 * 8, dtype=torch.float32).view(64, 2, 8, 8) + 1
    out = Augment(crop_padding=2)(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    moved = [not torch.equal(out[i], x[i]) for i in range(64)]
    assert sum(moved) > 40  # 24 of 25 offsets move the image
    for i in range(64):  # each output is a shifted window of the zero-padded input
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        assert any(
            torch.equal(out[i], padded[:, r : r + 8, c : c + 8]) for r in range(5) for c in range(5)
        )
    assert (out == 0).any()  # padding shows up


def test_crops_are_padded_with_the_background_not_the_mean() -> None:
    # Fashion-MNIST's background is black: a raw 0, which normalization maps to -mean/std per
    # channel (grey would be 0, the mean colour).
    raw = RawImages(
        np.zeros((40, 2, 6, 6), dtype=np.uint8) + np.array([30, 90], dtype=np.uint8)[:, None, None],
        (np.arange(40) % 4).astype(np.int64),
        4,
    )
    x = raw.x.copy()
    x[:, :, 2:4, 2:4] = 250  # an object on the background
    data = prepare(RawImages(x, raw.y, 4), "t", val_fraction=0.25)
    background = data.background
    assert background == pytest.approx(
        tuple(-m / s for m, s in zip(data.mean, data.std, strict=True))
    )
    out = Augment(crop_padding=2, fill=background)(data.train_x, torch.Generator().manual_seed(1))
    for channel, value in enumerate(background):
        padded = torch.nn.functional.pad(data.train_x[:, channel], (2, 2, 2, 2), value=value)
        for i in range(out.shape[0]):  # each crop is a window of the background-padded image
            assert any(
                torch.equal(out[i, channel], padded[i, r : r + 6, c : c + 6])
                for r in range(5)
                for c in range(5)
            )
    assert (out == 0).sum() == 0  # never the mean colour
    assert torch.isclose(out, torch.tensor(background[0])).any()  # the padding shows up


def test_training_pads_with_the_datas_background(monkeypatch: pytest.MonkeyPatch) -> None:
    from nas import train as train_module
    from nas.models import preset
    from nas.trial import TrainOptions

    seen: list[Augment] = []
    real = train_module.batches

    def spy(*args: object, **kwargs: object) -> object:
        augment = kwargs.get("augment")
        if isinstance(augment, Augment):
            seen.append(augment)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train_module, "batches", spy)
    data = load("synthetic", subset=100)
    train_module.train(preset("resnet_narrow_fmnist"), data, 1, TrainOptions(batch_size=90))
    assert seen and seen[0].fill == data.background and seen[0].crop_padding == 2


def test_augment_hflip_flips() -> None:
    x = torch.randn(200, 3, 5, 5)
    out = Augment(hflip=True)(x, torch.Generator().manual_seed(0))
    flipped = torch.tensor([torch.equal(o, xi.flip(2)) for o, xi in zip(out, x, strict=True)])
    same = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x, strict=True)])
    assert bool((flipped | same).all()) and 60 < int(flipped.sum()) < 140
    assert torch.equal(Augment()(x, None), x)
    with pytest.raises(DataError):
        Augment(crop_padding=-1)


def test_batches_apply_augment() -> None:
    x, y = torch.randn(30, 1, 6, 6), torch.arange(30)
    aug = Augment(crop_padding=1, hflip=True)
    out = torch.cat([xb for xb, _ in batches(x, y, 8, shuffle=False, augment=aug)])
    assert out.shape == x.shape and not torch.equal(out, x)


def test_synthetic_deterministic_and_learnable() -> None:
    a, b = load("synthetic"), load("synthetic")
    assert torch.equal(a.train_x, b.train_x)
    assert (a.num_train, a.num_val, a.num_classes) == (1800, 200, 10)
    assert a.train_x.shape[1:] == (1, 28, 28)
    assert make_synthetic(num_images=30, channels=3, size=16).x.shape == (30, 3, 16, 16)
    # class signal: nearest class mean already separates val well
    centroids = torch.stack([a.train_x[a.train_y == k].mean(0) for k in range(10)]).flatten(1)
    pred = torch.cdist(a.val_x.flatten(1), centroids).argmin(1)
    assert float((pred == a.val_y).float().mean()) > 0.6


def test_synthetic_small_cnn_learns() -> None:
    torch.manual_seed(0)
    data = load("synthetic")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(16, 32, 3, stride=2, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(32, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        for xb, yb in batches(data.train_x, data.train_y, 64, shuffle=True, generator=g):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    with torch.no_grad():
        acc = float((model(data.val_x).argmax(1) == data.val_y).float().mean())
    assert acc > 0.8


def test_real_fashion_mnist() -> None:
    if not (FMNIST / "train-images-idx3-ubyte.gz").exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{FMNIST} missing on CI: apt-get install dataset-fashion-mnist")
        pytest.skip(f"{FMNIST} not installed")
    data = load("fashion-mnist", val_fraction=0.1, root=FMNIST)
    assert (data.num_train, data.num_val, data.num_classes) == (54000, 6000, 10)
    assert data.train_x.shape == (54000, 1, 28, 28) and data.val_x.shape == (6000, 1, 28, 28)
    assert data.train_x.dtype == torch.float32 and data.train_y.dtype == torch.int64
    assert torch.bincount(data.val_y).tolist() == [600] * 10
    assert abs(float(data.train_x.mean())) < 1e-3 and abs(float(data.train_x.std()) - 1) < 1e-3
