"""The leaderboard page in Chromium folds the skipped proposals (over budget, never run): a count
and a toggle instead of rows by default; the strategies table counts them apart and its stop
reasons read true; a validation set too small for a target says so instead of one."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Server, screenshot
from tests.browser.test_leaderboard_page import Trials, column, open_board, row
from workers.jobs.store import BudgetUse

STOPPED = "budget: 2 of 7 proposals affordable"


def test_skipped_proposals_fold_behind_a_count_and_a_toggle(server: Server, page: Any) -> None:
    job_id = server.create_job(name="mostly over budget")  # 20 validation images
    t = Trials(server, job_id)
    ran = [t.finished("grid", 0.9, 2_000_000), t.finished("grid", 0.8, 1_000_000)]
    skipped = []
    for k in range(5):
        trial = t.add("grid")
        t.store.skip(trial, f"over budget: needs {1.05 + k:.2f} base epochs, 0.98 left")
        skipped.append(trial)
    ran.append(t.finished("random", 0.85, 1_500_000))
    failed = t.add("random")
    t.store.mark_running(failed)
    t.store.finish(failed, None, "RuntimeError: boom")
    use = BudgetUse(unit="flops", budget=4e12, spent=3e12, trials=7, stopped=STOPPED, fraction=1)
    t.store.record_budget({"grid": use})
    open_board(page, server, job_id)

    shown = [int(i) for i in page.eval_on_selector_all(
        "#trials-body tr.trial", "rows => rows.map(r => r.dataset.trialId)"
    )]  # fmt: skip
    assert shown == [ran[0], ran[2], ran[1], failed]  # ranked first, then the unranked by id
    assert column(page, "rank") == ["1", "2", "3", ""]
    toggle = page.locator("#toggle-skipped")
    assert toggle.is_visible() and toggle.text_content() == "5 skipped proposals hidden · show"
    assert toggle.get_attribute("aria-pressed") == "false"
    assert (
        "5 skipped proposals (over budget, never run)"
        in page.locator("#progress-text").text_content()
    )

    toggle.click()
    assert page.locator("#trials-body tr.trial").count() == 9
    assert toggle.text_content() == "hide 5 skipped proposals"
    for k, trial in enumerate(skipped):
        cells = row(page, trial)
        assert cells.locator('td[data-key="rank"]').text_content() == ""  # never ranked
        detail = cells.locator('td[data-key="detail"]').text_content()
        assert detail == f"over budget: needs {1.05 + k:.2f} base epochs, 0.98 left"
    screenshot(page, "leaderboard-skipped-shown")
    toggle.click()
    assert page.locator("#trials-body tr.trial").count() == 4

    page.select_option("#filter-state", "skipped")  # asking for them shows them
    assert page.locator("#trials-body tr.trial").count() == 5
    assert toggle.is_hidden()
    page.select_option("#filter-state", "")
    assert page.locator("#trials-body tr.trial").count() == 4 and toggle.is_visible()

    grid = page.locator('#strategies-body tr[data-strategy="grid"]')
    assert grid.locator('td[data-key="done"]').text_content() == "2 / 2 + 5 skipped"
    assert grid.locator('td[data-key="stopped"]').text_content() == STOPPED
    line = page.locator("#target-line").text_content()
    assert line == (
        "No target: 20 validation images cannot tell trials apart: 2 standard errors at "
        "90.00% are 13.4 points (over 10)"
    )
    assert grid.locator('td[data-key="target"]').text_content() == "–"
    assert not page.errors
    screenshot(page, "leaderboard-skipped-folded")


def test_a_job_without_skips_shows_no_toggle(server: Server, page: Any) -> None:
    job_id = server.create_job(name="all affordable")
    Trials(server, job_id).finished("grid", 0.9, 1_000_000)
    open_board(page, server, job_id)
    assert page.locator("#toggle-skipped").is_hidden()
    assert page.locator("#trials-body tr.trial").count() == 1
    assert not page.errors


def test_a_repeated_strategy_counts_its_skips_apart_too(server: Server, page: Any) -> None:
    job_id = server.create_job(name="repeated", strategies=["grid"], repeats=2)
    t = Trials(server, job_id)
    for r, skips in ((0, 3), (1, 1)):
        t.finished(f"grid/r{r}", 0.8 + r / 100, 1_000_000)
        for _ in range(skips):
            t.store.skip(t.add(f"grid/r{r}"), "over budget: needs 2.00 base epochs, 0.50 left")
    open_board(page, server, job_id)
    series = page.locator('#strategies-body tr.series[data-series="grid"]')
    assert series.locator('td[data-key="done"]').text_content() == "2 / 2 + 4 skipped"
    run = page.locator('#strategies-body tr[data-strategy="grid/r0"]')
    assert run.locator('td[data-key="done"]').text_content() == "1 / 1 + 3 skipped"
    assert not page.errors
