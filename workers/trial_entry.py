"""What a worker runs for one trial: load the job's data (cached per process) and train."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from nas.data import ImageData, load
from nas.job import DatasetRef
from nas.train import train
from nas.trial import EpochReport, TrialRequest, TrialResult


@lru_cache(maxsize=4)
def load_dataset(dataset: DatasetRef) -> ImageData:
    """The job's data split; loaded once per process."""
    return load(
        dataset.name, subset=dataset.subset, val_fraction=dataset.val_fraction, seed=dataset.seed
    )


def run_trial(
    request: TrialRequest,
    dataset: DatasetRef,
    on_progress: Callable[[EpochReport], bool] | None = None,
) -> TrialResult:
    """Train ``request.spec`` on the dataset; ``on_progress`` may return True to stop."""
    data = load_dataset(dataset)
    return train(request.spec, data, request.epochs, request.options, on_epoch=on_progress)
