"""A stored job has one reader: api/ parses ``Job.spec`` into ``JobSpec`` (``api.specs``) and
reads typed fields and the rules beside them; no module reads the stored JSON's keys, rebuilds
run keys or parses them back. A stored spec that lacks newer fields parses with the defaults the
old raw reads assumed; one that does not parse fails naming the job and the field."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from api.db.models import Job
from api.db.session import session_scope
from api.live_targets import series_of
from api.specs import StoredSpecError, stored_spec
from api.store import JobRepository
from tests.api.harness import Harness, job_spec, result
from workers.jobs.store import BudgetUse

API = Path(__file__).resolve().parents[2] / "api"
# fields only a job spec has: reading them off JSON rebuilds what JobSpec owns
SPEC_FIELDS = {
    "strategies",
    "repeats",
    "dataset",
    "objectives",
    "val_fraction",
    "subset",
    "epochs_per_trial",
    "max_trials_per_strategy",
    "confirm_seeds",
    "keep_weights",
    "warm_start",
    "family",
    "space",
}


def _is_spec(node: ast.expr) -> bool:
    """``spec`` or ``<anything>.spec`` (``job.spec``, ``Job.spec``, ``row.spec``)."""
    return (isinstance(node, ast.Name) and node.id == "spec") or (
        isinstance(node, ast.Attribute) and node.attr == "spec"
    )


def _spec_field(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in SPEC_FIELDS


def raw_reads(source: str) -> list[tuple[int, str]]:
    """(line, code) of each raw read of a stored spec in ``source``: ``spec[...]`` or
    ``spec.get(...)`` (``job.spec``, ``Job.spec`` in SQL too), a spec-only field read off a dict
    with a default (``.get("repeats")``), ``strategy_key`` of a stored entry, or a pattern
    parsing a run key."""
    found = []
    for node in ast.walk(ast.parse(source)):
        raw = False
        if isinstance(node, ast.Subscript):
            raw = _is_spec(node.value)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "get":
                raw = _is_spec(node.func.value) or bool(node.args and _spec_field(node.args[0]))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            raw = node.func.id == "strategy_key"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            raw = "/r(" in node.value or "/r\\d" in node.value
        if raw:
            found.append((getattr(node, "lineno", 0), ast.unparse(node)))
    return sorted(found)


def test_the_finder_sees_each_kind_of_raw_read() -> None:
    source = (
        "a = spec.get('budget', {})\n"
        "b = job.spec['dataset']\n"
        "c = Job.spec[('budget', 'total')]\n"
        "d = config.get('repeats') or 1\n"
        "e = strategy_key(s)\n"
        "f = re.compile(r'(.+)/r(\\d+)')\n"
        "g = use.get('budget')\n"  # a BudgetUse's field, not a spec's
        "h = job.spec.run_keys()\n"
    )
    assert [line for line, _ in raw_reads(source)] == [1, 2, 3, 4, 5, 6]


def test_no_module_of_api_reads_a_stored_spec_raw() -> None:
    found = [
        f"{path.relative_to(API.parent)}:{line}: {code}"
        for path in sorted(API.rglob("*.py"))
        for line, code in raw_reads(path.read_text())
    ]
    assert not found, "read the spec through api.specs.stored_spec:\n" + "\n".join(found)


def test_a_trials_series_is_what_the_jobs_run_keys_say() -> None:
    """A strategy labelled ``grid/r1`` is its own series in a job that does not repeat, and
    ``grid/r1`` is repeat 1 of ``grid`` in one that does: the job's keys decide, not the text."""
    once = job_spec(strategies=["grid", {"name": "random", "label": "grid/r1"}])
    twice = job_spec(strategies=once.strategies, repeats=2)
    assert series_of("grid/r1", once.run_keys()) == ("grid/r1", None)
    assert series_of("grid/r1", twice.run_keys()) == ("grid", 1)
    assert series_of("grid/r1/r1", twice.run_keys()) == ("grid/r1", 1)


# ---- the one reader ---------------------------------------------------------------------------


def test_a_stored_spec_parses_once_whatever_its_key_order() -> None:
    data = job_spec().model_dump(mode="json")
    first = stored_spec(data, 1)
    assert first == job_spec()
    assert stored_spec(dict(reversed(list(data.items()))), 2) is first


def test_an_old_spec_reads_with_the_defaults_the_raw_reads_assumed() -> None:
    """What api/ assumed of a spec without these fields (``int(spec.get("repeats") or 1)``,
    ``budget.get("epochs_per_trial", 1)``, ``budget.get("unit", "base_epochs")``,
    ``dataset.get("val_fraction", 0.1)``, no secondary objective) is JobSpec's default."""
    old = {
        "name": "old",
        "dataset": {"name": "synthetic"},
        "strategies": [{"name": "grid"}],
        "budget": {"total": 4},
    }
    spec = stored_spec(old, 3)
    assert spec.repeats == 1
    assert spec.budget.epochs_per_trial == 1
    assert spec.budget.unit == "base_epochs"
    assert spec.dataset.val_fraction == 0.1
    assert spec.objectives.secondary is None
    assert spec.run_keys() == {"grid": ("grid", None)}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategies": [{"name": "retired"}]}, "strategies[0].name"),
        ({"budget": {"total": 4, "currency": "eur"}}, "budget.currency"),
        ({"dataset": None}, "dataset"),
    ],
)
def test_a_spec_that_does_not_parse_fails_naming_the_job_and_field(
    change: dict[str, Any], field: str
) -> None:
    data = {**job_spec().model_dump(mode="json"), **change}
    with pytest.raises(StoredSpecError, match=f"^job 7: .*{re.escape(field)}"):
        stored_spec(data, 7)


def test_the_store_reads_a_stored_spec_through_the_one_reader(
    factory: sessionmaker[Session],
) -> None:
    repo = JobRepository(factory)
    job = repo.create(job_spec())
    assert repo.get(job.id).spec == job_spec()
    assert repo.progress(job.id).strategies.keys() == {"grid", "random", "ds"}
    with session_scope(factory) as session:
        data = {**job_spec().model_dump(mode="json"), "strategies": [{"name": "retired"}]}
        session.execute(sa.update(Job).where(Job.id == job.id).values(spec=data))
    with pytest.raises(StoredSpecError, match=rf"^job {job.id}: .*strategies\[0\]\.name"):
        repo.get(job.id)
    with pytest.raises(StoredSpecError, match=rf"^job {job.id}: "):
        repo.lease_states([job.id])


def test_the_leaderboard_reads_the_extended_budget(h: Harness) -> None:
    """The board re-reads the spec whenever the job's version moves: an extension changes the
    share, so FLOPs per base epoch are the runner's share over the new one."""
    job_id, store = h.job(budget={"unit": "base_epochs", "total": 30})
    trial = h.add(store, "grid")
    store.mark_running(trial)
    store.finish(trial, result(0.5, 1000, 1e8), None)
    use = BudgetUse(unit="flops", budget=2e9, spent=1e8, trials=1, fraction=0.05)
    store.record_budget({"grid": use, "random": use, "ds": use})
    found = h.client.get(f"/api/v1/jobs/{job_id}/comparison").json()
    assert found["unit_flops"] == pytest.approx(2e8)  # a share of 10 base epochs is 2e9
    assert h.client.post(f"/api/v1/jobs/{job_id}/extend", json={"budget": 30}).status_code == 200
    found = h.client.get(f"/api/v1/jobs/{job_id}/comparison").json()
    assert found["unit_flops"] == pytest.approx(1e8)  # 2e9 kept for a share now of 20
