"""The leaderboard data endpoint and the trial versions behind it (TestClient, scheduler off,
trials written through ``SqlTrialStore``; ``tests/api/harness.py``), on SQLite and PostgreSQL;
the HTML pages are in test_pages.py."""

from __future__ import annotations

import gc
import json
import math
import random
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import api.live_board as leaderboard_module
from api.board_cache import Leaderboards
from api.db.models import Job, Trial, utcnow
from api.db.session import session_scope
from api.live_board import MAX_ERROR_CHARS
from nas.readout import StrideReadout
from tests.api.harness import BASE, Harness, diffstride_spec, report, result

INTERNED = ("specs", "stride_texts")  # the distinct values the per-trial codes point into


def rows(board: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The columnar trials as {id: row}, codes decoded."""
    t = board["trials"]
    out = {}
    for k, trial_id in enumerate(t["id"]):
        row = {name: values[k] for name, values in t.items() if name not in INTERNED}
        row["spec"] = t["specs"][row["spec"]]
        row["strides"] = t["stride_texts"][row["strides"]]
        row["strategy"] = board["strategies"][row["strategy"]]
        row["state"] = board["states"][row["state"]]
        out[trial_id] = row
    return out


def versions(h: Harness, job_id: int) -> tuple[int, dict[int, int]]:
    with session_scope(h.repo.factory) as session:
        job = session.scalar(sa.select(Job.version).where(Job.id == job_id))
        trials = dict(
            session.execute(sa.select(Trial.id, Trial.version).where(Trial.job_id == job_id)).all()
        )
    assert job is not None
    return job, trials


# ---- trial.version -------------------------------------------------------------------------


def test_the_store_stamps_each_changed_trial_with_the_new_job_version(h: Harness) -> None:
    job_id, store = h.job()
    a = h.add(store)
    job, trials = versions(h, job_id)
    assert trials[a] == job
    b = h.add(store)
    steps = [
        lambda: store.mark_running(b),
        lambda: store.record_progress(b, report(1)),
        lambda: store.finish(b, result(0.7, 1000, 1e9), None),
    ]
    for step in steps:
        before_job, before = versions(h, job_id)
        step()
        job, trials = versions(h, job_id)
        assert job == before_job + 1
        assert trials[b] == job and trials[a] == before[a]  # only the changed trial moves
    store.finish(b, None, "again")  # a finished trial is never overwritten: nothing moves
    assert versions(h, job_id) == (job, trials)
    store.mark_running(a)
    with session_scope(h.repo.factory) as session:
        old = utcnow() - timedelta(hours=1)
        session.execute(sa.update(Trial).where(Trial.id == a).values(heartbeat_at=old))
    assert store.requeue_stale(timedelta(minutes=1)) == [a]
    job, trials = versions(h, job_id)
    assert trials[a] == job


# ---- the data endpoint ---------------------------------------------------------------------


def test_a_full_answer_has_every_trial_as_columns(h: Harness) -> None:
    job_id, store = h.job()
    done = h.add(store, "grid")
    store.mark_running(done)
    store.finish(done, result(0.8, 5000, 2e9), None)
    failed = h.add(store, "random")
    store.mark_running(failed)
    store.finish(failed, None, "RuntimeError: out of memory\n" + "x" * 2 * MAX_ERROR_CHARS)
    running = h.add(store, "ds", diffstride_spec(), epochs=5)
    store.mark_running(running)
    store.record_progress(running, report(1))
    store.record_progress(running, report(2))
    queued = h.add(store, "grid")

    board = h.board(job_id)
    assert board["full"] and board["next"] is None
    assert board["job"]["name"] == "leaderboard-test" and board["job"]["diffstride"] == ["ds"]
    assert board["strategies"] == ["grid", "random", "ds"]
    got = rows(board)
    assert set(got) == {done, failed, running, queued}
    assert got[done]["state"] == "completed" and got[done]["accuracy"] == 0.8
    assert got[done]["macs"] == 5000 and got[done]["cost_flops"] == 2e9
    assert got[done]["n_params"] == 500 and got[done]["epoch"] == 2
    assert got[done]["spec"] == BASE.to_string()
    assert got[failed]["state"] == "failed"
    error = got[failed]["error"]
    assert error.startswith("RuntimeError: out of memory") and len(error) == MAX_ERROR_CHARS
    assert got[running]["state"] == "running"
    assert (got[running]["epoch"], got[running]["epochs"]) == (2, 5)
    assert got[queued]["state"] == "queued" and got[queued]["epochs"] == 2
    assert got[done]["epochs"] is None  # what was asked is shown for unfinished trials only
    assert board["trials"]["id"] == sorted(got)  # the first load reads in table (id) order
    assert board["progress"]["total"] == 4
    assert board["progress"]["states"] == {
        "queued": 1,
        "running": 1,
        "completed": 1,
        "pruned": 0,
        "skipped": 0,
        "failed": 1,
    }
    assert board["progress"]["strategies"]["ds"]["running"] == 1
    assert board["version"] == versions(h, job_id)[0]


def test_a_refresh_sends_only_what_changed(h: Harness) -> None:
    job_id, store = h.job()
    ids = [h.add(store) for _ in range(5)]
    first = h.board(job_id)
    version = first["version"]

    idle = h.board(job_id, since=version)
    assert not idle["full"] and idle["version"] == version
    assert idle["trials"]["id"] == [] and idle["best_so_far"] is None and idle["pareto"] is None

    store.mark_running(ids[2])
    store.record_progress(ids[2], report(1))
    step = h.board(job_id, since=version)
    assert step["trials"]["id"] == [ids[2]] and step["trials"]["epoch"] == [1]
    version = step["version"]

    store.finish(ids[2], result(0.9, 1000, 1e9), None)
    done = h.board(job_id, since=version)
    assert rows(done)[ids[2]]["state"] == "completed"
    assert list(rows(done)) == [ids[2]]
    grid = next(c for c in done["best_so_far"] if c["strategy"] == "grid")
    assert grid["accuracy"] == [0.9] and grid["trial"] == [ids[2]]
    assert done["pareto"]["trial"] == [ids[2]]

    # a client that is ahead (another incarnation of the job, a reset database) starts over
    ahead = h.board(job_id, since=done["version"] + 100)
    assert ahead["full"] and set(ahead["trials"]["id"]) == set(ids)


def brute_force(h: Harness, job_id: int) -> tuple[dict[str, list[Any]], list[tuple[int, float]]]:
    """Best-so-far points per strategy and the Pareto front from the stored trials."""
    with session_scope(h.repo.factory) as session:
        trials = session.execute(
            sa.select(
                Trial.id,
                Trial.strategy,
                Trial.state,
                Trial.accuracy,
                Trial.macs,
                Trial.cost_flops,
                Trial.finished_at,
            )
            .where(Trial.job_id == job_id, Trial.state.in_(["completed", "pruned", "failed"]))
            .order_by(Trial.finished_at, Trial.id)
        ).all()
    curves: dict[str, list[Any]] = {}
    spent: dict[str, float] = {}
    for t in trials:
        spent[t.strategy] = spent.get(t.strategy, 0.0) + (t.cost_flops or 0.0)
        points = curves.setdefault(t.strategy, [])
        if t.state == "completed" and (not points or t.accuracy > points[-1][1]):
            points.append((spent[t.strategy], t.accuracy, t.id))
    done = [t for t in trials if t.state == "completed"]
    front = {
        (t.macs, t.accuracy)
        for t in done
        if not any(
            o.accuracy >= t.accuracy
            and o.macs <= t.macs
            and (o.accuracy > t.accuracy or o.macs < t.macs)
            for o in done
        )
    }
    return curves, sorted(front)


def check_aggregates(h: Harness, job_id: int, board: dict[str, Any]) -> None:
    curves, front = brute_force(h, job_id)
    for curve in board["best_so_far"]:
        expected = curves.get(curve["strategy"], [])
        got = list(zip(curve["cost"], curve["accuracy"], curve["trial"], strict=True))
        assert [(pytest.approx(c), a, i) for c, a, i in expected] == got, curve["strategy"]
    got_front = list(zip(board["pareto"]["macs"], board["pareto"]["accuracy"], strict=True))
    assert got_front == front


def test_incremental_aggregates_equal_a_recomputation(h: Harness) -> None:
    rng = random.Random(7)
    job_id, store = h.job()
    board = h.board(job_id)
    pending: list[int] = []
    for step in range(60):
        if not pending or rng.random() < 0.5:
            trial = h.add(store, rng.choice(["grid", "random", "ds"]))
            store.mark_running(trial)
            pending.append(trial)
        else:
            trial = pending.pop(rng.randrange(len(pending)))
            kind = rng.random()
            accuracy = round(rng.uniform(0.5, 0.95), 2)  # ties happen
            macs = rng.choice([1000, 2000, 3000, 4000, 5000])
            if kind < 0.15:
                store.finish(trial, None, "boom")
            else:
                store.finish(trial, result(accuracy, macs, 1e9, pruned=kind < 0.3), None)
            if step % 9 == 0:  # a finish that sorts before the ones already folded
                with session_scope(h.repo.factory) as session:
                    first = session.scalar(
                        sa.select(sa.func.min(Trial.finished_at)).where(Trial.job_id == job_id)
                    )
                    assert first is not None
                    session.execute(
                        sa.update(Trial)
                        .where(Trial.id == trial)
                        .values(finished_at=first - timedelta(seconds=1))
                    )
        if step % 3 == 0:
            board = h.board(job_id, since=board["version"])
            check_aggregates(h, job_id, board)
    incremental = h.board(job_id, since=1)
    fresh = Harness(str(h.app.state.services.settings.database_url))
    recomputed = fresh.board(job_id)
    fresh.client.close()
    assert incremental["best_so_far"] == recomputed["best_so_far"]
    assert incremental["pareto"] == recomputed["pareto"]
    assert incremental["progress"] == recomputed["progress"]
    check_aggregates(h, job_id, recomputed)


def test_a_cursor_pages_through_more_trials_than_the_limit(h: Harness) -> None:
    job_id, store = h.job()
    ids = [h.add(store) for _ in range(10)]
    seen: list[int] = []
    board = h.board(job_id, limit=3)
    assert board["full"]
    pages = 1
    while True:
        seen += board["trials"]["id"]
        if board["next"] is None:
            break
        board = h.board(job_id, limit=3, **board["next"])
        pages += 1
    assert pages == 4 and sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_a_first_screen_has_the_best_ranked_trials_and_the_whole_summary(h: Harness) -> None:
    job_id, store = h.job()
    accuracies = [0.5, 0.9, 0.7, 0.9, 0.6, 0.8]
    ids = []
    for k, accuracy in enumerate(accuracies):
        trial = h.add(store, ["grid", "random"][k % 2])
        store.mark_running(trial)
        store.finish(trial, result(accuracy, 1000 * (k + 1), 1e9), None)
        ids.append(trial)
    failed = h.add(store)
    store.mark_running(failed)
    store.finish(failed, None, "boom")
    h.add(store)  # queued: neither ranked nor in a first screen

    everything = h.board(job_id)
    screen = h.board(job_id, top=3)
    assert screen["partial"] and screen["full"] and not everything["partial"]
    # the best three by the ranking's rule: most accurate, ties to the lower id
    assert screen["trials"]["id"] == [ids[1], ids[3], ids[5]]
    assert rows(screen)[ids[5]] == rows(everything)[ids[5]]
    for whole in ("version", "progress", "best_so_far", "pareto", "comparison", "job"):
        assert screen[whole] == everything[whole], whole
    assert screen["progress"]["total"] == 8
    assert h.board(job_id, top=3) == screen  # made once per version
    # as many as there are, or more: the full answer
    assert h.board(job_id, top=8) == everything
    # a first screen says nothing of what changed: since= answers as before
    assert h.board(job_id, since=screen["version"], top=3)["trials"]["id"] == []
    trial = h.add(store)
    later = h.board(job_id, top=3)
    assert later["version"] > screen["version"]
    assert later["trials"]["id"] == screen["trials"]["id"] and trial not in later["trials"]["id"]


def cold(h: Harness) -> None:
    """A fresh process's empty cache of leaderboards."""
    h.app.state.leaderboards = Leaderboards(h.repo.factory)


def test_a_cold_first_screen_reads_no_columns_and_equals_a_loaded_one(h: Harness) -> None:
    """The page's first request to a process that has not loaded the job builds its first
    screen from a narrow read (``load_first_screen``): the same answer as one cut from the
    loaded columns, byte for byte; what comes next loads the columns and agrees too."""
    job_id, store = h.job()
    rng = random.Random(5)
    path = [[None, (1.5, 2.5), (2.2, 2.2), (3.0, 3.0)]]
    for k in range(14):
        learns = k % 4 == 0
        trial = h.add(store, ["grid", "random", "ds"][k % 3], diffstride_spec() if learns else BASE)
        store.mark_running(trial)
        if k % 5 == 4:
            store.finish(trial, None, "boom " * 200)
        elif k < 12:
            # ties on purpose; the learning trials among the best
            accuracy = 0.9 + k / 1000 if learns else round(rng.uniform(0.5, 0.9), 2)
            store.finish(trial, result(accuracy, 1000 * (k + 1), 1e9, strides=path), None)
    h.add(store)  # queued

    def body(**params: Any) -> bytes:
        response = h.client.get(f"/api/v1/jobs/{job_id}/leaderboard", params=params)
        assert response.status_code == 200, response.text
        return response.content

    cold(h)
    board = h.app.state.leaderboards
    first = body(top=4)
    (loaded,) = board._boards.values()
    assert not loaded.version and loaded.screen is not None  # no columns read
    assert body(top=4) == first  # made once per version
    everything = body()
    assert loaded.version  # asking every trial loads the columns
    assert body(top=4) == first  # the loaded board cuts the very same first screen
    cold(h)
    assert body() == everything
    screen = json.loads(first)
    assert screen["partial"] and len(screen["trials"]["id"]) == 4
    assert "1-1.50x2.50-2.20-3.00" in screen["trials"]["stride_texts"]

    # a first screen read anew after a change, then the columns: both as a fresh load says
    trial = h.add(store, "random")
    store.mark_running(trial)
    cold(h)
    stale = body(top=4)
    store.finish(trial, result(0.95, 500, 1e9), None)
    fresh = json.loads(body(top=4))
    assert fresh["version"] > json.loads(stale)["version"]
    assert fresh["trials"]["id"][0] == trial
    after = body()
    cold(h)
    assert json.loads(body(top=4)) == fresh
    assert body() == after
    # a job of at most ``top`` trials: its columns at once, every trial in one answer
    cold(h)
    assert not json.loads(body(top=100))["partial"]
    assert next(iter(h.app.state.leaderboards._boards.values())).version


def test_bad_requests_are_4xx(h: Harness) -> None:
    job_id, _ = h.job()
    other_id, other = h.job()
    trial = h.add(other)
    c = h.client
    assert c.get("/api/v1/jobs/999999/leaderboard").status_code == 404
    for params in (
        {"since": -1},
        {"since": "x"},
        {"limit": 0},
        {"limit": 10**7},
        {"after": -1},
        {"since": 2**70},
        {"top": 0},
        {"top": 10**7},
    ):
        response = c.get(f"/api/v1/jobs/{job_id}/leaderboard", params=params)
        assert response.status_code == 422, (params, response.text)
    assert c.get("/api/v1/jobs/abc/leaderboard").status_code == 422
    huge = 10**30  # more than any database integer
    assert c.get(f"/api/v1/jobs/{huge}/leaderboard").status_code == 422
    assert c.get(f"/api/v1/jobs/{job_id}/trials/{huge}/strides").status_code == 422
    assert c.get(f"/jobs/{huge}").status_code == 422
    assert c.get("/", params={"offset": huge}).status_code == 422
    assert c.get(f"/api/v1/jobs/{2**31 - 1}/leaderboard").status_code == 404
    assert c.get(f"/api/v1/jobs/{2**31}/leaderboard").status_code == 422
    assert c.get(f"/api/v1/jobs/{job_id}/trials/{trial}/strides").status_code == 404
    assert c.get(f"/api/v1/jobs/999999/trials/{trial}/strides").status_code == 404
    assert c.get(f"/api/v1/jobs/{other_id}/trials/{trial}/strides").status_code == 200


def test_a_reused_job_id_is_another_job(h: Harness) -> None:
    job_id, store = h.job()
    h.add(store)
    h.add(store)
    old = h.board(job_id)
    h.repo.delete(job_id)
    new_id, new_store = h.job(name="second")
    new_trial = h.add(new_store)
    board = h.board(new_id)
    assert rows(board).keys() == {new_trial} and board["job"]["name"] == "second"
    assert old["job"]["created_at"] != board["job"]["created_at"]


def test_learned_strides_from_history_and_from_epoch_reports(h: Harness) -> None:
    job_id, store = h.job()
    path = [[None, (2.0, 2.0), (2.0, 2.0), (2.0, 2.0)], [None, (1.5, 2.5), (2.2, 2.2), (3.0, 3.0)]]
    done = h.add(store, "ds", diffstride_spec())
    store.mark_running(done)
    store.finish(done, result(0.8, 1000, 1e9, strides=path), None)
    running = h.add(store, "ds", diffstride_spec())
    store.mark_running(running)
    store.record_progress(running, report(1, path[0]))
    fixed = h.add(store, "ds")
    store.mark_running(fixed)
    store.finish(fixed, result(0.7, 1000, 1e9), None)

    got = h.client.get(f"/api/v1/jobs/{job_id}/trials/{done}/strides").json()
    assert got["state"] == "completed" and got["epoch"] == [1, 2] and got["stages"] == [1, 2, 3]
    assert got["h"] == [[2.0, 1.5], [2.0, 2.2], [2.0, 3.0]]
    assert got["w"] == [[2.0, 2.5], [2.0, 2.2], [2.0, 3.0]]
    live = h.client.get(f"/api/v1/jobs/{job_id}/trials/{running}/strides").json()
    assert live["state"] == "running" and live["epoch"] == [1] and live["h"][0] == [2.0]
    store.record_progress(running, report(2, path[1]))
    live = h.client.get(f"/api/v1/jobs/{job_id}/trials/{running}/strides").json()
    assert live["epoch"] == [1, 2] and live["w"][0] == [2.0, 2.5]
    none = h.client.get(f"/api/v1/jobs/{job_id}/trials/{fixed}/strides").json()
    assert none["stages"] == [] and none["epoch"] == []
    assert got["init"] == [[2.0, 2.0]] * 3 and live["init"] == [[2.0, 2.0]] * 3
    assert got["status"] is None and live["status"] is None  # a result from before readouts


def readout(init: float, learned: float, low: float, high: float) -> StrideReadout:
    return StrideReadout(
        init=(init, init),
        learned=(learned, learned),
        low=(low, low),
        high=(high, high),
        input_size=(28, 28),
        output_size=(14, 14),
    )


def test_a_stride_held_at_its_clamp_floor_is_not_called_learned(h: Harness) -> None:
    job_id, store = h.job()
    stages = [BASE.stages[0]] + [
        s.model_copy(update={"stride": (float(v), float(v)), "downsample": "diffstride"})
        for s, v in zip(BASE.stages[1:], (1, 2, 2), strict=True)
    ]
    spec = BASE.with_stages(stages)
    path = [[None, (28 / 24, 28 / 24), (2.0, 2.0), (2.0, 2.0)]] * 2
    path[1] = [None, (28 / 24, 28 / 24), (2.6, 2.6), (2.02, 2.02)]
    done = h.add(store, "ds", spec)
    store.mark_running(done)
    readouts = [
        None,
        readout(1.0, 28 / 24, 28 / 24, 14.0),  # raised to the floor by the clamp: held
        readout(2.0, 2.6, 14 / 10, 7.0),  # moved: learned
        readout(2.0, 2.02, 8 / 4, 4.0),  # init at its floor, stayed: held there
    ]
    finished = result(0.8, 1000, 1e9, strides=path).model_copy(update={"stride_readout": readouts})
    store.finish(done, finished, None)
    got = h.client.get(f"/api/v1/jobs/{job_id}/trials/{done}/strides").json()
    assert got["stages"] == [1, 2, 3]
    assert got["init"] == [[1.0, 1.0], [2.0, 2.0], [2.0, 2.0]]
    assert got["status"] == [
        ["held at floor", "held at floor"],
        ["learned", "learned"],
        ["held at floor", "held at floor"],
    ]
    assert got["low"][0] == pytest.approx([28 / 24, 28 / 24])
    assert got["h"][0] == pytest.approx([28 / 24, 28 / 24])  # both trajectories are shown
    listed = h.client.get(f"/api/v1/jobs/{job_id}/trials").json()["items"]
    (row,) = [t for t in listed if t["id"] == done]
    assert row["stride_status"] == [None, *got["status"]]


def test_openapi_documents_the_leaderboard(h: Harness) -> None:
    schema = h.client.get("/openapi.json").json()
    for path, model in [
        ("/api/v1/jobs/{job_id}/leaderboard", "LeaderboardOut"),
        ("/api/v1/jobs/{job_id}/trials/{trial_id}/strides", "StrideTrajectory"),
    ]:
        ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"]["$ref"].endswith(f"/{model}")
    assert "TrialColumns" in schema["components"]["schemas"]


def test_reads_can_require_a_key(migrated_url: str) -> None:
    harness = Harness(migrated_url, api_keys="k1", reads_require_key=True)
    with harness.client as c:
        job_id, _ = harness.job()
        for path in (f"/api/v1/jobs/{job_id}/leaderboard", f"/jobs/{job_id}", "/"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"Authorization": "Bearer k1"}).status_code == 200, path
        assert c.get("/static/app.css").status_code == 200  # assets hold no data


def test_non_finite_values_never_reach_the_json(h: Harness) -> None:
    job_id, store = h.job()
    trial = h.add(store)
    store.mark_running(trial)
    store.finish(trial, result(math.nan, 1000, math.inf), None)
    board = h.board(job_id)
    assert rows(board)[trial]["accuracy"] is None and rows(board)[trial]["cost_flops"] is None


@pytest.mark.parametrize("enabled", [True, False])
def test_a_build_pauses_garbage_collection_and_restores_it(h: Harness, enabled: bool) -> None:
    job_id, store = h.job()
    h.add(store, "grid")
    seen: list[bool] = []
    real = leaderboard_module.Leaderboard._update

    def spy(self: leaderboard_module.Leaderboard, *args: Any) -> None:
        seen.append(gc.isenabled())
        real(self, *args)

    try:
        (gc.enable if enabled else gc.disable)()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(leaderboard_module.Leaderboard, "_update", spy)
            h.board(job_id)
        assert seen == [False] and gc.isenabled() is enabled
    finally:
        gc.enable()
