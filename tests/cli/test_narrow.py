"""The client verbs in an 80-column terminal, as a user sees them, on a realistic job: repeats, a
label of 40 characters, DiffStride phases, a confirmation, skipped proposals, 25M-parameter
models and PFLOP costs. No line is wider than 80, no cell is cut ("…"), every trial id and
accuracy shown is the data's, confirmation runs and skipped proposals are not ranked, and
``--wide`` shows every column."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from api.app import create_app
from api.cli import app as cli
from api.cli.board import BoardRow
from api.cli.watch import bar_status, budget_text
from api.client import BudgetUse as ClientBudgetUse
from api.db.session import upgrade_database
from api.settings import Settings
from api.store import JobRepository
from nas.job import CONFIRM
from nas.models import preset
from nas.trial import TrialRequest, TrialResult
from tests.fakes import make_job
from tests.threaded_server import serve_in_thread
from workers.jobs.store import BudgetUse

runner = CliRunner()
LONG = "random-search-with-a-forty-character-name"[:40]
SPEC = preset("resnet_narrow_fmnist")
ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+")  # a ranked row starts with its rank and trial id
ACCURACY = re.compile(r"\b(\d{1,3}\.\d\d)%")


@dataclass
class Demo:
    url: str
    job_id: int
    accuracy: dict[int, float]  # search trials completed: trial id -> accuracy
    skipped: list[int]
    confirms: list[int]
    pruned: int
    failed: int


def outcome(accuracy: float, *, pruned: bool = False, test: float | None = None) -> TrialResult:
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=0.5,
        params=25_557_032,
        macs=4_089_184_256,
        wall_seconds=3_725.0,
        cost_flops=1.234e15,
        epochs_run=0,
        pruned=pruned,
        test_accuracy=test,
    )


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    url = f"sqlite:///{tmp_path / 'nas.db'}"
    upgrade_database(url)
    app = create_app(Settings(database_url=url), scheduler=False)
    repo: JobRepository = app.state.services.repo
    job = repo.create(
        make_job(
            name="a demo job whose name is long enough to need folding in a narrow table",
            dataset={"name": "synthetic", "subset": 2000},  # 200 validation images
            strategies=["grid", {"name": "random", "label": LONG}, "diffstride"],
            repeats=2,
            confirm_seeds=2,
        )
    )
    store = repo.trial_store(job.id)
    numbers: dict[str, int] = {}

    def add(key: str, **params: object) -> int:
        numbers[key] = numbers.get(key, -1) + 1
        request = TrialRequest(
            spec=SPEC, epochs=2, strategy=key, number=numbers[key], params=params
        )
        return store.add(request).id

    accuracy: dict[int, float] = {}
    plan = [
        ("grid/r0", 0.912345, {}),
        ("grid/r1", 0.874321, {}),
        (f"{LONG}/r0", 0.901234, {}),
        (f"{LONG}/r1", 0.88, {}),
        ("diffstride/r0", 0.905, {"phase": "search"}),
        ("diffstride/r0", 0.8999, {"phase": "retrain"}),
        ("diffstride/r1", 0.86, {"phase": "search"}),
    ]
    for key, value, params in plan:
        trial = add(key, **params)
        store.mark_running(trial)
        store.finish(trial, outcome(value, test=value - 0.01), None)
        accuracy[trial] = value
    skipped = []
    for k in range(41):
        trial = add("grid/r0" if k % 2 else "grid/r1")
        store.skip(trial, f"over budget: needs {1.05 + k / 100:.2f} base epochs, 0.98 left")
        skipped.append(trial)
    pruned = add(f"{LONG}/r0")
    store.mark_running(pruned)
    store.finish(pruned, outcome(0.99, pruned=True), None)
    failed = add("diffstride/r1")
    store.mark_running(failed)
    store.finish(failed, None, "RuntimeError: out of memory")
    best = max(accuracy, key=accuracy.__getitem__)
    confirms = []
    for seed, value in enumerate((0.95, 0.93)):  # more accurate than the search: never ranked
        trial = add(CONFIRM, confirms=best, seed_index=seed)
        store.mark_running(trial)
        store.finish(trial, outcome(value, test=value), None)
        confirms.append(trial)
    use = BudgetUse(
        unit="flops",
        budget=4e15,
        spent=3.7e15,
        trials=23,
        skipped=21,
        stopped="budget: 2 of 23 proposals affordable",
        fraction=1.0,
    )
    store.record_budget({key: use for key in {k for k, _, _ in plan}})
    repo.cancel(job.id)  # an ended job: nas watch prints it once and returns
    with serve_in_thread(app) as base:
        yield Demo(base, job.id, accuracy, skipped, confirms, pruned, failed)


def run(demo: Demo, *args: str, columns: int = 80) -> Result:
    result = runner.invoke(
        cli,
        [*args, "--server", demo.url],
        env={"COLUMNS": str(columns), "NAS_API_KEY": None},
    )
    assert result.exit_code == 0, result.output
    return result


def assert_fits(text: str, width: int = 80) -> None:
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line!r}"
    assert "…" not in text and "..." not in text


def ranked_rows(text: str) -> list[tuple[int, int, float]]:
    """(rank, trial id, accuracy in %) of each ranked row printed, top to bottom."""
    table = text.split("\n\n")[0] if "\n\n" in text else text
    found = []
    for line in table.splitlines():
        match = ROW.match(line)
        if match:
            accuracy = ACCURACY.search(line)
            assert accuracy is not None, line
            found.append((int(match[1]), int(match[2]), float(accuracy[1])))
    return found


def test_the_leaderboard_fits_80_columns_and_ranks_search_trials_only(demo: Demo) -> None:
    shown = run(demo, "leaderboard", str(demo.job_id))
    text = shown.stdout
    assert_fits(text)
    rows = ranked_rows(text[: text.index("trials:")])
    expected = sorted(demo.accuracy.items(), key=lambda item: (-item[1], item[0]))
    assert [(rank, trial) for rank, trial, _ in rows] == [
        (rank, trial) for rank, (trial, _) in enumerate(expected, start=1)
    ]
    for (_, trial, shown_pct), (_, value) in zip(rows, expected, strict=True):
        assert shown_pct == pytest.approx(round(100 * value, 2)), trial
    ranked = {trial for _, trial, _ in rows}
    assert ranked.isdisjoint({*demo.skipped, *demo.confirms, demo.pruned, demo.failed})
    # human units, strides instead of the block string
    assert "25.6M" in text and "4.09G" in text and "1.23P" in text
    assert "1-2-2-2" in text and SPEC.to_string() not in text
    flat = " ".join(text.split())
    assert (
        "52 trials: 7 ranked; not ranked: 41 skipped proposals (over budget, never run; "
        "--skipped lists them), 2 confirmation runs (nas best sums them up), 1 pruned, 1 failed"
    ) in flat
    assert "over budget: needs" not in text  # folded away by default
    # 200 validation images: a target 2 standard errors below the best
    best = max(demo.accuracy.values())
    target = best - 2 * math.sqrt(best * (1 - best) / 200)
    assert f"target {100 * target:.2f}%: the best, 91.23%" in flat
    assert "compute to target, in base epochs" in flat


def test_skipped_proposals_are_listed_on_demand_with_their_reasons(demo: Demo) -> None:
    text = run(demo, "leaderboard", str(demo.job_id), "--skipped").stdout
    assert_fits(text)
    listed = text[text.index("skipped proposals\n") :]
    ids = [int(m[1]) for m in re.finditer(r"^\s*(\d+)\s+grid/r", listed, re.MULTILINE)]
    assert ids == demo.skipped
    assert "over budget: needs 1.05 base epochs, 0.98 left" in " ".join(listed.split())
    assert "41 skipped proposals (over budget, never run; listed below)" in " ".join(text.split())


def test_wide_shows_every_column(demo: Demo) -> None:
    narrow = run(demo, "leaderboard", str(demo.job_id)).stdout
    wide = run(demo, "leaderboard", str(demo.job_id), "--wide").stdout
    header = next(line for line in wide.splitlines() if line.lstrip().startswith("rank"))
    for column in ("rank", "trial", "strategy", "#", "val acc", "test acc", "strides", "params",
                   "MACs", "FLOPs", "wall", "architecture"):  # fmt: skip
        assert re.search(rf"(^|\s){re.escape(column)}(\s|$)", header), column
    assert SPEC.to_string() in wide and "1h 02m" in wide and "…" not in wide
    assert f"{LONG}/r0" in wide  # whole, on one line
    narrow_header = next(line for line in narrow.splitlines() if line.lstrip().startswith("rank"))
    assert "architecture" not in narrow_header
    assert [r[1] for r in ranked_rows(wide)] == [r[1] for r in ranked_rows(narrow)]


def test_a_wider_terminal_shows_more_columns(demo: Demo) -> None:
    def header(columns: int) -> str:
        text = run(demo, "leaderboard", str(demo.job_id), columns=columns).stdout
        assert_fits(text, columns)
        return next(line for line in text.splitlines() if line.lstrip().startswith("rank"))

    assert len(header(60).split()) < len(header(80).split()) < len(header(160).split())
    assert "val acc" in header(50) and "trial" in header(50)


def test_jobs_best_and_watch_fit_80_columns(demo: Demo) -> None:
    jobs = run(demo, "jobs").stdout
    assert_fits(jobs)
    row = " ".join(jobs.split())
    assert f"{demo.job_id} a demo job whose" in row and "52/52" in row

    best = run(demo, "best", str(demo.job_id)).stdout
    assert_fits(best)
    top = max(demo.accuracy, key=demo.accuracy.__getitem__)
    flat = " ".join(best.split())
    assert f"best of job {demo.job_id}: trial {top} (grid/r0 #0), val acc 91.23%" in flat
    assert "25.6M params, 4.09G MACs, strides 1-2-2-2" in flat
    assert "confirmed on 2 of 2 other seeds: val 94.00% +- 1.41" in flat

    watched = runner.invoke(
        cli,
        ["watch", str(demo.job_id), "--server", demo.url, "--interval", "0.05"],
        env={"COLUMNS": "80"},
    )
    assert watched.exit_code == 1, watched.output  # it was cancelled
    assert_fits(watched.stdout)
    flat = " ".join(watched.stdout.split())
    # a share of 400 / 3 base epochs is 4e15 FLOPs
    assert (
        "grid/r0: budget 92% (123.33 of 133.33 base epochs, 2 run, 21 skipped), stopped: budget: "
        "2 of 23 proposals affordable"
    ) in flat


def test_a_watch_bar_counts_what_ran_apart_from_the_skipped() -> None:
    counts = {"completed": 20, "failed": 1, "pruned": 1, "skipped": 5, "running": 1, "queued": 2}
    assert bar_status(counts, 0.66667) == "22 run, 5 skipped, 1 running, best 66.67%"
    assert bar_status({"queued": 3}, None) == "0 run, 0 running"


def test_trials_no_worker_can_take_say_what_they_wait_for() -> None:
    use = ClientBudgetUse(unit="trials", budget=4, spent=0, waiting="a node with 0.25 GPU")
    assert bar_status({"running": 2}, None, use) == (
        "0 run, 2 running, waiting for a node with 0.25 GPU"
    )
    assert budget_text(use) == "budget 0% (0 of 4 trials, 0 run), waiting for a node with 0.25 GPU"


def test_a_chained_strategy_reads_waiting_then_names_its_base() -> None:
    waiting = ClientBudgetUse(unit="trials", budget=5, spent=0, waiting_for="diffstride/r0")
    assert bar_status({}, None, waiting) == "waiting for diffstride/r0"
    assert budget_text(waiting) == ("budget 0% (0 of 5 trials, 0 run), waiting for diffstride/r0")
    started = ClientBudgetUse(unit="trials", budget=5, spent=2, trials=2, base_from="diffstride #1")
    counts = {"completed": 2, "running": 1}
    assert bar_status(counts, 0.9, started) == "2 run, 1 running, best 90.00%, from diffstride #1"
    done = started.model_copy(update={"stopped": "done: 2 grid points, scaled to phi 2"})
    assert budget_text(done) == (
        "budget 40% (2 of 5 trials, 2 run), from diffstride #1, stopped: done: 2 grid points, "
        "scaled to phi 2"
    )
    row = BoardRow(trial=7, strategy="after", number=0, spec="s", state="completed")
    assert row.name == "after"
    assert (
        BoardRow(**{**row.__dict__, "phase": "grid", "base_from": "diffstride #1"}).name
        == "after (grid, from diffstride #1)"
    )
