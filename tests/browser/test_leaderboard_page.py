"""The pages in Chromium: the leaderboard loads, follows a running job without a reload, sorts,
draws its charts, keeps names as text; the jobs list refreshes itself."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from api.db.models import Job
from api.db.session import session_scope
from api.routers.pages import FIRST_SCREEN
from api.store import insert_trials
from nas.readout import StrideReadout
from nas.spec import ArchSpec
from nas.trial import TrialRequest, TrialResult
from tests.api.harness import BASE, diffstride_spec, report
from tests.browser.conftest import Server, screenshot

READY = "document.body.dataset.ready === 'true'"
STRIDES_DRAWN = "() => (window.leaderboard.charts.strides?.series.length ?? 0) > 1"
EVIL = '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'


def readouts(last: list[tuple[float, float] | None]) -> list[StrideReadout | None]:
    """Readouts of stages started at stride 2 on 28/14/7-pixel maps, ending at ``last``."""
    return [
        None
        if stride is None
        else StrideReadout(
            init=(2.0, 2.0),
            learned=stride,
            low=(1.0, 1.0),
            high=(size / 2, size / 2),
            input_size=(size, size),
            output_size=(size // 2, size // 2),
        )
        for stride, size in zip(last, (28, 28, 14, 7), strict=True)
    ]


def result(accuracy: float, macs: int, strides: Any = None) -> TrialResult:
    paths = strides or [[None] * 4, [None] * 4]
    return TrialResult(
        stride_readout=readouts(paths[-1]),
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=0.5,
        params=macs // 10,
        macs=macs,
        wall_seconds=2.0,
        cost_flops=macs * 1e6,
        epochs_run=len(paths),
        learned_strides=paths[-1],
        history=[report(e + 1, p) for e, p in enumerate(paths)],
    )


class Trials:
    """Writes one job's trials through ``SqlTrialStore``, numbering them per strategy."""

    def __init__(self, server: Server, job_id: int) -> None:
        self.store = server.store(job_id)
        self.numbers: dict[str, int] = {}

    def add(self, strategy: str, spec: ArchSpec = BASE, epochs: int = 2) -> int:
        number = self.numbers.get(strategy, 0)
        self.numbers[strategy] = number + 1
        request = TrialRequest(spec=spec, epochs=epochs, strategy=strategy, number=number)
        return self.store.add(request).id

    def finished(self, strategy: str, accuracy: float, macs: int, **kw: Any) -> int:
        trial = self.add(strategy, kw.pop("spec", BASE))
        self.store.mark_running(trial)
        self.store.finish(trial, result(accuracy, macs, **kw), None)
        return trial


def demo_job(server: Server) -> tuple[int, Trials, dict[str, int]]:
    job_id = server.create_job(name="demo comparison")
    t = Trials(server, job_id)
    ids = {
        "grid_best": t.finished("grid", 0.91, 4_000_000),
        "grid_small": t.finished("grid", 0.84, 1_000_000),
        "random": t.finished("random", 0.88, 2_500_000),
        "ds": t.finished(
            "diffstride",
            0.9,
            3_000_000,
            spec=diffstride_spec(),
            strides=[
                [None, (2.0, 2.0), (2.0, 2.0), (2.0, 2.0)],
                [None, (1.6, 1.7), (2.4, 2.4), (2.9, 3.1)],
            ],
        ),
    }
    failed = t.add("random")
    t.store.mark_running(failed)
    t.store.finish(failed, None, "RuntimeError: CUDA out of memory")
    ids["failed"] = failed
    running = t.add("grid", epochs=5)
    t.store.mark_running(running)
    t.store.record_progress(running, report(1))
    t.store.record_progress(running, report(2))
    ids["running"] = running
    ids["queued"] = t.add("random")
    return job_id, t, ids


def open_board(page: Any, server: Server, job_id: int) -> None:
    page.goto(f"{server.url}/jobs/{job_id}")
    page.wait_for_function(READY, timeout=20_000)


def row(page: Any, trial_id: int) -> Any:
    return page.locator(f'#trials-body tr[data-trial-id="{trial_id}"]')


def column(page: Any, key: str) -> list[str]:
    """The text of one column of the rows on screen, top to bottom ("" where a row has none:
    a trial without metrics shows its progress or error across the metric columns)."""
    texts: list[str] = page.eval_on_selector_all(
        "#trials-body tr.trial",
        f"rows => rows.map(r => r.querySelector('td[data-key={key}]')?.textContent.trim() ?? '')",
    )
    return texts


