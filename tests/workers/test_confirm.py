"""The confirmation phase: the job's recommendation trained again with other seeds, after the
search, outside every strategy's budget, resumed after a crash without repeats."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from nas.data import load
from nas.job import CONFIRM, JobError, JobSpec
from tests.fakes import SyntheticExecutor, SyntheticObjective
from tests.fakes import make_job as fake_job
from workers.jobs.confirm import SEED_OFFSET, recommendation, summarize
from workers.jobs.ranking import leaderboard
from workers.jobs.runner import JobRunner, fit_base
from workers.jobs.store import MemoryTrialStore, StoredTrial


def make_job(**overrides: Any) -> JobSpec:
    """Grid and random, 5 trials each, 3 confirmation seeds (``overrides`` applied)."""
    settings: dict[str, Any] = {
        "name": "confirm",
        "strategies": ["grid", "random"],
        "budget": {"unit": "trials", "total": 10},
        "confirm_seeds": 3,
    }
    return fake_job(**{**settings, **overrides})


@pytest.fixture(scope="module")
def data() -> Any:
    return load("synthetic", subset=200)


def executor(job: JobSpec, data: Any, **kwargs: Any) -> SyntheticExecutor:
    objective = SyntheticObjective(
        base=fit_base(job, data), target_strides=(1, 2, 2, 1), noise=0.02
    )
    return SyntheticExecutor(objective, **kwargs)


def split(trials: list[StoredTrial]) -> tuple[list[StoredTrial], list[StoredTrial]]:
    search = [t for t in trials if t.strategy != CONFIRM]
    return search, [t for t in trials if t.strategy == CONFIRM]


def test_the_recommendation_trains_again_on_other_seeds_after_the_search(data: Any) -> None:
    job = make_job()
    run = executor(job, data)
    runner = JobRunner(job, data, run, MemoryTrialStore())
    trials = runner.run()
    search, confirms = split(trials)
    best = recommendation(trials)
    assert best is not None and best.strategy in ("grid", "random")
    assert best.result is not None
    assert best.result.accuracy == max(t.result.accuracy for t in search if t.result)

    assert len(confirms) == 3
    assert [t.number for t in confirms] == [0, 1, 2]
    for i, trial in enumerate(confirms):
        assert trial.request.spec == best.request.spec
        assert trial.request.epochs == best.request.epochs
        assert trial.request.options.score_test
        assert trial.request.options.seed == best.request.options.seed + SEED_OFFSET + i
        assert trial.request.params["confirms"] == best.id
    # after the search: every search trial was submitted before the first confirmation
    first_confirm = run.submitted.index(confirms[0].id)
    assert set(run.submitted[:first_confirm]) == {t.id for t in search}
    # outside the budget: each strategy ran its share of 5 trials, no more
    assert [s.trials_done for s in runner.states.values()] == [5, 5]
    assert all(u.trials == 5 for u in runner.budget_use().values())
    # not ranked with the search
    assert {row.strategy for row in leaderboard(trials)} == {"grid", "random"}

    found = summarize(best, confirms, 3)
    accuracies = [t.result.accuracy for t in confirms if t.result]
    assert found.finished == 3 and found.failed == 0
    assert found.val_mean == pytest.approx(statistics.fmean(accuracies))
    assert found.val_sd == pytest.approx(statistics.stdev(accuracies))
    assert len(set(accuracies)) == 3  # other seeds: other draws of the noise
    assert found.search_accuracy == best.result.accuracy


def test_no_confirmation_when_confirm_seeds_is_zero(data: Any) -> None:
    job = make_job(confirm_seeds=0)
    trials = JobRunner(job, data, executor(job, data), MemoryTrialStore()).run()
    assert len(trials) == 10 and not split(trials)[1]


def test_a_crash_during_the_confirmation_resumes_without_repeating(data: Any) -> None:
    job = make_job()
    store = MemoryTrialStore()
    with pytest.raises(KeyboardInterrupt):  # 10 search trials and one confirmation finish
        JobRunner(job, data, executor(job, data, crash_after=11), store).run()
    done_before = {t.id: t.result for t in split(store.trials())[1] if t.finished}
    assert len(done_before) == 1
    trials = JobRunner(job, data, executor(job, data), store).run()
    search, confirms = split(trials)
    assert len(search) == 10
    assert sorted(t.number for t in confirms) == [0, 1, 2]
    assert all(t.finished and t.result is not None for t in confirms)
    for trial in confirms:
        if trial.id in done_before:
            assert trial.result == done_before[trial.id]  # kept, not rerun


def test_an_extension_confirms_a_better_recommendation_too(data: Any) -> None:
    job = make_job(budget={"unit": "trials", "total": 2})
    store = MemoryTrialStore()
    first = recommendation(JobRunner(job, data, executor(job, data), store).run())
    bigger = job.model_copy(update={"budget": job.budget.model_copy(update={"total": 24})})
    trials = JobRunner(bigger, data, executor(bigger, data), store).run()
    final = recommendation(trials)
    assert first is not None and final is not None
    assert final.id != first.id  # 22 more trials found a better one on this objective
    confirms = split(trials)[1]
    by_target: dict[int, int] = {}
    for trial in confirms:
        target = trial.request.params["confirms"]
        by_target[target] = by_target.get(target, 0) + 1
    assert by_target == {first.id: 3, final.id: 3}
    assert len({t.number for t in confirms}) == 6
    assert summarize(final, confirms, 3).finished == 3


@pytest.mark.parametrize("label", ["confirm", "confirm/x"])
def test_the_confirmation_key_is_reserved(label: str) -> None:
    with pytest.raises(JobError) as caught:
        make_job(strategies=[{"name": "grid", "label": label}])
    assert caught.value.field == "strategies[0].label", caught.value
    assert "reserved" in str(caught.value)
