"""The store's read queries (``api.store.queries``): pages sorted and filtered, counts per state
and strategy, many trials, the Pareto front, the best trial (the nas/ rule's); on SQLite and
PostgreSQL."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from api.db.session import session_scope
from api.schemas import mapping
from api.store import JobRepository, insert_trials
from api.strides import strides_text
from nas.errors import NasError, NotFoundError
from nas.job import CONFIRM
from nas.recommend import best
from nas.trial import TrialRequest
from tests.api.harness import diffstride_spec
from tests.api.store_helpers import SPEC, filled_job, make_job, report, request, result
from workers.jobs.confirm import recommendation
from workers.jobs.ranking import ranked_trial

Factory = sessionmaker[Session]


def test_db_trials_page_sorts_with_nulls_last(repo: JobRepository) -> None:
    job_id, _, ids = filled_job(repo)
    page, total = repo.trials_page(job_id)
    assert total == 7
    assert [t.id for t in page] == [ids[1], ids[3], ids[2], ids[0], ids[4], ids[5], ids[6]]
    page, _ = repo.trials_page(job_id, descending=False)
    assert [t.id for t in page] == [ids[0], ids[2], ids[1], ids[3], ids[4], ids[5], ids[6]]
    page, _ = repo.trials_page(job_id, sort="n_params", descending=False)
    assert [t.id for t in page][:4] == [ids[3], ids[1], ids[2], ids[0]]
    page, _ = repo.trials_page(job_id, sort="number", offset=2, limit=3)
    assert [t.id for t in page] == [ids[4], ids[3], ids[2]]
    for sort in ("macs", "cost_flops", "wall_seconds", "id", "created_at"):
        page, total = repo.trials_page(job_id, sort=sort)
        assert total == 7 and len(page) == 7
    with pytest.raises(NasError) as caught:
        repo.trials_page(job_id, sort="drop table")
    assert caught.value.field == "sort" and isinstance(caught.value, ValueError)


def test_db_trials_page_filters_and_carries_the_latest_report(repo: JobRepository) -> None:
    job_id, store, ids = filled_job(repo)
    grid, total = repo.trials_page(job_id, strategy="grid")
    assert total == 4 and {t.strategy for t in grid} == {"grid"}
    done, total = repo.trials_page(job_id, strategy="random", state="completed")
    assert total == 1 and done[0].id == ids[3] and done[0].result == result(0.9, params=50)
    running, _ = repo.trials_page(job_id, state="running")
    assert [t.id for t in running] == [ids[5]]
    assert running[0].progress == [report(1, 0.5)]
    assert repo.trials_page(job_id, strategy="nope") == ([], 0)
    store.record_progress(ids[5], report(2, 0.6))
    assert repo.trials_page(job_id, state="running")[0][0].progress == [report(2, 0.6)]
    assert repo.events(ids[5], limit=10) == [report(1, 0.5), report(2, 0.6)]
    assert repo.events(ids[5], limit=1) == [report(2, 0.6)]


def test_db_progress_counts(repo: JobRepository) -> None:
    job_id, _, _ = filled_job(repo)
    progress = repo.progress(job_id)
    assert progress.total == 7
    assert progress.states == {
        "queued": 1,
        "running": 1,
        "completed": 3,
        "pruned": 1,
        "skipped": 0,
        "failed": 1,
    }
    grid = progress.strategies["grid"]
    assert (grid["completed"], grid["pruned"], grid["queued"], grid["total"]) == (2, 1, 1, 4)
    assert progress.strategies["random"]["total"] == 3
    assert progress.strategies["optuna"]["total"] == 0  # every strategy of the job
    assert repo.get(job_id).trial_counts == {
        "queued": 1,
        "running": 1,
        "completed": 3,
        "pruned": 1,
        "failed": 1,
    }
    with pytest.raises(NotFoundError):
        repo.progress(999)


def test_db_pages_and_counts_of_many_trials(repo: JobRepository, factory: Factory) -> None:
    job = repo.create(make_job())
    dumped = request().model_dump(mode="json")
    now = datetime.now(UTC)
    rows = [
        {
            "job_id": job.id,
            "strategy": ("grid", "random")[i % 2],
            "number": i,
            "state": "completed" if i % 5 else "running",
            "request": dumped,
            "spec": SPEC.to_string(),
            "params": {},
            "accuracy": (i * 7919 % 10007) / 10007 if i % 5 else None,
            "attempts": 1,
            "created_at": now,
        }
        for i in range(10_000)
    ]
    with session_scope(factory) as session:
        insert_trials(session, rows)
    page, total = repo.trials_page(job.id, limit=50)
    progress = repo.progress(job.id)
    counts = repo.get(job.id).trial_counts
    listing, _ = repo.list(None, 0, 50)
    assert total == 10_000 and len(page) == 50 and progress.total == 10_000
    assert counts == {"completed": 8000, "running": 2000} and listing[0].trial_counts == counts
    accuracies = [t.result for t in page]
    assert len({t.id for t in page}) == 50 and all(a is None for a in accuracies)


def test_db_pareto_front_of_completed_trials(repo: JobRepository) -> None:
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    # (accuracy, params): macs = 10 x params; (0.7, 500) is dominated by (0.8, 400)
    points = [(0.9, 1000), (0.8, 400), (0.7, 500), (0.95, 4000), (0.6, 100)]
    for number, (accuracy, params) in enumerate(points):
        trial = store.add(request(number=number))
        store.mark_running(trial.id)
        store.finish(trial.id, result(accuracy, params=params), None)
    pruned = store.add(request(number=len(points)))
    store.mark_running(pruned.id)
    store.finish(pruned.id, result(0.99, pruned=True, params=50), None)  # pruned: not ranked
    for cost in ("macs", "n_params"):
        front = repo.pareto(job.id, cost)  # type: ignore[arg-type]
        assert [(t.result.accuracy, t.result.params) for t in front if t.result] == [
            (0.6, 100),
            (0.8, 400),
            (0.9, 1000),
            (0.95, 4000),
        ]


def test_db_pareto_front_with_ties_matches_the_definition(
    repo: JobRepository, factory: Factory
) -> None:
    job = repo.create(make_job())
    values = [((i * 7) % 5, (i * 11) % 4) for i in range(60)]  # many identical points
    rows = [
        {
            "job_id": job.id,
            "strategy": "grid",
            "number": i,
            "state": "completed",
            "request": request(number=i).model_dump(mode="json"),
            "spec": SPEC.to_string(),
            "params": {},
            "result": result(a / 10, params=1 + c).model_dump(mode="json"),
            "accuracy": a / 10,
            "n_params": 1 + c,
            "macs": 10 * (1 + c),
            "attempts": 1,
            "created_at": datetime.now(UTC),
        }
        for i, (a, c) in enumerate(values)
    ]
    with session_scope(factory) as session:
        insert_trials(session, rows)
    expected = {
        i
        for i, (a, c) in enumerate(values)
        if not any(a2 >= a and c2 <= c and (a2 > a or c2 < c) for a2, c2 in values)
    }
    front = repo.pareto(job.id, "macs")
    assert {t.number for t in front} == expected
    assert [t.result.macs for t in front if t.result] == sorted(
        t.result.macs for t in front if t.result
    )


outcomes = st.lists(
    st.tuples(
        st.sampled_from(["grid", "random", CONFIRM]),
        st.sampled_from(["completed", "completed", "pruned", "failed", "running"]),
        st.sampled_from([0.5, 0.7, 0.9, math.nan]),  # few values: ties; NaN: a diverged run
    ),
    max_size=12,
)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(outcomes, st.randoms())
@example([("grid", "completed", math.nan), ("random", "completed", math.nan)], random.Random(0))
@example([("grid", "completed", 0.9), ("random", "completed", 0.9)], random.Random(1))
def test_db_best_trial_is_the_recommendation_rule(
    repo: JobRepository, trials: list[tuple[str, str, float]], rng: random.Random
) -> None:
    """``best_trial``'s SQL names the trial ``nas.recommend.best`` picks among the ranked ones,
    and ``workers.jobs.confirm.recommendation`` agrees, whatever order the trials finished in."""
    job = repo.create(make_job(confirm_seeds=1))
    store = repo.trial_store(job.id)
    ids = [store.add(request(key, n)).id for n, (key, _, _) in enumerate(trials)]
    order = list(zip(ids, trials, strict=True))
    rng.shuffle(order)  # finish order is not id order
    for trial_id, (_, state, accuracy) in order:
        store.mark_running(trial_id)
        if state != "running":
            done = result(accuracy, pruned=state == "pruned") if state != "failed" else None
            store.finish(trial_id, done, None if done else "boom")
    stored = store.trials()
    expected = best(
        (t.result.accuracy, t.id) for t in stored if ranked_trial(t) and t.result is not None
    )
    found = repo.best_trial(job.id)
    assert (found.id if found else None) == (expected[1] if expected else None)
    chosen = recommendation(stored)
    assert (chosen.id if chosen else None) == (expected[1] if expected else None)


def test_db_listed_trials_carry_their_stored_strides_and_unknown_jobs_are_404(
    repo: JobRepository,
) -> None:
    """A listing reads each trial's strides text from its row (``trial.strides``): the block
    string's, a finished DiffStride trial's learned strides; the same text as computed from
    the trial (``api.strides.strides_text``). A page of an unknown job is a 404, one of a
    known job that nothing matches is empty."""
    job = repo.create(make_job())
    store = repo.trial_store(job.id)
    learning = diffstride_spec()
    learned = [None, (1.634, 1.7), (2.4, 2.4), (3.0, 3.0)]
    fixed = store.add(request("grid", 0))
    search = store.add(TrialRequest(spec=learning, epochs=2, strategy="diffstride", number=0))
    waiting = store.add(TrialRequest(spec=learning, epochs=2, strategy="diffstride", number=1))
    store.mark_running(search.id)
    store.finish(search.id, result(0.8).model_copy(update={"learned_strides": learned}), "x")
    rows, total = repo.summaries_page(job.id, sort="id", descending=False)
    assert total == 3
    assert [(r.id, r.strides) for r in rows] == [
        (fixed.id, "1-2-2-2"),
        (search.id, "1-1.63x1.70-2.40-3.00"),
        (waiting.id, strides_text(learning.to_string())),
    ]
    for row in rows:
        learned_now = row.learned_strides if isinstance(row.learned_strides, list) else None
        assert row.strides == strides_text(row.spec, learned_now)
        assert mapping.trial_summary(row).strides == row.strides
    with pytest.raises(NotFoundError):
        repo.summaries_page(job.id + 1000)
    assert repo.summaries_page(job.id, strategy="nope") == ([], 0)
