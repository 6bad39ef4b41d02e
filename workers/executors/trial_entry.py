"""What a worker runs for one trial: load the job's data (cached per process), build and train
the model, and save it where the request says (``request.artifact``; nothing when None)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import lru_cache

import torch

from nas.data import ImageData, load
from nas.export import save
from nas.job import DatasetRef
from nas.models import build_model
from nas.train import train
from nas.trial import EpochReport, TrialRequest, TrialResult

log = logging.getLogger("nas.worker")


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
    """Train ``request.spec`` on the dataset; ``on_progress`` may return True to stop.

    With ``request.artifact`` set, the trained model is saved there (``nas.export.save``:
    written aside and renamed into place) and the result names it. A failure to save is logged
    and leaves ``artifact`` None with ``artifact_error`` saying why: the trial's metrics are
    still valid.
    """
    data = load_dataset(dataset)
    # train() seeds the same way before it builds a model itself: the same initial weights
    torch.manual_seed(request.options.seed)
    model = build_model(request.spec)
    result = train(
        request.spec, data, request.epochs, request.options, on_epoch=on_progress, model=model
    )
    if request.artifact is None:
        return result
    try:
        path = save(model, request.artifact, epoch=result.epochs_run - 1)
    except OSError as exc:
        log.warning(
            "trial %s#%s: cannot save the model to %s: %s",
            request.strategy,
            request.number,
            request.artifact,
            exc,
        )
        reason = f"{type(exc).__name__}: {exc.strerror or exc}"
        return result.model_copy(update={"artifact_error": reason})
    return result.model_copy(update={"artifact": str(path)})
