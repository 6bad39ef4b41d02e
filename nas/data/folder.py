"""ImageFolder trees: one sub-directory per class, images read with Pillow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from nas.errors import DataError

from .dataset import RawImages

IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
)
_GRAY_MODES = frozenset({"1", "L", "I", "I;16", "F"})


def _class_files(root: Path) -> list[tuple[str, list[Path]]]:
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"no class sub-directories in {root}", field="source")
    out = []
    for d in classes:
        files = sorted(
            f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise DataError(f"class directory {d} holds no images", field="source")
        out.append((d.name, files))
    return out


def _read(path: Path, mode: str | None) -> tuple[str, tuple[int, int], np.ndarray | None]:
    """(mode, size, pixels) of an image; pixels (converted to ``mode``) only when it is given."""
    try:
        with Image.open(path) as img:
            pixels = None if mode is None else np.asarray(img.convert(mode), dtype=np.uint8)
            return img.mode, img.size, pixels
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}", field="source") from exc


def load_folder(root: str | Path) -> RawImages:
    """All images of ``root/<class>/**``; classes sorted by name, labels are their positions.

    Images must share one size. All-grayscale trees give 1 channel, anything else RGB (3).
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root} is not a directory", field="source")
    per_class = _class_files(root)
    files = [f for _, fs in per_class for f in fs]
    labels = np.repeat(np.arange(len(per_class)), [len(fs) for _, fs in per_class])
    headers = [_read(f, None) for f in files]
    mode = "L" if all(m in _GRAY_MODES for m, _, _ in headers) else "RGB"
    size = headers[0][1]
    for f, (_, s, _) in zip(files, headers, strict=True):
        if s != size:
            raise DataError(
                f"image {f} is {s[0]}x{s[1]}, expected {size[0]}x{size[1]} like the others",
                field="source",
            )
    x = np.empty((len(files), size[1], size[0], 1 if mode == "L" else 3), dtype=np.uint8)
    for i, f in enumerate(files):
        pixels = _read(f, mode)[2]
        assert pixels is not None
        x[i] = pixels.reshape(x.shape[1:])
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return RawImages(x, labels.astype(np.int64), len(per_class), origin=str(root))
