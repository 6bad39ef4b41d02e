"""IDX files (the MNIST format), raw or gzip-compressed, and the Fashion-MNIST loader."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nas.errors import DataError

from .dataset import RawImages, labels_from

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_ENV = "NAS_FASHION_MNIST_DIR"

_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_CODES: dict[str, int] = {np.dtype(v).str.lstrip("<>|"): k for k, v in _DTYPES.items()}


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}", field="source") from exc


def read_idx(path: str | Path) -> npt.NDArray[Any]:
    """Read an IDX file (gzip detected by content) into a native-endian numpy array."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise DataError(f"bad IDX magic number {data[:4].hex()!r} in {path}", field="source")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"truncated IDX header in {path}", field="source")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_DTYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"IDX file {path} holds {len(data) - header} data bytes, dims {dims} need {expected}",
            field="source",
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def write_idx(path: str | Path, array: npt.NDArray[Any]) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends with ``.gz``."""
    path = Path(path)
    arr = np.asarray(array)
    key = arr.dtype.str.lstrip("<>|=")
    if key not in _CODES or arr.ndim == 0 or arr.ndim > 255:
        raise DataError(
            f"cannot store {arr.dtype} array of shape {arr.shape} as IDX", field="array"
        )
    code = _CODES[key]
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(np.dtype(_DTYPES[code]), copy=False).tobytes()
    path.write_bytes(gzip.compress(payload, compresslevel=1) if path.suffix == ".gz" else payload)


def find_idx(root: Path, stem: str) -> Path | None:
    """``root/stem`` or ``root/stem.gz``, whichever exists."""
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_pair(root: Path, prefix: str = "train") -> RawImages:
    """Load ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte`` (or ``.gz``)."""
    images = find_idx(root, f"{prefix}-images-idx3-ubyte")
    labels = find_idx(root, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        raise DataError(f"no {prefix}-images/labels IDX files in {root}", field="source")
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise DataError(
            f"expected (N, H, W) uint8 images in {images}, got {x.shape}", field="source"
        )
    if y.shape != (x.shape[0],):
        raise DataError(f"labels {labels} do not match {x.shape[0]} images", field="source")
    y64, num_classes = labels_from(y, str(labels))
    return RawImages(x[:, None], y64, num_classes, origin=str(root))


def fashion_mnist_root(root: str | Path | None = None) -> Path:
    """The Fashion-MNIST directory: ``root``, else ``$NAS_FASHION_MNIST_DIR``, else Debian's."""
    if root is not None:
        return Path(root)
    env = os.environ.get(FASHION_MNIST_ENV)
    return Path(env) if env else FASHION_MNIST_DIR


def load_fashion_mnist(root: str | Path | None = None) -> RawImages:
    """The 60,000 Fashion-MNIST training images (1x28x28 uint8) and their 10-class labels."""
    path = fashion_mnist_root(root)
    if find_idx(path, "train-images-idx3-ubyte") is None:
        raise DataError(
            f"Fashion-MNIST not found in {path}: run `apt-get install dataset-fashion-mnist` "
            f"or set {FASHION_MNIST_ENV}",
            field="source",
        )
    raw = load_idx_pair(path)
    if raw.num_classes > 10:
        raise DataError(f"Fashion-MNIST labels exceed 9 in {path}", field="source")
    return RawImages(raw.x, raw.y, 10, origin=raw.origin)


def load_idx_test(root: Path) -> RawImages | None:
    """The ``t10k-*`` test pair of an IDX directory (the MNIST layout), or None."""
    if find_idx(root, "t10k-images-idx3-ubyte") is None:
        return None
    return load_idx_pair(root, prefix="t10k")


def load_fashion_mnist_test(root: str | Path | None = None) -> RawImages | None:
    """The 10,000 official Fashion-MNIST test images, or None when the files are missing."""
    raw = load_idx_test(fashion_mnist_root(root))
    if raw is None:
        return None
    if raw.num_classes > 10:
        raise DataError(f"Fashion-MNIST test labels exceed 9 in {raw.origin}", field="source")
    return RawImages(raw.x, raw.y, 10, origin=raw.origin)
