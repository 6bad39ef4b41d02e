"""The rules derived from a job have one home beside ``JobSpec``: the keys its trials are stored
under and what each stands for (``RunKey``), each strategy's budget share (``Budget.share``, which
the runner's accounting and the API both use), and its validation set's size
(``DatasetRef.validation_size``, drawn as ``nas.data.split`` draws it)."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

from nas.data.sizes import SYNTHETIC_IMAGES, TRAIN_IMAGES, validation_count
from nas.data.sources import DATASETS, register
from nas.data.split import split_indices, subset_indices
from nas.data.synthetic import make_synthetic
from nas.job import Budget, DatasetRef, JobSpec, RunKey, run_keys
from nas.presets import parse_spec
from workers.jobs.budget import JobBudget

JOB: dict[str, Any] = {
    "name": "j",
    "dataset": "synthetic",
    "strategies": ["grid", {"name": "random", "label": "grid x"}, "diffstride"],
    "budget": {"total": 10},
}


# ---- run keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("repeats", [1, 2, 5])
def test_run_keys_stand_for_each_run_of_the_job(repeats: int) -> None:
    job = JobSpec.parse({**JOB, "repeats": repeats})
    keys = job.run_keys()
    runs = job.runs()
    assert list(keys) == [run.key for run in runs] == job.strategy_keys()
    for run in runs:
        found = keys[run.key]
        assert found.strategy == run.config.key
        assert found.repeat == (None if repeats == 1 else run.repeat)
        assert found.key == run.key  # the round trip: what it stands for gives the key back
    assert keys == run_keys([c.key for c in job.strategies], repeats)
    strategies = [c.key for c in job.strategies]
    assert all(RunKey.of(key, strategies) == run for key, run in keys.items())


def test_a_run_key_is_a_strategy_and_its_repeat() -> None:
    assert RunKey("grid").key == "grid"
    assert RunKey("grid", 3).key == "grid/r3"
    assert RunKey("grid", 3) == ("grid", 3)
    assert run_keys(["grid"], 2) == {"grid/r0": ("grid", 0), "grid/r1": ("grid", 1)}


def test_a_label_that_looks_like_a_repeat_is_read_as_what_it_is() -> None:
    """Nothing parses a key back: a strategy labelled ``grid/r1`` in a job that does not repeat
    is its own strategy, not repeat 1 of ``grid``."""
    job = JobSpec.parse({**JOB, "strategies": ["grid", {"name": "random", "label": "grid/r1"}]})
    assert job.run_keys() == {"grid": ("grid", None), "grid/r1": ("grid/r1", None)}
    twice = JobSpec.parse({**JOB, "repeats": 2, "strategies": job.strategies})
    assert twice.run_keys()["grid/r1/r0"] == ("grid/r1", 0)
    assert twice.run_keys()["grid/r1"] == ("grid", 1)
    # the inverse alone cannot tell these apart: the job's own keys decide first
    assert all(RunKey.of(key, ["grid", "grid/r1"]) == run for key, run in job.run_keys().items())
    assert RunKey.of("grid/r1", ["grid", "grid/r1"]) == ("grid/r1", None)


def test_a_key_no_run_lists_is_read_by_the_inverse_rule() -> None:
    """``RunKey.of``: a repeat key of a known strategy, else a strategy of its own."""
    assert RunKey.of("grid/r12", ["grid", "random"]) == ("grid", 12)
    assert RunKey.of("other/r1", ["grid"]) == ("other/r1", None)
    assert RunKey.of("grid/rx", ["grid"]) == ("grid/rx", None)
    assert RunKey.of("grid/r", ["grid"]) == ("grid/r", None)


# ---- the budget share -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("budget", "strategies", "share"),
    [
        ({"total": 10, "unit": "trials"}, 3, 3),  # whole trials, rounded down
        ({"total": 10, "unit": "flops"}, 4, 2.5),
        ({"total": 9}, 2, 4.5),  # base epochs
    ],
)
def test_the_budget_is_split_evenly_across_strategies(
    budget: dict[str, Any], strategies: int, share: float
) -> None:
    assert Budget.model_validate(budget).share(strategies) == share


@pytest.mark.parametrize("unit", ["base_epochs", "flops", "trials"])
def test_the_runners_share_is_the_jobs_share_in_flops(unit: str) -> None:
    """Repeats do not divide the budget: each repeat of a strategy has the whole share."""
    job = JobSpec.parse({**JOB, "repeats": 3, "budget": {"total": 11, "unit": unit}})
    base = parse_spec("resnet_narrow_fmnist")
    accounts = JobBudget(job.budget, len(job.strategies), job.strategy_keys(), lambda _: 7.0, base)
    per_unit = 7.0 if unit == "base_epochs" else 1.0
    assert accounts.share() == job.share() * per_unit
    assert job.share() == (math.floor(11 / 3) if unit == "trials" else 11 / 3)


# ---- the validation set -----------------------------------------------------------------------


def test_the_synthetic_size_is_what_make_synthetic_makes() -> None:
    assert TRAIN_IMAGES["synthetic"] == SYNTHETIC_IMAGES == make_synthetic().y.shape[0]


def test_the_fashion_mnist_size_is_what_its_files_hold() -> None:
    try:
        raw = DATASETS.get("fashion-mnist")(None)
    except Exception as exc:  # the files are optional
        pytest.skip(f"no Fashion-MNIST here: {exc}")
    assert TRAIN_IMAGES["fashion-mnist"] == raw.y.shape[0]


@pytest.mark.parametrize(
    "ref",
    [
        DatasetRef(name="synthetic"),
        DatasetRef(name="synthetic", subset=200),
        DatasetRef(name="synthetic", subset=333, val_fraction=0.15),
        DatasetRef(name="synthetic", subset=11, val_fraction=0.01),  # at least one image
        DatasetRef(name="synthetic", subset=5000, seed=3),  # more than there are: all of them
    ],
    ids=str,
)
def test_the_validation_size_is_what_the_split_draws(ref: DatasetRef) -> None:
    y = make_synthetic().y
    if ref.subset is not None:
        y = y[subset_indices(y, ref.subset, seed=ref.seed)]
    _, val = split_indices(y, ref.val_fraction, seed=ref.seed)
    assert ref.validation_size() == val.shape[0] == validation_count(y.shape[0], ref.val_fraction)


def test_an_unknown_size_is_none_and_a_subset_makes_it_known() -> None:
    assert DatasetRef(name="/data/mine").validation_size() is None
    assert DatasetRef(name="/data/mine", subset=1000, val_fraction=0.2).validation_size() == 200
    assert DatasetRef(name="fashion-mnist").validation_size() == 6000


def test_a_registered_dataset_is_sized_only_when_its_size_is_given() -> None:
    loader = DATASETS.get("synthetic")
    try:
        register("synthetic", lambda _root: make_synthetic(num_images=500))
        assert DatasetRef(name="synthetic").validation_size() is None  # not a stale 200
        register("synthetic", lambda _root: make_synthetic(num_images=500), images=500)
        assert DatasetRef(name="synthetic").validation_size() == 50
    finally:
        register("synthetic", loader, images=SYNTHETIC_IMAGES)
    assert DatasetRef(name="synthetic").validation_size() == 200


def test_the_rules_import_no_torch() -> None:
    """The API and the CLI read them without torch: ``nas.data`` loads its loaders lazily."""
    code = (
        "import sys\n"
        "from nas.job import DatasetRef, JobSpec\n"
        "import nas.data\n"
        "assert DatasetRef(name='cifar10').validation_size() == 5000\n"
        "assert JobSpec.parse({'name': 'j', 'dataset': 'synthetic', 'strategies': ['grid'],\n"
        "                      'budget': {'total': 4}, 'repeats': 2}).run_keys()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert callable(nas.data.load) and 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
