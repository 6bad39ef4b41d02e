"""JobSpec: loads from YAML/JSON, examples are valid, bad input names the field; ``from``
chains a strategy onto another's recommendation (one level, per repeat, shared by a warm start
only with its source)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nas.job import JobError, JobSpec

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.yaml"))
VALID: dict[str, Any] = {
    "name": "j",
    "dataset": "synthetic",
    "strategies": ["grid"],
    "budget": {"total": 4},
}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_are_valid_jobs(path: Path) -> None:
    job = JobSpec.from_file(path)
    assert job.strategies
    job.base_spec()


def test_json_and_yaml_load_the_same_job(tmp_path: Path) -> None:
    (tmp_path / "job.json").write_text(json.dumps(VALID))
    (tmp_path / "job.yaml").write_text(
        "name: j\ndataset: synthetic\nstrategies: [grid]\nbudget: {total: 4}\n"
    )
    assert JobSpec.from_file(tmp_path / "job.json") == JobSpec.from_file(tmp_path / "job.yaml")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategies": ["nope"]}, "strategies[0].name"),
        ({"strategies": ["grid", "grid"]}, "strategies[1].label"),
        ({"strategies": [{"name": "grid", "label": "confirm"}]}, "strategies[0].label"),
        ({"confirm_seeds": -1}, "confirm_seeds"),
        ({"confirm_seeds": 21}, "confirm_seeds"),
        (
            {"strategies": [{"name": "optuna", "options": {"sampler": "x"}}]},
            "strategies[0].options.sampler",
        ),
        ({"budget": {"total": 0}}, "budget.total"),
        ({"budget": {"total": 5, "unit": "hours"}}, "budget.unit"),
        ({"space": {"strides": [[0, 1]]}}, "space.strides"),
        ({"space": {"strides": [[1], [2]]}}, "space.strides"),
        ({"base": "resnet:r28:bad"}, "base"),
        ({"family": "vgg"}, "family"),
        ({"dataset": {"name": ""}}, "dataset.name"),
        ({"surprise": 1}, "surprise"),
        ({"strategies": ["grid", {"name": "compound", "from": "nope"}]}, "strategies[1].from"),
        ({"strategies": [{"name": "compound", "from": "compound"}]}, "strategies[0].from"),
        (
            {
                "strategies": [
                    "grid",
                    {"name": "random", "from": "grid"},
                    {"name": "compound", "from": "random"},
                ]
            },
            "strategies[2].from",
        ),
        ({"strategies": ["grid", {"name": "compound", "from": ""}]}, "strategies[1].from"),
        ({"resources": {"gpus_per_trial": -0.5}}, "resources.gpus_per_trial"),
        ({"resources": {"gpus_per_trial": 1.5}}, "resources.gpus_per_trial"),
        ({"resources": {"gpus_per_trial": 65}}, "resources.gpus_per_trial"),
        ({"resources": {"gpus_per_trial": "a lot"}}, "resources.gpus_per_trial"),
        ({"resources": {"cpus": 2}}, "resources.cpus"),
    ],
)
def test_bad_jobs_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(JobError) as info:
        JobSpec.parse({**VALID, **change})
    assert info.value.field == field, info.value


def test_gpus_per_trial_takes_fractions_of_one_gpu_or_whole_gpus() -> None:
    assert JobSpec.parse(VALID).resources.gpus_per_trial is None  # the executor's choice
    for gpus in (0, 0.25, 0.5, 1, 2, 8):
        job = JobSpec.parse({**VALID, "resources": {"gpus_per_trial": gpus}})
        assert job.resources.gpus_per_trial == gpus
    with pytest.raises(JobError, match="fraction of one GPU") as info:
        JobSpec.parse({**VALID, "resources": {"gpus_per_trial": 2.5}})
    assert info.value.field == "resources.gpus_per_trial"


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="cannot read"):
        JobSpec.from_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(JobError, match="not valid"):
        JobSpec.from_file(tmp_path / "bad.yaml")


CHAINED: dict[str, Any] = {
    **VALID,
    "strategies": [
        {"name": "compound", "label": "after", "from": "diffstride", "options": {"phi_max": 2}},
        "diffstride",
    ],
}


def test_from_names_the_source_of_each_repeat_and_is_stored_as_from() -> None:
    job = JobSpec.parse({**CHAINED, "repeats": 2})
    assert [(r.key, r.source) for r in job.runs()] == [
        ("after/r0", "diffstride/r0"),
        ("after/r1", "diffstride/r1"),
        ("diffstride/r0", None),
        ("diffstride/r1", None),
    ]
    stored = job.model_dump(mode="json")
    assert (
        stored["strategies"][0]["from"] == "diffstride" and "from_" not in stored["strategies"][0]
    )
    assert JobSpec.parse(stored) == job
    assert JobSpec.parse(json.loads(job.model_dump_json())) == job
    assert [r.source for r in JobSpec.parse({**VALID, "repeats": 2}).runs()] == [None, None]


def test_messages_say_what_is_wrong_with_from() -> None:
    def error(*strategies: Any) -> str:
        with pytest.raises(JobError) as info:
            JobSpec.parse({**VALID, "strategies": list(strategies)})
        return info.value.message

    assert "no strategy 'nope' in this job; known: grid" in error(
        "grid", {"name": "random", "from": "nope"}
    )
    assert "cannot start from itself" in error({"name": "grid", "from": "grid"})
    assert "'random' starts from 'grid' itself" in error(
        "grid", {"name": "random", "from": "grid"}, {"name": "compound", "from": "random"}
    )


def test_a_chained_strategy_is_shared_only_with_its_source() -> None:
    job = JobSpec.parse(CHAINED)
    assert [c.key for c in job.shared_with(job)] == ["after", "diffstride"]
    other_source = JobSpec.parse(
        {
            **CHAINED,
            "strategies": [
                CHAINED["strategies"][0],
                {"name": "diffstride", "options": {"retrain": False}},
            ],
        }
    )
    assert job.shared_with(other_source) == []  # its base would be another's recommendation
    other_from = JobSpec.parse(
        {
            **CHAINED,
            "strategies": [{**CHAINED["strategies"][0], "from": "grid"}, "diffstride", "grid"],
        }
    )
    assert [c.key for c in job.shared_with(other_from)] == ["diffstride"]
