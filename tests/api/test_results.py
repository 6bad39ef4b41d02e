"""Results: trials as spreadsheet-safe CSV and JSON, strides per stage, compute to target (a
job's and several jobs' side by side), repeats grouped into one series; on SQLite and PostgreSQL
(trials written through the store)."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import pytest

from api.db.session import session_scope
from api.live_targets import (
    KeyRun,
    band_curve,
    live_target,
    series_of,
    validation_size,
)
from api.result_tables import COLUMNS, FORMULA_START
from api.store import SqlTrialStore, insert_trials
from api.strides import stage_strides, strides_text
from nas.compare import Step, quantile
from nas.job import DatasetRef, run_keys
from nas.models import preset
from nas.spec import ArchSpec
from tests.api.harness import BASE, Harness, diffstride_spec, result
from workers.jobs.store import BudgetUse

EVIL_NAME = '=cmd("calc"), "quoted", \n@SUM(A1)'
EVIL_SPEC = '=cmd("/c calc"),resnet:"x",+1'


# ---- strides per stage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet_narrow_fmnist", "efficientnet_b0", "mobilenet_v2", "inception_v3"]
)
def test_stage_strides_read_the_block_string_as_the_spec_parser_does(name: str) -> None:
    spec = preset(name)
    assert stage_strides(spec.to_string()) == spec.strides


def test_strides_text_shows_fixed_strides_and_learned_ones_with_two_decimals() -> None:
    odd = BASE.with_stages(
        [BASE.stages[0], BASE.stages[1].model_copy(update={"stride": (2.0, 1.0)}), *BASE.stages[2:]]
    )
    assert ArchSpec.from_string(odd.to_string()).strides[1] == (2.0, 1.0)
    assert strides_text(BASE.to_string()) == "1-2-2-2"
    assert strides_text(odd.to_string()) == "1-2x1-2-2"
    learned = [None, [1.634, 1.7], [2.4, 2.4], (3, 3)]
    assert strides_text(diffstride_spec().to_string(), learned) == "1-1.63x1.70-2.40-3.00"
    # a DiffStride trial that has not learned yet shows where it starts; junk is ignored
    assert strides_text(diffstride_spec().to_string(), [None, "x", [math.nan, 1], None]) == (
        "1-2-2-2"
    )
    assert strides_text("not a block string") is None


# ---- the target ------------------------------------------------------------------------------


def test_the_validation_size_is_drawn_as_the_split_draws_it() -> None:
    from workers.executors.trial_entry import load_dataset

    for ref in (
        DatasetRef(name="synthetic", subset=200),
        DatasetRef(name="synthetic", subset=333, val_fraction=0.15),
        DatasetRef(name="synthetic"),
        DatasetRef(name="synthetic", subset=5000),  # more than there are: all of them
    ):
        assert validation_size(ref.model_dump()) == load_dataset(ref).num_val, ref
    assert validation_size({"name": "fashion-mnist"}) == 6000
    assert validation_size({"name": "/data/mine", "subset": 1000, "val_fraction": 0.2}) == 200
    assert validation_size({"name": "/data/mine"}) is None


def test_the_target_is_the_best_less_two_standard_errors_or_half_a_point() -> None:
    target = live_target(0.9, 100, best_trial=7)
    assert target.margin == pytest.approx(2 * math.sqrt(0.9 * 0.1 / 100))  # 0.06
    assert target.value == pytest.approx(0.84) and target.best_trial == 7
    assert live_target(0.9, 1_000_000).margin == 0.005  # many images: half a point
    assert live_target(0.9, None).value == pytest.approx(0.895)  # unknown size: half a point
    assert live_target(None, 100).value is None


def test_quantiles_count_a_run_that_never_got_there_as_last() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0, 5.0], 0.25) == 2.0
    assert quantile([1.0, math.inf, math.inf], 0.5) == math.inf
    assert quantile([1.0, 3.0, math.inf], 0.25) == 2.0
    assert quantile([1.0, 3.0, math.inf], 0.75) == math.inf


def test_quantiles_count_a_run_with_no_result_yet_as_first() -> None:
    # higher is better (accuracies): -inf marks a run with nothing to recommend yet
    assert quantile([-math.inf, 0.5, 0.7, 0.9], 0.25) == -math.inf
    assert quantile([-math.inf, 0.5, 0.7, 0.9], 0.5) == pytest.approx(0.6)
    assert quantile([-math.inf, -math.inf, math.inf], 0.75) == math.inf


def test_repeat_keys_belong_to_their_strategy() -> None:
    keys = run_keys(["grid", "random", "grid x"], 4)  # the job's, as JobSpec.run_keys gives them
    assert series_of("grid/r3", keys) == ("grid", 3)
    assert series_of("grid", keys) == ("grid", None)
    assert series_of("other/r1", keys) == ("other/r1", None)  # not a strategy of the job
    assert series_of("grid x/r0", keys) == ("grid x", 0)


def test_a_band_is_the_median_and_min_max_or_the_iqr_from_five_runs() -> None:
    def run(key: str, *steps: tuple[float, float | None]) -> KeyRun:
        return KeyRun(key, [Step(c, a, a) for c, a in steps], list(range(len(steps))))

    runs = [
        run("g/r0", (1, 0.5), (1, 0.7)),  # best 0.5 from 1, 0.7 from 2
        run("g/r1", (2, 0.6), (2, None)),  # 0.6 from 2, spent 4
        run("g/r2", (3, 0.9)),  # 0.9 from 3
    ]
    curve = band_curve(runs, "min-max")
    # at 1 only one run of three has a best: not shown until two have
    assert curve.cost == [2, 3, 4]
    assert curve.accuracy == [pytest.approx(0.65), 0.7, 0.7]
    assert curve.low == [0.6, 0.6, 0.6] and curve.high == [0.7, 0.9, 0.9]
    five = [run(f"g/r{k}", (1, a)) for k, a in enumerate([0.1, 0.2, 0.3, 0.4, 0.5])]
    iqr = band_curve(five, "iqr")
    assert (iqr.cost, iqr.accuracy, iqr.low, iqr.high) == ([1], [0.3], [0.2], [0.4])


# ---- exports ---------------------------------------------------------------------------------


def finished(h: Harness, store: SqlTrialStore, strategy: str, accuracy: float, **kw: Any) -> int:
    trial = h.add(store, strategy, kw.pop("spec", BASE))
    store.mark_running(trial)
    store.finish(trial, result(accuracy, 1000, kw.pop("cost", 1e9), **kw), None)
    return trial


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_trials_export_as_spreadsheet_safe_csv_and_as_json(h: Harness) -> None:
    job_id, store = h.job(name=EVIL_NAME)
    plain = finished(h, store, "grid", 0.8)
    learned = finished(
        h,
        store,
        "ds",
        0.75,
        spec=diffstride_spec(),
        strides=[[None, (2.0, 2.0), (2.0, 2.0), (2.0, 2.0)], [None, (1.6, 1.7), (2.4, 2.4), None]],
    )
    failed = h.add(store, "random")
    store.mark_running(failed)
    store.finish(failed, None, "-1 is not a stride, see +cmd|' /C calc'!A0\n\tat line 2")
    with session_scope(h.repo.factory) as session:  # an imported row: any text at all
        (odd,) = insert_trials(
            session,
            [
                {
                    "job_id": job_id,
                    "strategy": "@import",
                    "number": 0,
                    "state": "completed",
                    "spec": EVIL_SPEC,
                    "params": {"phase": "=HYPERLINK(1)"},
                    "accuracy": 0.5,
                    "request": {},
                }
            ],
        )

    response = h.client.get(f"/api/v1/jobs/{job_id}/trials.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="job-{job_id}-trials.csv"'
    )
    assert response.text.splitlines()[0] == ",".join(COLUMNS)
    rows = {int(r["id"]): r for r in parse_csv(response.text)}
    assert list(rows) == [plain, learned, failed, odd]
    # no text cell starts like a formula: it gets a leading quote, the text kept whole after it
    for row in rows.values():
        for name, cell in row.items():
            assert not cell.startswith(FORMULA_START), (name, cell)
        assert row["job_name"] == "'" + EVIL_NAME
    assert rows[odd]["spec"] == "'" + EVIL_SPEC and rows[odd]["strategy"] == "'@import"
    assert rows[odd]["phase"] == "'=HYPERLINK(1)" and rows[odd]["strides"] == ""
    assert rows[failed]["error"].startswith("'-1 is not a stride, see +cmd|")
    assert rows[failed]["error"].endswith("\n\tat line 2") and rows[failed]["state"] == "failed"
    assert rows[plain]["strides"] == "1-2-2-2" and rows[learned]["strides"] == "1-1.60x1.70-2.40-2"
    assert rows[plain]["accuracy"] == "0.8" and rows[plain]["params"] == "100"
    assert rows[plain]["cost_flops"] == "1000000000.0" and rows[plain]["accuracy"] != ""
    assert rows[failed]["accuracy"] == "" and rows[plain]["repeat"] == ""
    assert '"\'=cmd(""calc""), ""quoted"", \n@SUM(A1)"' in response.text  # quoted by csv

    body = h.client.get(f"/api/v1/jobs/{job_id}/trials.json")
    assert body.status_code == 200 and body.headers["content-type"] == "application/json"
    as_json = {r["id"]: r for r in body.json()}
    assert list(as_json) == [plain, learned, failed, odd]
    assert list(as_json[plain]) == list(COLUMNS)
    assert as_json[plain]["job_name"] == EVIL_NAME  # JSON is data: kept as it is
    assert as_json[odd]["spec"] == EVIL_SPEC
    assert as_json[learned]["strides"] == "1-1.60x1.70-2.40-2"
    assert as_json[plain]["accuracy"] == 0.8 and as_json[failed]["accuracy"] is None

    for suffix in ("csv", "json"):
        assert h.client.get(f"/api/v1/jobs/424242/trials.{suffix}").status_code == 404
        assert h.client.get(f"/api/v1/jobs/-1/trials.{suffix}").status_code == 422
    empty_id, _ = h.job()
    assert h.client.get(f"/api/v1/jobs/{empty_id}/trials.json").json() == []
    assert h.client.get(f"/api/v1/jobs/{empty_id}/trials.csv").text.strip() == ",".join(COLUMNS)


def test_an_export_reads_a_big_job_in_batches(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    import api.result_tables

    monkeypatch.setattr(api.result_tables, "BATCH", 3)
    job_id, store = h.job(strategies=["grid"], repeats=2)
    ids = [finished(h, store, f"grid/r{k % 2}", 0.5 + k / 100) for k in range(8)]
    rows = h.client.get(f"/api/v1/jobs/{job_id}/trials.json").json()
    assert [r["id"] for r in rows] == ids
    assert [r["repeat"] for r in rows] == [0, 1] * 4
    assert [r["id"] for r in parse_csv(h.client.get(f"/api/v1/jobs/{job_id}/trials.csv").text)] == [
        str(i) for i in ids
    ]


def test_the_leaderboard_sends_each_trials_strides(h: Harness) -> None:
    job_id, store = h.job()
    plain = finished(h, store, "grid", 0.8)
    learned = finished(
        h,
        store,
        "ds",
        0.7,
        spec=diffstride_spec(),
        strides=[[None, (2.0, 2.0), (2.0, 2.0), (2.0, 2.0)], [None, (1.5, 1.5), (2.0, 2.0), None]],
    )
    queued = h.add(store, "ds", diffstride_spec())
    board = h.board(job_id)
    texts = board["trials"]["stride_texts"]
    by_id = dict(zip(board["trials"]["id"], board["trials"]["strides"], strict=True))
    assert texts[by_id[plain]] == "1-2-2-2"
    assert texts[by_id[learned]] == "1-1.50-2.00-2"
    assert texts[by_id[queued]] == "1-2-2-2"
    listed = h.client.get(f"/api/v1/jobs/{job_id}/trials", params={"sort": "id"}).json()
    assert [t["strides"] for t in listed["items"]] == ["1-2-2-2", "1-1.50-2.00-2", "1-2-2-2"]


# ---- compute to target -----------------------------------------------------------------------


def test_compute_to_target_per_strategy_in_base_epochs(h: Harness) -> None:
    # 1,000 images: 100 validation images, so the margin is 2 SEs of 0.9: 6 points
    job_id, store = h.job(
        dataset={"name": "synthetic", "subset": 1000},
        budget={"unit": "base_epochs", "total": 30, "epochs_per_trial": 2},
    )
    grid = [finished(h, store, "grid", 0.7, cost=1e8)]
    failed = h.add(store, "grid")
    store.mark_running(failed)
    store.finish(failed, None, "boom")  # charged nothing
    grid.append(finished(h, store, "grid", 0.85, cost=3e8))  # reaches 0.84
    grid.append(finished(h, store, "grid", 0.9, cost=1e8))
    finished(h, store, "random", 0.8, cost=2e8)
    finished(h, store, "random", 0.83, cost=2e8, pruned=True)  # pruned: cost only
    use = BudgetUse(unit="flops", budget=2e9, spent=5e8, trials=4, fraction=0.25)
    store.record_budget({"grid": use, "random": use, "ds": use})

    found = h.client.get(f"/api/v1/jobs/{job_id}/comparison").json()
    assert found["target"]["n_val"] == 100 and found["target"]["best_trial"] == grid[2]
    assert found["target"]["value"] == pytest.approx(0.84)
    # a share of 30 / 3 = 10 base epochs is 2e9 FLOPs: one base epoch is 2e8
    assert found["unit"] == "base_epochs" and found["unit_flops"] == pytest.approx(2e8)
    assert found["horizon"] == 2e9
    series = {s["strategy"]: s for s in found["series"]}
    assert list(series) == ["grid", "random", "ds"]
    assert series["grid"]["compute_to_target"] == pytest.approx(2.0)  # (1 + 0 + 3) e8
    assert series["grid"]["keys"][0]["reached_by"] == grid[1]
    assert series["grid"]["reached"] == 1 and series["grid"]["runs"] == 1
    # mean best-so-far over 2e9: 0 to 1e8, 0.7 to 4e8, 0.85 to 5e8, then 0.9
    assert series["grid"]["auc"] == pytest.approx((0.7 * 3e8 + 0.85 * 1e8 + 0.9 * 15e8) / 2e9)
    assert series["random"]["compute_to_target"] is None and series["random"]["reached"] == 0
    assert series["random"]["keys"][0]["spent"] == pytest.approx(2.0)
    assert series["ds"]["auc"] == 0.0 and series["grid"]["curve"] is None
    # the leaderboard carries the same comparison, and sends it only when something changed
    board = h.board(job_id)
    assert board["comparison"] == found
    assert h.board(job_id, since=board["version"])["comparison"] is None


def test_without_a_kept_budget_compute_counts_flops(h: Harness) -> None:
    job_id, store = h.job(dataset={"name": "synthetic", "subset": 2000})  # it counts trials
    finished(h, store, "grid", 0.6, cost=4e9)
    found = h.client.get(f"/api/v1/jobs/{job_id}/comparison").json()
    assert found["unit"] == "flops" and found["unit_flops"] == 1.0
    assert found["horizon"] == 4e9  # the most any strategy spent
    assert found["series"][0]["compute_to_target"] == 4e9
    assert found["target"]["n_val"] == 200  # 10% of a subset of 2,000
    empty_id, _ = h.job()
    empty = h.client.get(f"/api/v1/jobs/{empty_id}/comparison").json()
    assert empty["target"]["value"] is None and empty["horizon"] is None
    assert h.client.get("/api/v1/jobs/424242/comparison").status_code == 404


def test_repeats_form_one_series_with_a_median_and_a_band(h: Harness) -> None:
    job_id, store = h.job(
        strategies=["grid", "random"], repeats=3, dataset={"name": "synthetic", "subset": 2000}
    )
    finished(h, store, "grid/r0", 0.6, cost=1e9)
    finished(h, store, "grid/r0", 0.88, cost=1e9)
    finished(h, store, "grid/r1", 0.7, cost=1e9)
    finished(h, store, "grid/r2", 0.9, cost=3e9)
    finished(h, store, "random/r0", 0.5, cost=1e9)
    board = h.board(job_id)
    keys = ["grid/r0", "grid/r1", "grid/r2", "random/r0", "random/r1", "random/r2"]
    assert board["strategies"] == keys
    assert board["job"]["strategies"] == keys
    progress = h.client.get(f"/api/v1/jobs/{job_id}/progress").json()
    assert list(progress["strategies"]) == keys
    series = {s["strategy"]: s for s in board["comparison"]["series"]}
    assert list(series) == ["grid", "random"]
    grid = series["grid"]
    assert [k["key"] for k in grid["keys"]] == ["grid/r0", "grid/r1", "grid/r2"]
    assert grid["runs"] == 3 and grid["band"] == "min-max"
    # target: 0.9 on 200 validation images less 2 SEs (4.2 points): 0.858
    assert board["comparison"]["target"]["value"] == pytest.approx(0.9 - 2 * math.sqrt(0.00045))
    assert [k["compute_to_target"] for k in grid["keys"]] == [2e9, None, 3e9]
    assert grid["reached"] == 2 and grid["compute_to_target"] == 3e9  # the median run's
    assert grid["q1"] == 2.5e9 and grid["q3"] is None  # the IQR's top: not reached
    curve = grid["curve"]
    assert curve["cost"] == [1e9, 2e9, 3e9]
    # at 1e9: r0 0.6 and r1 0.7; at 2e9: r0 0.88 and r1 0.7; at 3e9 r2's 0.9 joins
    assert curve["accuracy"] == [pytest.approx(0.65), pytest.approx(0.79), 0.88]
    assert curve["low"] == [0.6, 0.7, 0.7] and curve["high"] == [0.7, 0.88, 0.9]
    assert series["random"]["runs"] == 3 and series["random"]["reached"] == 0


# ---- several jobs side by side ---------------------------------------------------------------


def test_jobs_on_the_same_data_are_compared_against_one_target(h: Harness) -> None:
    data = {"name": "synthetic", "subset": 2000}  # 200 validation images
    first, a = h.job(name="first", dataset=data)
    second, b = h.job(name="second", strategies=["grid", "random"], repeats=2, dataset=data)
    finished(h, a, "grid", 0.88, cost=1e9)
    finished(h, b, "grid/r0", 0.9, cost=2e9)
    finished(h, b, "grid/r1", 0.7, cost=1e9)
    response = h.client.get("/api/v1/compare", params={"jobs": f"{first},{second}"})
    assert response.status_code == 200, response.text
    found = response.json()
    assert [j["name"] for j in found["jobs"]] == ["first", "second"]
    assert found["target"]["best_job"] == second and found["target"]["best"] == 0.9
    rows = {(s["job"], s["strategy"]): s for s in found["series"]}
    assert list(rows) == [
        (first, "grid"),
        (first, "random"),
        (first, "ds"),
        (second, "grid"),
        (second, "random"),
    ]
    assert rows[first, "grid"]["curve"]["accuracy"] == [0.88]  # every series has its curve
    assert rows[second, "grid"]["band"] == "min-max" and rows[second, "grid"]["runs"] == 2
    assert rows[first, "grid"]["compute_to_target"] == 1e9  # 0.88 >= 0.9 - 0.042
    # a form's checkboxes send the ids one by one: the same answer
    again = h.client.get(f"/api/v1/compare?jobs={first}&jobs={second}").json()
    assert again == found


@pytest.mark.parametrize(
    ("jobs", "status", "message"),
    [
        ("{a}", 422, "name 2 to 8 different jobs"),
        ("{a},{a}", 422, "name 2 to 8 different jobs"),
        ("{a},x", 422, "'x' is not a job id"),
        ("{a},99999999999", 422, "is not a job id"),
        ("{a},424242", 404, "no job 424242"),
        ("{a},{other}", 422, "are on different data (synthetic, subset 200, "),
        ("1," * 150, 422, "at most 200 characters"),
    ],
)
def test_bad_comparisons_say_why(h: Harness, jobs: str, status: int, message: str) -> None:
    a, _ = h.job()
    other, _ = h.job(dataset={"name": "synthetic", "subset": 300})
    response = h.client.get("/api/v1/compare", params={"jobs": jobs.format(a=a, other=other)})
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    text = detail if isinstance(detail, str) else detail[0]["message"]
    assert message in text
    if status == 422:
        assert detail[0]["field"] == "jobs"
    assert h.client.get("/api/v1/compare").status_code == 422


# ---- the pages -------------------------------------------------------------------------------

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_the_compare_page_escapes_names_and_says_what_is_wrong(h: Harness) -> None:
    a, _ = h.job(name=EVIL)
    b, _ = h.job(name="plain")
    page = h.client.get(f"/compare?jobs={a},{b}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert EVIL not in page.text and "&lt;script&gt;alert(" in page.text
    assert f'data-api="/api/v1/compare?jobs={a},{b}"' in page.text
    assert f'href="/jobs/{b}"' in page.text
    assert "/static/compare.js" in page.text and "/static/charts.js" in page.text

    missing = h.client.get(f"/compare?jobs={a},424242")
    assert missing.status_code == 404 and "No job 424242" in missing.text
    other, _ = h.job(dataset={"name": "synthetic", "subset": 300})
    different = h.client.get(f"/compare?jobs={a},{other}")
    assert different.status_code == 422
    assert "are on different data" in different.text and "<html" in different.text
    assert h.client.get("/compare?jobs=1").status_code == 422
    assert h.client.get("/compare").status_code == 422


def test_the_jobs_page_ticks_jobs_to_compare_and_the_job_page_downloads(h: Harness) -> None:
    job_id, _ = h.job()
    listing = h.client.get("/").text
    assert 'action="/compare"' in listing
    assert f'<input type="checkbox" name="jobs" value="{job_id}"' in listing
    page = h.client.get(f"/jobs/{job_id}").text
    assert f'href="/api/v1/jobs/{job_id}/trials.csv" download' in page
    assert f'href="/api/v1/jobs/{job_id}/trials.json" download' in page


def test_a_job_spec_with_unknown_repeats_still_groups_by_key(h: Harness) -> None:
    """Trials written under repeat keys group even when the stored job does not say it repeats
    (e.g. written by an older server): the key decides."""
    job_id, store = h.job(strategies=["grid"])
    finished(h, store, "grid/r0", 0.6)
    finished(h, store, "grid/r1", 0.7)
    series = h.client.get(f"/api/v1/jobs/{job_id}/comparison").json()["series"]
    assert [s["strategy"] for s in series] == ["grid"]
    assert [k["key"] for k in series[0]["keys"]] == ["grid", "grid/r0", "grid/r1"]