COUNT_INK = """(name) => {
  // pixels of the plot area that are neither background nor grey (axes, grid, text)
  const u = window.leaderboard.charts[name];
  const canvas = u.root.querySelector("canvas");
  const ctx = canvas.getContext("2d");
  const { left, top, width, height } = u.bbox;
  const data = ctx.getImageData(left, top, width, height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 40) ink++;
  }
  return ink;
}"""


def test_the_leaderboard_shows_trials_charts_progress_and_errors(server: Server, page: Any) -> None:
    job_id, _, ids = demo_job(server)
    open_board(page, server, job_id)
    assert page.locator("#job-name").text_content() == "demo comparison"
    assert page.locator("#trials-body tr.trial").count() == 7
    assert page.locator("#trial-count").text_content() == "7 trials"
    top = row(page, ids["grid_best"])
    assert top.locator('td[data-key="rank"]').text_content() == "1"
    assert "91.00%" in top.text_content()
    running = row(page, ids["running"])
    assert running.locator('td[data-key="state"]').text_content() == "running"
    assert running.locator('td[data-key="detail"]').text_content() == "epoch 2/5"
    failed = row(page, ids["failed"]).locator('td[data-key="detail"]')
    assert failed.text_content() == "RuntimeError: CUDA out of memory"
    assert page.locator("#progress-text").text_content().startswith("5 / 7 trials finished")

    # The strides chart draws from its own request, after the board is ready.
    page.wait_for_function(STRIDES_DRAWN, timeout=20_000)
    charts = page.evaluate(
        "() => Object.fromEntries(Object.entries(window.leaderboard.charts)"
        ".map(([k, u]) => [k, u ? u.series.length : 0]))"
    )
    # best-so-far: x + one series per strategy with a completed trial; Pareto: x + those +
    # the front; strides: epoch + stage 1..3 (h and w differ for stages 1 and 3)
    assert charts == {"best": 4, "pareto": 5, "strides": 6}
    for name in ("best", "pareto", "strides"):
        assert page.evaluate(COUNT_INK, name) > 10, name  # coloured ink: the series drew
    front = page.evaluate("() => window.leaderboard.store.front.trial")
    assert front == [ids["grid_small"], ids["random"], ids["ds"], ids["grid_best"]]
    assert page.locator("#strides-trial").input_value() == str(ids["ds"])
    # Each learned stride starts at its init (epoch 0) and says whether it learned.
    assert page.evaluate("() => window.leaderboard.charts.strides.data[0]") == [0, 1, 2]
    assert page.locator("#strides-status").text_content() == (
        "stage 1: learned (from 2.00x2.00) · stage 2: learned (from 2.00x2.00) · "
        "stage 3: learned (from 2.00x2.00)"
    )
    assert not page.errors
    screenshot(page, "leaderboard")


def test_a_trial_finishing_appears_without_a_reload(server: Server, page: Any) -> None:
    job_id, t, ids = demo_job(server)
    open_board(page, server, job_id)
    page.evaluate("window.__same_page = true")
    version = int(page.evaluate("document.body.dataset.version"))
    assert "epoch 2/5" in row(page, ids["running"]).text_content()

    t.store.record_progress(ids["running"], report(3))
    page.wait_for_function(
        f"""document.querySelector('#trials-body tr[data-trial-id="{ids["running"]}"]')
        ?.textContent.includes('epoch 3/5')""",
        timeout=10_000,
    )
    t.store.finish(ids["running"], result(0.95, 5_000_000), None)
    new = t.finished("random", 0.5, 500_000)
    page.wait_for_selector(f'#trials-body tr[data-trial-id="{new}"]', timeout=10_000)
    finished = row(page, ids["running"])
    assert finished.locator('td[data-key="rank"]').text_content() == "1"
    assert "95.00%" in finished.text_content() and "completed" in finished.text_content()
    assert page.evaluate("window.__same_page") is True  # no reload happened
    assert int(page.evaluate("document.body.dataset.version")) > version
    best = page.evaluate("() => window.leaderboard.store.curves.map(c => c.accuracy.at(-1))")
    assert 0.95 in best
    assert "7 / 8 trials finished" in page.locator("#progress-text").text_content()
    assert not page.errors


