"""Shared fixtures: real-data availability (a missing dataset fails under CI=true); under
pytest-xdist, each worker's share of the cores for torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nas.threads import THREADS_ENV

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


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, each worker process trains with ``cores // workers`` torch threads
    (``NAS_TORCH_THREADS``, which the servers and trial workers it starts inherit): two
    workers with every core each would oversubscribe the CPU and run slower than one."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and THREADS_ENV not in os.environ:
        threads = max(1, len(os.sched_getaffinity(0)) // workers)
        os.environ[THREADS_ENV] = str(threads)
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        torch.set_num_threads(threads)


@pytest.fixture
def fashion_mnist_dir() -> Path:
    return require_fashion_mnist()


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Servers started by tests keep trial weights in a temporary folder, not ./artifacts."""
    monkeypatch.setenv("NAS_ARTIFACT_DIR", str(tmp_path_factory.mktemp("artifacts")))
