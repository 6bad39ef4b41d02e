"""What a worker runs for one trial: load the job's data (cached per process), build and train
the model, and save it where the request says (``request.artifact``; nothing when None).

The result names the node it ran on (``node_name``). A request that reserves GPUs
(``request.gpus``, the job's ``resources.gpus_per_trial``) fails at once where there is no
CUDA device, rather than training on the CPU, unless its GPUs were a stand-in resource (a Ray
custom resource named by ``NAS_RAY_GPU_RESOURCE``, for tests on CPU machines).
"""

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
from workers.executors.host import node_name

log = logging.getLogger("nas.worker")


class NoGpuError(RuntimeError):
    """The trial reserves GPUs but its worker has no CUDA device."""


def check_gpus(request: TrialRequest, stand_in: bool = False) -> None:
    """Refuse a trial that reserves GPUs where CUDA is missing (``stand_in``: its GPUs were a
    stand-in resource, so it trains on the CPU by design)."""
    if request.gpus and not stand_in and not torch.cuda.is_available():
        raise NoGpuError(
            f"the trial reserves {request.gpus:g} GPU (resources.gpus_per_trial) but its worker "
            f"on {node_name()} has no CUDA device; it does not train on the CPU instead"
        )


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
    *,
    node: str | None = None,
    gpu_stand_in: bool = False,
) -> TrialResult:
    """Train ``request.spec`` on the dataset; ``on_progress`` may return True to stop.

    The result's ``node`` is ``node`` (default: ``node_name()``). GPUs reserved without a
    CUDA device raise ``NoGpuError`` before anything loads (``check_gpus``).

    With ``request.artifact`` set, the trained model is saved there (``nas.export.save``:
    written aside and renamed into place) and the result names it. A failure to save is logged
    and leaves ``artifact`` None with ``artifact_error`` saying why: the trial's metrics are
    still valid.
    """
    check_gpus(request, gpu_stand_in)
    data = load_dataset(dataset)
    # train() seeds the same way before it builds a model itself: the same initial weights
    torch.manual_seed(request.options.seed)
    model = build_model(request.spec)
    result = train(
        request.spec, data, request.epochs, request.options, on_epoch=on_progress, model=model
    )
    result = result.model_copy(update={"node": node or node_name()})
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
