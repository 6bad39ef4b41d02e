"""The leaderboard page in Chromium for a strategy that starts from another's recommendation
(``from``): waiting, it reads "waiting for diffstride" in the strategies table (not stopped,
not failed); started, its row and each of its trial rows name the trial its base is."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Server, screenshot
from tests.browser.test_leaderboard_page import Trials, open_board, row
from tests.browser.test_why_view import cells
from workers.jobs.store import BudgetUse

AFTER = "compound-after-diffstride"
STRATEGIES = ["diffstride", {"name": "compound", "label": AFTER, "from": "diffstride"}]


def use(**changes: Any) -> BudgetUse:
    return BudgetUse(
        **{"unit": "trials", "budget": 5, "spent": 0, "trials": 0, "fraction": 0.0, **changes}
    )


def test_a_chained_strategy_shows_what_it_waits_for_then_its_base(
    server: Server, page: Any
) -> None:
    job_id = server.create_job(name="strides first, then size", strategies=STRATEGIES)
    t = Trials(server, job_id)
    t.finished("diffstride", 0.82, 2_000_000)
    t.store.record_budget(
        {"diffstride": use(spent=1, trials=1, fraction=0.2), AFTER: use(waiting_for="diffstride")}
    )
    open_board(page, server, job_id)
    waiting = page.locator(f'#strategies-body tr[data-strategy="{AFTER}"] td[data-key=stopped]')
    assert waiting.text_content() == "waiting for diffstride"
    assert waiting.get_attribute("class") == "stopped waiting"
    assert cells(page, AFTER)["done"] == "0 / 0" and cells(page, AFTER)["budget"] == "0.0%"
    assert page.locator("#strategies thead th").last.text_content() == "Status"
    screenshot(page, "chained-waiting")

    retrain = t.finished("diffstride", 0.86, 1_000_000)
    number = t.numbers["diffstride"] - 1
    t.store.record_budget(
        {
            "diffstride": use(spent=2, trials=2, stopped="done: 1 search, 1 retrain", fraction=1),
            AFTER: use(spent=1, trials=1, fraction=0.2, base_from=f"diffstride #{number}"),
        }
    )
    scaled = t.finished(AFTER, 0.88, 3_000_000)
    page.wait_for_function(
        f"document.querySelector('#trials-body tr[data-trial-id=\"{scaled}\"]')",
        timeout=10_000,
    )
    base = f"from diffstride #{number}"
    strategy_cell = row(page, scaled).locator("td[data-key=strategy]")
    note = strategy_cell.locator(".base-from")
    assert note.text_content() == base and note.is_visible()
    assert note.evaluate("n => n.getBoundingClientRect().width") > 40  # not squeezed away
    assert strategy_cell.get_attribute("title") == f"{AFTER} · base: diffstride #{number}"
    assert row(page, retrain).locator(".base-from").count() == 0  # the source's own trials
    name = page.locator(f'#strategies-body tr[data-strategy="{AFTER}"] td').first
    assert name.locator(".base-from").text_content() == base
    assert cells(page, AFTER)["stopped"] == ""  # started: no longer waiting
    screenshot(page, "chained-started")
    assert not page.errors
