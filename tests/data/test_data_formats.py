"""Readers of each on-disk format: IDX, CIFAR batches, ImageFolder trees, npz."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nas.data import load
from nas.data.cifar import read_batch
from nas.data.idx import load_fashion_mnist, read_idx, write_idx
from nas.data.npz import load_npz
from nas.errors import DataError, NotFoundError


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path: Path, suffix: str, dtype: type[np.generic]) -> None:
    arr = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    if dtype is np.uint8:
        arr = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = tmp_path / f"a-idx3-ubyte{suffix}"
    write_idx(path, arr)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    back = read_idx(path)
    assert back.dtype == arr.dtype and back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


def test_idx_big_endian_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "x"
    write_idx(path, np.array([1, 256], dtype=np.int32))
    assert path.read_bytes() == bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 1, 0])


@pytest.mark.parametrize(
    "payload",
    [
        b"\x01\x00\x08\x01\x00\x00\x00\x01\x00",  # first byte not zero
        b"\x00\x00\x07\x01\x00\x00\x00\x01\x00",  # unknown type code
        b"\x00\x00\x08\x02\x00\x00\x00\x01",  # header cut short
        b"\x00\x00\x08\x01\x00\x00\x00\x03\x00",  # fewer bytes than dims say
        b"\x00\x00",
    ],
)
def test_idx_malformed_names_path(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "broken-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_idx(path)
    gz = tmp_path / "broken-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(payload))
    with pytest.raises(DataError, match=re.escape(str(gz))):
        read_idx(gz)


def test_idx_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "c.gz"
    path.write_bytes(gzip.compress(b"\x00" * 100)[:-10])
    with pytest.raises(DataError, match=re.escape(str(path))):
        read_idx(path)


def _write_fmnist(root: Path, n: int = 40, gz: bool = True) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = (np.arange(n) % 10).astype(np.uint8)
    ext = ".gz" if gz else ""
    write_idx(root / f"train-images-idx3-ubyte{ext}", x)
    write_idx(root / f"train-labels-idx1-ubyte{ext}", y)
    return x, y


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_root_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gz: bool
) -> None:
    x, y = _write_fmnist(tmp_path, gz=gz)
    raw = load_fashion_mnist(tmp_path)
    assert raw.x.shape == (40, 1, 28, 28) and raw.num_classes == 10
    np.testing.assert_array_equal(raw.x[:, 0], x)
    np.testing.assert_array_equal(raw.y, y)
    monkeypatch.setenv("NAS_FASHION_MNIST_DIR", str(tmp_path))
    data = load("fashion-mnist", val_fraction=0.25)
    assert (data.num_train, data.num_val, data.num_classes) == (30, 10, 10)
    assert data.name == "fashion-mnist"


def test_the_official_test_split_comes_whole_and_normalized_with_the_train_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_fmnist(tmp_path)
    assert load("fashion-mnist", root=tmp_path).test_x is None  # no t10k files: no test split
    rng = np.random.default_rng(1)
    test_x = rng.integers(0, 256, size=(15, 28, 28), dtype=np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", test_x)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", (np.arange(15) % 10).astype(np.uint8))
    data = load("fashion-mnist", root=tmp_path, subset=20, val_fraction=0.25)
    assert (data.num_train, data.num_val, data.num_test) == (15, 5, 15)  # never subset
    assert data.test_x is not None and data.test_y is not None
    expected = (torch.from_numpy(test_x).float() / 255 - data.mean[0]) / data.std[0]
    torch.testing.assert_close(data.test_x[:, 0], expected)
    assert data.test_y.tolist() == [i % 10 for i in range(15)]
    assert load(str(tmp_path)).num_test == 15  # an IDX directory given as a path
    assert load("fashion-mnist", root=tmp_path, with_test=False).test_x is None


def test_a_test_split_of_another_shape_is_refused(tmp_path: Path) -> None:
    _write_fmnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((4, 14, 14), dtype=np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DataError, match="test split") as info:
        load(str(tmp_path))
    assert info.value.field == "test"


def test_real_fashion_mnist_has_its_10000_test_images(fashion_mnist_dir: Path) -> None:
    data = load("fashion-mnist", subset=100, root=fashion_mnist_dir)
    assert data.num_test == 10_000  # Xiao et al. 2017: 60,000 training and 10,000 test images
    assert data.test_y is not None and torch.bincount(data.test_y).tolist() == [1000] * 10


def test_fashion_mnist_missing_says_apt_get(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load("fashion-mnist", root=tmp_path / "nowhere")


def test_idx_directory_as_path(tmp_path: Path) -> None:
    _write_fmnist(tmp_path)
    assert load(str(tmp_path), val_fraction=0.5).num_train == 20


def _cifar_batch(path: Path, n: int, label_key: bytes, classes: int, protocol: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [i % classes for i in range(n)]
    batch = {b"batch_label": b"fake", label_key: labels, b"data": data}
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    return data


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar10_fake_batches(tmp_path: Path, protocol: int) -> None:
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    first = _cifar_batch(root / "data_batch_1", 20, b"labels", 10, protocol)
    _cifar_batch(root / "data_batch_2", 30, b"labels", 10, protocol)
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": []}))
    data = load("cifar10", root=tmp_path, val_fraction=0.2)  # the parent dir works too
    assert (data.num_train, data.num_val) == (40, 10)
    assert data.train_x.shape[1:] == (3, 32, 32) and data.num_classes == 10
    assert len(data.mean) == 3
    assert data.test_x is None  # no test_batch
    _cifar_batch(root / "test_batch", 12, b"labels", 10, protocol)
    assert load("cifar10", root=tmp_path).num_test == 12
    assert load(str(root)).num_test == 12
    direct = load(str(root), val_fraction=0.2)  # a path is recognised as CIFAR
    assert torch.equal(direct.train_x, data.train_x)
    # Pixel layout: row-major R plane, then G, then B.
    from nas.data.cifar import load_cifar10

    raw = load_cifar10(root)
    np.testing.assert_array_equal(raw.x[0, 1].ravel(), first[0, 1024:2048])


def test_cifar100_fake_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _cifar_batch(tmp_path / "train", 50, b"fine_labels", 100, 4)
    (tmp_path / "meta").write_bytes(pickle.dumps({b"fine_label_names": []}))
    monkeypatch.setenv("NAS_CIFAR100_DIR", str(tmp_path))
    data = load("cifar100", val_fraction=0.2)
    assert data.num_classes == 100 and data.num_train + data.num_val == 50


def test_cifar_without_root_explains(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAS_CIFAR10_DIR", raising=False)
    with pytest.raises(DataError, match="NAS_CIFAR10_DIR"):
        load("cifar10")


def test_cifar_refuses_arbitrary_pickles(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Path("x")}))
    with pytest.raises(DataError, match="refusing"):
        read_batch(path)


def _image_tree(root: Path, mode: str, size: tuple[int, int] = (8, 8)) -> None:
    for label, name in enumerate(["cat", "dog", "emu"]):
        (root / name).mkdir(parents=True)
        for i in range(4):
            value = 60 * label + 10 * i
            color: int | tuple[int, int, int] = value if mode == "L" else (value, 0, 255 - value)
            Image.new(mode, size, color).save(root / name / f"{i}.png")


def test_image_folder_gray(tmp_path: Path) -> None:
    _image_tree(tmp_path, "L")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = load(str(tmp_path), val_fraction=0.25)
    assert data.train_x.shape[1:] == (1, 8, 8) and data.num_classes == 3
    assert data.num_train + data.num_val == 12
    assert sorted(torch.bincount(data.val_y).tolist()) == [1, 1, 1]


def test_image_folder_rgb_pixels(tmp_path: Path) -> None:
    _image_tree(tmp_path, "RGB", size=(6, 5))
    from nas.data.folder import load_folder

    raw = load_folder(tmp_path)
    assert raw.x.shape == (12, 3, 5, 6)
    # dog/1.png is the 6th file: value 70 -> (70, 0, 185)
    assert raw.y[5] == 1
    np.testing.assert_array_equal(raw.x[5, :, 0, 0], [70, 0, 185])


def test_image_folder_size_mismatch(tmp_path: Path) -> None:
    _image_tree(tmp_path, "L")
    bad = tmp_path / "dog" / "big.png"
    Image.new("L", (9, 9)).save(bad)
    with pytest.raises(DataError, match=re.escape("big.png")):
        load(str(tmp_path))


def test_image_folder_unreadable(tmp_path: Path) -> None:
    _image_tree(tmp_path, "L")
    bad = tmp_path / "emu" / "junk.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError, match=re.escape("junk.png")):
        load(str(tmp_path))


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_npz_layouts(tmp_path: Path, layout: str) -> None:
    rng = np.random.default_rng(1)
    nchw = rng.integers(0, 256, size=(20, 3 if layout != "NHW" else 1, 6, 6), dtype=np.uint8)
    x = {"NHW": nchw[:, 0], "NHWC": nchw.transpose(0, 2, 3, 1), "NCHW": nchw}[layout]
    y = np.arange(20) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    raw = load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(raw.x, nchw)
    assert raw.num_classes == 4
    data = load(str(tmp_path / "d.npz"), val_fraction=0.2)
    assert data.train_x.shape[1:] == nchw.shape[1:] and data.name == "d.npz"


def test_npz_float_kept_and_bad_inputs(tmp_path: Path) -> None:
    x = np.linspace(-1, 1, 10 * 4 * 4, dtype=np.float64).reshape(10, 4, 4)
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(10) % 2)
    assert load_npz(tmp_path / "f.npz").x.dtype == np.float32
    np.savez(tmp_path / "nolabels.npz", x=x)
    with pytest.raises(DataError, match="'y'"):
        load_npz(tmp_path / "nolabels.npz")
    np.savez(tmp_path / "neg.npz", x=x, y=np.arange(10) - 1)
    with pytest.raises(DataError):
        load_npz(tmp_path / "neg.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match=re.escape("junk.npz")):
        load_npz(tmp_path / "junk.npz")


def test_unknown_source() -> None:
    with pytest.raises(NotFoundError, match="fashion-mnist"):
        load("no-such-dataset")
