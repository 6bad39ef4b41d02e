"""Shared fixtures: real-data availability (a missing dataset fails under CI=true)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FASHION_MNIST_DIR = Path(
    os.environ.get("NAS_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_fashion_mnist() -> Path:
    """The real Fashion-MNIST directory; skip locally when absent, fail under CI."""
    if (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        return FASHION_MNIST_DIR
    message = (
        f"Fashion-MNIST not found in {FASHION_MNIST_DIR} (apt-get install dataset-fashion-mnist)"
    )
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def fashion_mnist_dir() -> Path:
    return require_fashion_mnist()


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Servers started by tests keep trial weights in a temporary folder, not ./artifacts."""
    monkeypatch.setenv("NAS_ARTIFACT_DIR", str(tmp_path_factory.mktemp("artifacts")))
