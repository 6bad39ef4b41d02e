"""GET /api/v1/jobs/{id}/verdict on SQLite and PostgreSQL: a job's repeats compared at equal
compute (nas.verdict), no claim from one repeat, provisional while the job runs, 404 and 422,
and its place in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest

from api.store import SqlTrialStore
from nas.verdict import NO_CLAIM, NOT_DISTINGUISHABLE
from tests.api.harness import Harness, result


def finish(h: Harness, store: SqlTrialStore, key: str, accuracy: float, cost: float) -> int:
    trial = h.add(store, key)
    store.mark_running(trial)
    store.finish(trial, result(accuracy, 1_000_000, cost), None)
    return trial


def verdict_of(h: Harness, job_id: int) -> dict[str, Any]:
    response = h.client.get(f"/api/v1/jobs/{job_id}/verdict")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_clearly_better_strategy_is_ahead_and_a_like_one_is_not(h: Harness) -> None:
    job_id, store = h.job(strategies=["grid", "random", "optuna"], repeats=5)
    for r in range(5):
        # grid: 0.90-0.94 for 2e9 FLOPs; random: 0.70-0.74; optuna the same as grid, a bit
        # later in each run (its value at grid's cost is its first trial's)
        finish(h, store, f"grid/r{r}", 0.90 + 0.01 * r, 2e9)
        finish(h, store, f"random/r{r}", 0.70 + 0.01 * r, 2e9)
        finish(h, store, f"optuna/r{r}", 0.5, 1e9)
        finish(h, store, f"optuna/r{r}", 0.94 - 0.01 * r, 1e9)
    found = verdict_of(h, job_id)
    assert found["job_id"] == job_id and found["state"] == "queued" and not found["final"]
    assert found["claim"] and found["unit"] == "flops" and found["unit_flops"] == 1.0
    assert [(s["strategy"], s["runs"], s["cost"]) for s in found["strategies"]] == [
        ("grid", 5, 2e9),
        ("random", 5, 2e9),
        ("optuna", 5, 2e9),
    ]
    pairs = {(p["a"], p["b"]): p for p in found["pairs"]}
    grid_random = pairs["grid", "random"]
    # 5 runs each, every grid run ahead of every random run at both costs: U = 2 x 25, and
    # only 2 of the 252 relabelings are that extreme; Holm over the 3 pairs triples it
    assert grid_random["statistic"] == grid_random["bound"] == 50
    assert grid_random["p"] == pytest.approx(2 / 252) and grid_random["exact"]
    assert grid_random["p_holm"] == pytest.approx(3 * 2 / 252)
    assert grid_random["effect"] == pytest.approx(0.2)
    assert 0.15 < grid_random["effect_low"] < 0.2 < grid_random["effect_high"] < 0.25
    assert grid_random["says"] == "grid ahead of random"
    assert pairs["random", "optuna"]["ahead"] == "optuna"
    assert pairs["grid", "optuna"]["says"] == NOT_DISTINGUISHABLE
    assert found["says"] == (
        "grid ahead of random (p = 0.024); optuna ahead of random (p = 0.024); the other pair "
        "not distinguishable"
    )


def test_one_repeat_makes_no_claim(h: Harness) -> None:
    job_id, store = h.job(strategies=["grid", "random"])
    finish(h, store, "grid", 0.9, 1e9)
    finish(h, store, "random", 0.5, 1e9)
    found = verdict_of(h, job_id)
    assert not found["claim"] and found["says"] == NO_CLAIM == "no claim: one run per strategy"
    assert found["pairs"] == []
    assert [(s["strategy"], s["runs"]) for s in found["strategies"]] == [
        ("grid", 1),
        ("random", 1),
    ]
    empty_job, _ = h.job(strategies=["grid", "random"])
    assert verdict_of(h, empty_job)["says"] == NO_CLAIM  # nothing trained yet: no claim either


def test_repeats_not_started_are_left_out_until_the_job_ends(h: Harness) -> None:
    job_id, store = h.job(strategies=["grid", "random"], repeats=3)
    for r in range(3):
        finish(h, store, f"grid/r{r}", 0.8, 1e9)
    finish(h, store, "random/r0", 0.8, 1e9)
    finish(h, store, "random/r1", 0.8, 1e9)
    running = verdict_of(h, job_id)
    assert not running["final"]
    assert [s["runs"] for s in running["strategies"]] == [3, 2]  # random/r2 has not started
    assert running["pairs"][0]["statistic"] == 0
    h.repo.set_state(job_id, "running")
    h.repo.set_state(job_id, "completed")
    ended = verdict_of(h, job_id)
    assert ended["final"] and ended["state"] == "completed"
    # now random/r2 found nothing: it cost 0 and is worth 0 anywhere, behind every grid run at
    # the grid run's cost, level with it at its own (at 0 compute no run has anything)
    assert [s["runs"] for s in ended["strategies"]] == [3, 3]
    assert ended["pairs"][0]["statistic"] == 3


def test_unknown_jobs_are_404_and_bad_ids_422(h: Harness) -> None:
    missing = h.client.get("/api/v1/jobs/999999/verdict")
    assert missing.status_code == 404 and missing.json() == {"detail": "no job 999999"}
    bad = h.client.get("/api/v1/jobs/-1/verdict")
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["field"] == "job_id"
    assert h.client.get("/api/v1/jobs/abc/verdict").status_code == 422


def test_the_verdict_is_documented_in_openapi(h: Harness) -> None:
    spec = h.client.get("/openapi.json").json()
    operation = spec["paths"]["/api/v1/jobs/{job_id}/verdict"]["get"]
    assert {"200", "404", "422"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/VerdictOut"}
    fields = spec["components"]["schemas"]["VerdictOut"]["properties"]
    assert {"claim", "says", "test", "pairs", "final", "strategies"} <= set(fields)
    assert "not distinguishable" in operation["description"]
