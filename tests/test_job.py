"""JobSpec: loads from YAML/JSON, examples are valid, bad input names the field."""

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
    ],
)
def test_bad_jobs_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(JobError) as info:
        JobSpec.parse({**VALID, **change})
    assert info.value.field == field, info.value


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="cannot read"):
        JobSpec.from_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    with pytest.raises(JobError, match="not valid"):
        JobSpec.from_file(tmp_path / "bad.yaml")
