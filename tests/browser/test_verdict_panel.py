"""The leaderboard page's verdict panel in Chromium: who is ahead of whom at equal compute, no
claim with one repeat, names kept as text, and a verdict that follows the job without a reload."""

from __future__ import annotations

from typing import Any

import httpx

from tests.browser.conftest import Server, screenshot
from tests.browser.test_leaderboard_page import EVIL, READY, Trials


def points(value: float) -> str:
    """An accuracy difference as the panel shows it: signed points, a true minus sign."""
    return ("+" if value >= 0 else "−") + f"{abs(100 * value):.2f}"


VERDICT_READY = "document.getElementById('verdict').dataset.ready === 'true'"


def repeated_job(server: Server, repeats: int = 5) -> tuple[int, Trials]:
    """grid (0.90-0.94) and TPE (0.91-0.95) well ahead of random (0.70-0.74), at equal cost."""
    strategies: list[Any] = ["grid", {"name": "optuna", "label": "tpe"}, "random"]
    job_id = server.create_job(name="verdict demo", strategies=strategies, repeats=repeats)
    t = Trials(server, job_id)
    for r in range(repeats):
        for key, accuracy in (("grid", 0.90), ("tpe", 0.91), ("random", 0.70)):
            t.finished(f"{key}/r{r}", accuracy + 0.01 * r, 2_000_000)
    return job_id, t


def open_verdict(page: Any, server: Server, job_id: int) -> None:
    page.goto(f"{server.url}/jobs/{job_id}")
    page.wait_for_function(READY, timeout=20_000)
    page.wait_for_function(VERDICT_READY, timeout=20_000)


def pair_rows(page: Any) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "#verdict-body tr",
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(td => td.textContent))",
    )
    return rows


def test_the_panel_says_who_is_ahead_with_the_numbers(server: Server, page: Any) -> None:
    job_id, _ = repeated_job(server)
    open_verdict(page, server, job_id)
    panel = page.locator("#verdict")
    panel.scroll_into_view_if_needed()
    screenshot(page, "verdict-panel")
    assert page.locator("#verdict-says").text_content() == (
        "grid ahead of random (p = 0.024); tpe ahead of random (p = 0.024); the other pair not "
        "distinguishable"
    )
    note = page.locator("#verdict-note").text_content()
    assert note == "5 runs per strategy · provisional: the job is still running"
    served = httpx.get(f"{server.url}/api/v1/jobs/{job_id}/verdict").json()
    intervals = [
        f"{points(p['effect'])} ({points(p['effect_low'])} to {points(p['effect_high'])})"
        for p in served["pairs"]
    ]
    assert pair_rows(page) == [
        ["grid vs tpe", "−18 / 50", "0.44", "0.44", intervals[0], "not distinguishable"],
        ["grid vs random", "+50 / 50", "0.0079", "0.024", intervals[1], "grid ahead"],
        ["tpe vs random", "+50 / 50", "0.0079", "0.024", intervals[2], "tpe ahead"],
    ]
    # the effects in points: -1, +20 and +21 (every difference of a pair is within 4 points)
    assert [i.split(" ")[0] for i in intervals] == ["−1.00", "+20.00", "+21.00"]
    assert page.locator("#verdict-pairs").is_visible()
    assert page.locator("#verdict-test").text_content().startswith("Test: each run scored")
    assert not page.errors


def test_one_repeat_shows_no_claim_and_no_pairs(server: Server, page: Any) -> None:
    job_id = server.create_job(name="single", strategies=["grid", "random"])
    t = Trials(server, job_id)
    t.finished("grid", 0.9, 1_000_000)
    t.finished("random", 0.5, 1_000_000)
    open_verdict(page, server, job_id)
    screenshot(page, "verdict-no-claim")
    assert page.locator("#verdict-says").text_content() == "no claim: one run per strategy"
    assert not page.locator("#verdict-pairs").is_visible()
    assert "repeats: N" in page.locator("#verdict-test").text_content()
    assert not page.errors


def test_the_verdict_follows_the_job_and_keeps_names_as_text(server: Server, page: Any) -> None:
    label = EVIL[:60]
    job_id = server.create_job(
        name="evil labels", strategies=["grid", {"name": "random", "label": label}], repeats=4
    )
    t = Trials(server, job_id)
    for r in range(4):
        t.finished(f"grid/r{r}", 0.9, 1_000_000)
    open_verdict(page, server, job_id)
    assert page.locator("#verdict-says").text_content().startswith("no claim yet")
    for r in range(4):
        t.finished(f"{label}/r{r}", 0.6, 1_000_000)
    page.wait_for_function(
        "document.getElementById('verdict-says').textContent.startsWith('grid ahead')",
        timeout=20_000,
    )
    assert pair_rows(page)[0][0] == f"grid vs {label}"
    assert page.evaluate("window.__xss") is None
    assert page.locator("#verdict img").count() == 0
    assert not page.errors


def test_too_few_runs_for_any_pair_say_so_once(server: Server, page: Any) -> None:
    # 2 runs a side: 6 relabelings, so no p can be below 2/6 (the make run demo's case)
    job_id, _ = repeated_job(server, repeats=2)
    open_verdict(page, server, job_id)
    text = page.locator("#verdict-test").text_content()
    assert text.endswith(
        "With 2 runs per strategy no pair can reach p < 0.05 (the smallest p these runs allow "
        "is 0.33): add repeats."
    ), text
    assert page.locator("#verdict-says").text_content().startswith("not distinguishable")
    assert not page.errors


def test_a_trade_off_is_shown_as_one(server: Server, page: Any) -> None:
    """grid answers on a ninth of random's compute and worse: the test cannot tell them apart
    (each is ahead at its own cost), the interval can: the row names the trade-off."""
    strategies: list[Any] = ["grid", "random"]
    job_id = server.create_job(name="trade-off", strategies=strategies, repeats=4)
    t = Trials(server, job_id)
    for r in range(4):
        t.finished(f"grid/r{r}", 0.70 + 0.001 * r, 1_000_000)
        t.finished(f"random/r{r}", 0.90 + 0.001 * r, 9_000_000)
    open_verdict(page, server, job_id)
    served = httpx.get(f"{server.url}/api/v1/jobs/{job_id}/verdict").json()
    assert served["pairs"][0]["trade_off"] == {"sooner": "grid", "better": "random"}
    (row,) = pair_rows(page)
    assert row[0] == "grid vs random"
    assert row[-1] == "not distinguishable: grid sooner, random better (a trade-off)"
    assert not page.errors