def test_columns_sort_both_ways_with_missing_values_last(server: Server, page: Any) -> None:
    job_id, _, ids = demo_job(server)
    open_board(page, server, job_id)
    assert column(page, "rank") == ["1", "2", "3", "4", "", "", ""]  # by rank at first

    page.click('#trials-head th[data-key="accuracy"]')
    assert page.get_attribute('#trials-head th[data-key="accuracy"]', "aria-sort") == "descending"
    assert column(page, "accuracy") == ["91.00%", "90.00%", "88.00%", "84.00%", "", "", ""]

    page.click('#trials-head th[data-key="accuracy"]')
    assert page.get_attribute('#trials-head th[data-key="accuracy"]', "aria-sort") == "ascending"
    assert column(page, "accuracy") == ["84.00%", "88.00%", "90.00%", "91.00%", "", "", ""]

    page.click('#trials-head th[data-key="strategy"]')
    strategies = column(page, "strategy")
    assert strategies == sorted(strategies) and len(set(strategies)) == 3

    page.select_option("#filter-state", "failed")
    assert page.locator("#trials-body tr.trial").count() == 1
    assert page.locator("#trial-count").text_content() == "1 of 7 trials"
    assert row(page, ids["failed"]).count() == 1


def test_names_holding_html_stay_text(server: Server, page: Any) -> None:
    job_id = server.create_job(name=EVIL, strategies=[{"name": "grid", "label": EVIL[:60]}])
    t = Trials(server, job_id)
    t.finished(EVIL[:60], 0.8, 1_000_000)
    failed = t.add(EVIL[:60])
    t.store.mark_running(failed)
    t.store.finish(failed, None, EVIL)
    for path in (f"/jobs/{job_id}", "/"):
        page.goto(server.url + path)
        if path != "/":
            page.wait_for_function(READY, timeout=20_000)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None, path
        assert page.locator("main img").count() == 0, path
        assert page.locator("main script").count() == 0, path
        assert EVIL in page.locator("main").text_content(), path
    page.goto(f"{server.url}/jobs/{job_id}")
    page.wait_for_function(READY, timeout=20_000)
    assert page.locator("#job-name").text_content() == EVIL
    assert EVIL[:60] in page.locator("#strategy-chips").text_content()
    assert EVIL in row(page, failed).text_content()
    assert not page.errors


def test_the_table_draws_only_the_rows_in_view(server: Server, page: Any) -> None:
    job_id = server.create_job(name="many")
    t = Trials(server, job_id)
    first = [t.add("grid") for _ in range(400)]
    open_board(page, server, job_id)
    drawn = page.locator("#trials-body tr.trial").count()
    assert 10 < drawn < 80
    assert page.locator("#trial-count").text_content() == "400 trials"
    page.eval_on_selector("#scroller", "s => { s.scrollTop = s.scrollHeight; }")
    page.wait_for_selector(f'#trials-body tr[data-trial-id="{first[-1]}"]', timeout=5_000)
    assert row(page, first[0]).count() == 0


def test_the_jobs_page_lists_jobs_and_refreshes(server: Server, page: Any) -> None:
    job_id, t, ids = demo_job(server)
    page.goto(server.url + "/")
    listed = page.locator(f'#jobs tr[data-job-id="{job_id}"]')
    assert "demo comparison" in listed.text_content()
    assert "5 / 7 finished" in listed.text_content() and "1 running" in listed.text_content()
    page.evaluate("window.__same_page = true")
    later = server.create_job(name="submitted later")
    t.store.finish(ids["running"], result(0.7, 1_000_000), None)
    page.wait_for_selector(f'#jobs tr[data-job-id="{later}"]', timeout=10_000)
    page.wait_for_function(
        f"""document.querySelector('#jobs tr[data-job-id="{job_id}"]')
        .textContent.includes('6 / 7 finished')""",
        timeout=10_000,
    )
    assert page.evaluate("window.__same_page") is True
    page.click(f'#jobs tr[data-job-id="{job_id}"] a')
    page.wait_for_function(READY, timeout=20_000)
    assert page.locator("#job-name").text_content() == "demo comparison"
    screenshot(page, "jobs-then-leaderboard")
    assert not page.errors


