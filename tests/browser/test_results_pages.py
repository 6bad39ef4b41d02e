"""The results in Chromium: the trials table's strides column and its downloads, compute to
target as the strategies table's headline, a repeated strategy drawn as one median line in a
band, and the compare page reached from the jobs list (names kept as text)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from api.result_tables import COLUMNS
from tests.browser.conftest import Server, screenshot
from tests.browser.test_leaderboard_page import (
    COUNT_INK,
    EVIL,
    Trials,
    column,
    diffstride_spec,
    open_board,
)


def test_strides_column_and_downloads(server: Server, page: Any) -> None:
    job_id = server.create_job(name='=cmd("calc"), "x"')
    t = Trials(server, job_id)
    plain = t.finished("grid", 0.8, 1_000_000)
    learned = t.finished(
        "diffstride",
        0.7,
        2_000_000,
        spec=diffstride_spec(),
        strides=[[None, (2.0, 2.0), (2.0, 2.0), (2.0, 2.0)], [None, (1.6, 1.7), (2.4, 2.4), None]],
    )
    open_board(page, server, job_id)
    assert column(page, "strides") == ["1-2-2-2", "1-1.60x1.70-2.40-2"]

    with page.expect_download() as info:
        page.click("#download-csv")
    download = info.value
    assert download.suggested_filename == f"job-{job_id}-trials.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert list(rows[0]) == list(COLUMNS)
    assert [int(r["id"]) for r in rows] == [plain, learned]
    assert rows[0]["job_name"] == "'" + '=cmd("calc"), "x"'
    with page.expect_download() as info:
        page.click("#download-json")
    assert info.value.suggested_filename == f"job-{job_id}-trials.json"
    assert not page.errors


def test_repeats_draw_one_median_line_in_a_band(server: Server, page: Any) -> None:
    job_id = server.create_job(
        name="repeated",
        strategies=["grid", "random"],
        repeats=3,
        dataset={"name": "synthetic", "subset": 2000},  # 200 validation images
    )
    t = Trials(server, job_id)
    t.finished("grid/r0", 0.6, 1_000_000)
    t.finished("grid/r0", 0.88, 1_000_000)
    t.finished("grid/r1", 0.7, 1_000_000)
    t.finished("grid/r2", 0.9, 3_000_000)
    t.finished("random/r0", 0.5, 1_000_000)
    t.finished("random/r1", 0.55, 1_000_000)  # two of three runs: its median shows
    open_board(page, server, job_id)

    lines = page.evaluate(
        "() => window.leaderboard.charts.best.series.slice(1)"
        ".map(s => [s.label, s.band ? s.band.high : null, s.marker.fill])"
    )
    labels = [label for label, _, _ in lines]
    assert labels == ["grid (median of 3)", "random (median of 3)"]
    # min-max of the runs' best-so-far; 1 TFLOP = 1e12 (each trial: MACs x 1e6)
    assert lines[0][1] == [0.7, 0.88, 0.9]
    assert lines[0][2] != lines[1][2]  # one colour per strategy, its runs' too
    median = page.evaluate("() => window.leaderboard.charts.best.data[1][1]")
    assert [round(v, 9) for v in median] == [0.65, 0.79, 0.88]
    assert page.evaluate(COUNT_INK, "best") > 10

    # the strategies table: the series (median, runs reached) over each of its runs
    series = page.locator('#strategies-body tr[data-series="grid"]')
    assert series.locator("td").first.text_content() == "grid · median of 3 runs"
    target = series.locator('td[data-key="target"]').text_content()
    assert target == "3.00 T (IQR 2.50 T–not reached), 2 of 3 reached"
    repeats = page.eval_on_selector_all(
        "#strategies-body tr.repeat", "rows => rows.map(r => r.dataset.strategy)"
    )
    assert repeats == ["grid/r0", "grid/r1", "grid/r2", "random/r0", "random/r1", "random/r2"]
    runs = page.eval_on_selector_all(
        '#strategies-body tr.repeat td[data-key="target"]', "cells => cells.map(c => c.textContent)"
    )
    assert runs[:3] == ["2.00 T", "not reached", "3.00 T"]
    swatches = page.eval_on_selector_all(
        "#strategies-body tr.repeat .swatch", "s => s.map(x => x.style.background)"
    )
    assert len(set(swatches[:3])) == 1 and swatches[0] != swatches[3]
    line = page.locator("#target-line").text_content()
    assert line.startswith("Target 85.76%: the best, 90.00% (trial ")
    assert "2 standard errors on 200 validation images" in line
    assert not page.errors
    screenshot(page, "leaderboard-repeats")


def test_the_jobs_list_opens_a_comparison_of_the_ticked_jobs(server: Server, page: Any) -> None:
    data = {"name": "synthetic", "subset": 2000}  # 200 validation images
    first = server.create_job(name=EVIL, dataset=data)
    second = server.create_job(
        name="second", strategies=["grid", "random"], repeats=2, dataset=data
    )
    other = server.create_job(name="other data", dataset={"name": "synthetic", "subset": 300})
    a = Trials(server, first)
    a.finished("grid", 0.88, 1_000_000)
    a.finished("random", 0.7, 2_000_000)
    b = Trials(server, second)
    b.finished("grid/r0", 0.9, 2_000_000)
    b.finished("grid/r1", 0.6, 1_000_000)

    page.goto(server.url + "/")
    assert page.locator("#compare-button").is_disabled()
    page.check(f'#jobs input[name=jobs][value="{first}"]')
    assert page.locator("#compare-button").is_disabled()  # one job is not a comparison
    page.check(f'#jobs input[name=jobs][value="{second}"]')
    # the list refreshes itself every few seconds: the ticks stay
    page.wait_for_timeout(3500)
    assert page.locator(f'#jobs input[name=jobs][value="{first}"]').is_checked()
    page.click("#compare-button")
    page.wait_for_url(lambda url: "/compare?" in url)
    # the jobs list is newest first, and the compare page keeps the order it was given
    assert page.url.endswith(f"/compare?jobs={second}&jobs={first}")
    page.wait_for_function("document.body.dataset.ready === 'true'", timeout=20_000)

    assert page.evaluate("window.__xss") is None
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    assert EVIL in page.locator("#compare-jobs").text_content()
    labels = page.evaluate("() => window.compare.chart.series.slice(1).map(s => s.label)")
    assert labels == [f"job {second} · grid", f"job {first} · grid", f"job {first} · random"]
    bands = page.evaluate("() => window.compare.chart.series.slice(1).map(s => !!s.band)")
    assert bands == [True, False, False]  # the repeated strategy's runs in a band
    ink = COUNT_INK.replace("window.leaderboard.charts[name]", "window.compare.chart")
    assert page.evaluate(ink, "") > 10
    rows = page.eval_on_selector_all(
        "#compare-body tr",
        "rows => rows.map(r => [r.dataset.job, r.dataset.strategy,"
        " r.querySelector('td[data-key=target]').textContent,"
        " r.querySelector('td[data-key=reached]').textContent])",
    )
    # one target for all: 90% (job 2) less 2 SEs on 200 images, 85.8%; of the second job's
    # two grid runs one reached it: the median run did not
    assert rows == [
        [str(second), "grid", "not reached", "1 of 2"],
        [str(second), "random", "not reached", "0 of 2"],
        [str(first), "grid", "1.00 T", "1 of 1"],
        [str(first), "random", "not reached", "0 of 1"],
        [str(first), "diffstride", "not reached", "0 of 1"],
    ]
    assert f"(job {second}, trial " in page.locator("#target-line").text_content()
    assert not page.errors
    screenshot(page, "compare")

    page.goto(f"{server.url}/compare?jobs={first},{other}")
    assert "are on different data" in page.locator("main").text_content()
    page.goto(f"{server.url}/compare?jobs={first},424242")
    assert "No job 424242" in page.locator("main").text_content()
