"""The leaderboard page in Chromium: the per-strategy table (compute to target, AUC, trials,
best, min, max, latest accuracy, budget used) and the "why" view of a failed trial (its reason
and log, kept as text)."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Server, screenshot
from tests.browser.test_leaderboard_page import EVIL, Trials, open_board, row
from workers.jobs.store import BudgetUse


def cells(page: Any, strategy: str) -> dict[str, str]:
    found: dict[str, str] = page.eval_on_selector(
        f'#strategies-body tr[data-strategy="{strategy}"]',
        "tr => Object.fromEntries([...tr.querySelectorAll('td[data-key]')]"
        ".map(td => [td.dataset.key, td.textContent]))",
    )
    return found


def test_strategies_show_their_accuracy_spread_and_budget(server: Server, page: Any) -> None:
    job_id = server.create_job(name="spread", dataset={"name": "synthetic", "subset": 2000})
    t = Trials(server, job_id)
    t.finished("grid", 0.7, 1_000_000)
    best = t.finished("grid", 0.9, 2_000_000)
    t.finished("random", 0.6, 1_500_000)
    t.finished("grid", 0.8, 3_000_000)
    t.store.record_budget(
        {
            "grid": BudgetUse(
                unit="trials", budget=10, spent=3, trials=3, stopped=None, fraction=0.3
            ),
            "random": BudgetUse(
                unit="trials",
                budget=10,
                spent=10,
                trials=10,
                stopped="budget spent",
                fraction=1.0,
            ),
        }
    )
    open_board(page, server, job_id)
    assert cells(page, "grid") == {
        # the target: 90% less 2 SEs on 200 validation images (4.2 points); the 90% trial
        # reached it after 1 + 2 TFLOPs; AUC: 0.7 over 1-3 and 0.9 over 3-6 TFLOPs, of 6
        "target": "3.00 T",
        "auc": "68.33%",
        "done": "3 / 3",
        "best": f"90.00% (#{best})",
        "min": "70.00%",
        "max": "90.00%",
        "latest": "80.00%",
        "budget": "30.0%",
        "stopped": "",
    }
    assert cells(page, "random")["latest"] == "60.00%"
    assert cells(page, "random")["stopped"] == "budget spent"
    assert cells(page, "diffstride")["best"] == "–"  # nothing completed yet
    chip = page.locator("#strategy-chips [data-strategy-budget]").first
    assert chip.text_content() == "budget 30.0%"
    assert chip.get_attribute("title") == "3 of 10 trials"

    t.finished("grid", 0.5, 500_000)  # the page follows: min and latest move
    page.wait_for_function(
        """document.querySelector('#strategies-body tr[data-strategy="grid"] td[data-key=min]')
        ?.textContent === '50.00%'""",
        timeout=10_000,
    )
    assert cells(page, "grid")["latest"] == "50.00%"
    assert not page.errors


def test_why_shows_a_failed_trials_reason_and_log_as_text(server: Server, page: Any) -> None:
    job_id = server.create_job(name="why")
    t = Trials(server, job_id)
    t.finished("grid", 0.8, 1_000_000)
    failed = t.add("random")
    t.store.mark_running(failed)
    log = "loading data\n" + EVIL + "\nTraceback (most recent call last):\nValueError: the end"
    t.store.finish(failed, None, "ValueError: " + EVIL, log=log)
    open_board(page, server, job_id)
    assert not page.locator("#why").evaluate("d => d.open")

    row(page, failed).locator("button.why").click()
    page.wait_for_function(
        "document.getElementById('why-log').textContent.endsWith('the end')", timeout=10_000
    )
    assert page.locator("#why").evaluate("d => d.open")
    assert page.locator("#why-trial").text_content() == str(failed)
    assert page.locator("#why-meta").text_content() == "random #0 · failed · 1 attempt"
    assert page.locator("#why-error").text_content() == "ValueError: " + EVIL
    assert page.locator("#why-log").text_content() == log
    assert page.locator("#why img").count() == 0 and page.locator("#why script").count() == 0
    assert page.evaluate("window.__xss") is None
    screenshot(page, "why")
    page.click("#why-close")
    assert not page.locator("#why").evaluate("d => d.open")
    assert row(page, failed).locator("button.why").count() == 1
    assert page.locator("#trials-body button.why").count() == 1  # only the failed trial's
    assert not page.errors