def test_the_confirmation_of_the_recommendation_is_shown_not_ranked(
    server: Server, page: Any
) -> None:
    job_id = server.create_job(name="confirmed", strategies=["grid", "random"], confirm_seeds=2)
    t = Trials(server, job_id)
    best = t.finished("grid", 0.91, 4_000_000)
    t.finished("random", 0.88, 2_500_000)
    confirms = []
    for i, accuracy in enumerate((0.93, 0.89)):  # one run beats the search's own score
        request = TrialRequest(
            spec=BASE, epochs=2, strategy="confirm", number=i, params={"confirms": best}
        )
        trial = t.store.add(request).id
        t.store.mark_running(trial)
        done = result(accuracy, 4_000_000).model_copy(update={"test_accuracy": accuracy - 0.01})
        t.store.finish(trial, done, None)
        confirms.append(trial)
    open_board(page, server, job_id)
    line = page.locator("#confirm-line")
    line.wait_for(state="visible", timeout=10_000)
    text = line.text_content()
    assert f"trial {best}, grid" in text and "search run 91.00%" in text
    assert "confirmed on 2 of 2 other seeds" in text
    assert "validation 91.00% ± 2.83" in text and "test 90.00% ± 2.83" in text
    # ranked: the search's best first; the confirmation rows are listed, unranked
    assert row(page, best).locator('td[data-key="rank"]').text_content() == "1"
    for trial in confirms:
        assert row(page, trial).locator('td[data-key="rank"]').text_content().strip() in ("", "–")
    names = page.eval_on_selector_all(
        "#strategies-body tr", "rows => rows.map(r => r.dataset.strategy)"
    )
    assert names == ["grid", "random"]
    assert not page.errors


def many_trials(server: Server, n: int) -> tuple[int, list[int]]:
    """A job of ``n`` completed trials, bulk-inserted (accuracy grows with the id): its id and
    the trial ids."""
    job_id = server.create_job()
    request = TrialRequest(spec=BASE, epochs=2).model_dump(mode="json")
    rows = []
    for k in range(n):
        accuracy = 0.5 + 0.4 * k / n
        finished = result(accuracy, 1000 + k)
        rows.append(
            {
                "job_id": job_id,
                "strategy": "grid",
                "number": k,
                "state": "completed",
                "request": {**request, "strategy": "grid", "number": k},
                "result": finished.model_dump(mode="json"),
                "spec": BASE.to_string(),
                "params": {},
                "attempts": 1,
                "accuracy": accuracy,
                "n_params": finished.params,
                "macs": finished.macs,
                "cost_flops": finished.cost_flops,
                "wall_seconds": finished.wall_seconds,
                "epochs_run": finished.epochs_run,
                "version": 2 + k,
            }
        )
    with session_scope(server.repo.factory) as session:
        ids = insert_trials(session, rows)
        session.execute(sa.update(Job).where(Job.id == job_id).values(version=n + 2))
    return job_id, ids


def test_a_large_job_draws_its_best_trials_first_then_every_trial(
    server: Server, page: Any
) -> None:
    first_screen = FIRST_SCREEN
    n = first_screen + 40
    job_id, ids = many_trials(server, n)
    asked: list[str] = []
    held: list[Any] = []

    def hold_the_rest(route: Any) -> None:
        asked.append(route.request.url)
        if "top=" in route.request.url or held:
            route.continue_()
        else:
            held.append(route)  # every trial: answered once the first screen is checked

    page.route("**/leaderboard?*", hold_the_rest)
    open_board(page, server, job_id)
    assert f"top={first_screen}" in asked[0]
    assert sum("top=" in url for url in asked) == 1  # the page's preload is the first answer
    count = page.locator("#trial-count").inner_text()
    assert count == f"the best {first_screen} of {n} trials; loading the rest…"
    assert column(page, "rank")[:3] == ["1", "2", "3"]
    assert row(page, ids[-1]).count() == 1  # the most accurate, on top
    assert page.evaluate("window.leaderboard.store.id.length") == first_screen
    assert page.evaluate("document.body.dataset.complete") is None
    for _ in range(100):  # the page asks for the rest at once
        if held:
            break
        page.wait_for_timeout(50)
    assert held and "top=" not in held[0].request.url and "since=0" in held[0].request.url
    held[0].continue_()
    page.wait_for_function("document.body.dataset.complete === 'true'", timeout=20_000)
    assert page.locator("#trial-count").inner_text() == f"{n} trials"
    assert page.evaluate("window.leaderboard.store.id.length") == n
    assert not page.errors
