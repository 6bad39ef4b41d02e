"""The job runner: budget split and honoured, replay after interruption, real end-to-end run."""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

from nas.data import load
from nas.job import JobSpec
from tests.fakes import SyntheticExecutor, SyntheticObjective, make_job
from workers.executors.interface import Completion, InlineExecutor
from workers.jobs.pool import JobPool
from workers.jobs.runner import JobRunner, fit_base
from workers.jobs.store import MemoryTrialStore, TrialState


@pytest.fixture(scope="module")
def data() -> Any:
    return load("synthetic", subset=200)


def objective_for(job: JobSpec, data: Any, runner_cost: Any) -> SyntheticObjective:
    base = fit_base(job, data)
    return SyntheticObjective(
        base=base, target_strides=(1, 2, 2, 1), noise=0.01, cost_of_epoch=runner_cost
    )


def test_budget_is_split_evenly_and_honoured(data: Any) -> None:
    job = make_job()
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    runner = JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore())
    trials = runner.run()
    share = 400 / 5 * probe.epoch_cost(runner.base)
    assert [s.budget for s in runner.states.values()] == [pytest.approx(share)] * 5
    for key, state in runner.states.items():
        charged = sum(t.result.cost_flops for t in trials if t.strategy == key and t.result)
        assert charged <= share * 1.0001, key
        assert state.stopped is not None
    assert {t.strategy for t in trials} == set(job.strategy_keys())


def test_interrupted_run_resumes_without_losing_or_repeating_trials(data: Any) -> None:
    job = make_job()
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)

    reference = JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore()).run()

    store = MemoryTrialStore()
    with pytest.raises(KeyboardInterrupt):
        JobRunner(job, data, SyntheticExecutor(objective, crash_after=15), store).run()
    finished_before = {t.id: t.result for t in store.trials() if t.finished}
    assert len([r for r in finished_before.values() if r is not None]) == 15
    resumed = JobRunner(job, data, SyntheticExecutor(objective), store).run()

    def key(t: Any) -> tuple[str, str]:
        return (t.strategy, t.request.model_dump_json())

    assert sorted(map(key, resumed)) == sorted(map(key, reference))
    for trial in resumed:
        if trial.id in finished_before:
            assert trial.result == finished_before[trial.id]  # kept, not rerun
    assert len({(t.strategy, t.number) for t in resumed}) == len(resumed)


def test_trials_unit_counts_trials_per_strategy(data: Any) -> None:
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    trials = JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore()).run()
    for key in job.strategy_keys():
        assert len([t for t in trials if t.strategy == key]) <= 2


class WideExecutor(SyntheticExecutor):
    """Four slots; records how many trials were in flight at each submission."""

    capacity = 4

    def __init__(self, objective: SyntheticObjective) -> None:
        super().__init__(objective)
        self.widths: list[int] = []

    def submit(self, *args: Any) -> None:
        super().submit(*args)
        self.widths.append(self.in_flight())


@pytest.mark.parametrize(("cap", "widest"), [(None, 4), (2, 2), (1, 1)])
def test_parallel_trials_caps_the_job_in_flight(data: Any, cap: int | None, widest: int) -> None:
    budget = {"unit": "trials", "total": 12, "epochs_per_trial": 1, "parallel_trials": cap}
    job = make_job(strategies=["grid", "random"], budget=budget)
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    executor = WideExecutor(objective_for(job, data, probe.epoch_cost))
    trials = JobRunner(job, data, executor, MemoryTrialStore()).run()
    assert max(executor.widths) == widest  # the executor had room for 4 every time
    assert len(trials) == 12 and all(t.state == TrialState.COMPLETED for t in trials)


def test_end_to_end_with_real_training(data: Any) -> None:
    job = make_job(
        strategies=["grid", "diffstride"],
        space={"strides": [[1], [2], [1, 2], [2]]},
        budget={"unit": "trials", "total": 4, "epochs_per_trial": 1},
        train={"batch_size": 100},
    )
    trials = JobRunner(job, data, InlineExecutor(), MemoryTrialStore()).run()
    assert len(trials) == 4
    assert all(t.state == TrialState.COMPLETED and t.result is not None for t in trials)
    search = next(t for t in trials if t.request.params.get("phase") == "search")
    assert search.result is not None
    assert any(s is not None for s in search.result.learned_strides)
    retrain = next(t for t in trials if t.request.params.get("phase") == "retrain")
    assert all(s.downsample == "strided" for s in retrain.request.spec.stages)


class FlakyExecutor(SyntheticExecutor):
    """Loses the worker of chosen trials ``losses`` times before letting them finish."""

    def __init__(self, objective: SyntheticObjective, losses: int, charged: bool = True) -> None:
        super().__init__(objective)
        self.losses = losses
        self.charged = charged
        self.lost: dict[int, int] = {}

    def wait(self, timeout: float | None = None) -> list[Completion]:
        trial_id = self.queue[0][0]
        if trial_id == 1 and self.lost.get(trial_id, 0) < self.losses:
            self.queue.popleft()
            self.lost[trial_id] = self.lost.get(trial_id, 0) + 1
            error = "worker died (exit -9)" if self.charged else "Ray cluster lost: bridge exited"
            return [Completion(trial_id, None, error, retryable=True, charged=self.charged)]
        return super().wait(timeout)


def test_a_lost_worker_requeues_its_trial(data: Any) -> None:
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    JobRunner(job, data, FlakyExecutor(objective, losses=2), store, max_attempts=3).run()
    trial = store.get(1)
    assert trial.state == TrialState.COMPLETED and trial.attempts == 3


def test_a_trial_whose_worker_keeps_dying_fails_with_the_reason(data: Any) -> None:
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    JobRunner(job, data, FlakyExecutor(objective, losses=5), store, max_attempts=3).run()
    trial = store.get(1)
    assert trial.state == TrialState.FAILED and trial.attempts == 3
    assert trial.error is not None and "gave up after 3 attempts" in trial.error
    assert "exit -9" in trial.error


def test_a_lost_cluster_does_not_use_up_attempts_but_is_bounded(data: Any) -> None:
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    # four cluster losses, more than the 3 attempts: the trial still finishes, on its 5th run
    lossy = FlakyExecutor(objective, losses=4, charged=False)
    JobRunner(job, data, lossy, store, max_attempts=3).run()
    trial = store.get(1)
    assert trial.state == TrialState.COMPLETED and trial.attempts == 5
    # free retries are as many as attempts: a cluster that never stays up fails the trial
    store = MemoryTrialStore()
    JobRunner(job, data, FlakyExecutor(objective, 99, False), store, max_attempts=3).run()
    trial = store.get(1)
    assert trial.state == TrialState.FAILED and trial.attempts == 6
    assert trial.error is not None and "gave up after 6 attempts" in trial.error
    assert "Ray cluster lost" in trial.error


class DyingExecutor(SyntheticExecutor):
    """Its "server" dies (the runner's loop is torn down) while trial 1 runs."""

    def wait(self, timeout: float | None = None) -> list[Completion]:
        if self.queue and self.queue[0][0] == 1:
            raise KeyboardInterrupt("the server running trial 1 died")
        return super().wait(timeout)


def die_running_trial_1(job: JobSpec, data: Any, executor: Any, store: MemoryTrialStore) -> None:
    with pytest.raises(KeyboardInterrupt):
        JobRunner(job, data, executor, store, max_attempts=3, max_takeovers=3).run()
    assert store.get(1).state == TrialState.RUNNING  # nobody let it go


def test_takeovers_do_not_use_up_attempts_and_are_kept_in_the_store(data: Any) -> None:
    """Trial 1 was running on two runs that died; a third loses its worker twice (charged),
    and it still finishes: only charged attempts count toward max_attempts."""
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    for _ in range(2):
        die_running_trial_1(job, data, DyingExecutor(objective), store)
    flaky = FlakyExecutor(objective, losses=2)
    JobRunner(job, data, flaky, store, max_attempts=3, max_takeovers=3).run()
    trial = store.get(1)
    assert trial.state == TrialState.COMPLETED, trial.error
    assert (trial.attempts, trial.takeovers, trial.free_retries) == (5, 2, 0)
    assert trial.charged_attempts == 3


def test_a_trial_that_kills_its_server_every_time_is_given_up_saying_why(data: Any) -> None:
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    for _ in range(3):
        die_running_trial_1(job, data, DyingExecutor(objective), store)
    executor = SyntheticExecutor(objective)
    runner = JobRunner(job, data, executor, store, max_attempts=3, max_takeovers=3)
    trials = runner.run()
    trial = store.get(1)
    assert trial.state == TrialState.FAILED and 1 not in executor.submitted  # not run again
    assert (trial.attempts, trial.takeovers, trial.charged_attempts) == (3, 3, 0)
    assert trial.error is not None and "the server running it died 3 times" in trial.error
    assert "the trial may be what kills it" in trial.error
    assert runner.done and all(t.finished for t in trials)  # the job went on without it
    assert sum(t.state == TrialState.COMPLETED for t in trials) > 1


def test_free_retries_are_kept_in_the_store_across_runs(data: Any) -> None:
    """A lost cluster's free retries are stored with the trial, so a later run knows them
    (they were the runner's memory: after a restart every earlier one counted as charged)."""
    job = make_job(budget={"unit": "trials", "total": 10, "epochs_per_trial": 1})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    lossy = FlakyExecutor(objective, losses=2, charged=False)
    JobRunner(job, data, lossy, store).run(should_stop=lambda: lossy.lost.get(1, 0) >= 2)
    kept = store.get(1)
    # two cluster losses, then the stop let it go: three free retries, nothing charged
    assert (kept.state, kept.attempts, kept.free_retries) == (TrialState.QUEUED, 3, 3)
    # a new run loses its worker twice more (charged): its 3rd charged attempt finishes
    JobRunner(job, data, FlakyExecutor(objective, losses=2), store, max_attempts=3).run()
    trial = store.get(1)
    assert trial.state == TrialState.COMPLETED, trial.error
    assert (trial.attempts, trial.free_retries, trial.charged_attempts) == (6, 3, 3)


def test_should_stop_leaves_unfinished_trials_for_a_later_run(data: Any) -> None:
    job = make_job()
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    executor = SyntheticExecutor(objective)
    polls = iter(range(1000))
    JobRunner(job, data, executor, store).run(should_stop=lambda: next(polls) >= 3)
    unfinished = [t for t in store.trials() if not t.finished]
    # let go: back to queued, the attempt cut short a free retry (not charged, no takeover)
    assert unfinished and all(t.state == TrialState.QUEUED for t in unfinished)
    assert all((t.attempts, t.free_retries, t.takeovers) == (1, 1, 0) for t in unfinished)
    resumed = JobRunner(job, data, SyntheticExecutor(objective), store).run()
    assert all(t.finished for t in resumed)
    again = {t.id: t for t in resumed}
    assert all(again[t.id].charged_attempts == 1 and again[t.id].takeovers == 0 for t in unfinished)


def test_every_strategy_runs_from_the_start_when_slots_are_few(data: Any) -> None:
    """Two slots, five strategies: the first five trials submitted belong to five strategies
    (a free slot goes to the strategy that has used the least of its share)."""
    job = make_job()
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    executor = SyntheticExecutor(objective_for(job, data, probe.epoch_cost))
    store = MemoryTrialStore()
    JobRunner(job, data, executor, store).run()
    owner = {t.id: t.strategy for t in store.trials()}
    first = [owner[i] for i in executor.submitted[:5]]
    assert sorted(first) == sorted(job.strategy_keys()), first


def test_proposals_over_the_budget_are_skipped_not_failed(data: Any) -> None:
    job = make_job(budget={"unit": "base_epochs", "total": 10, "epochs_per_trial": 2})
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    executor = SyntheticExecutor(objective_for(job, data, probe.epoch_cost))
    trials = JobRunner(job, data, executor, MemoryTrialStore()).run()
    skipped = [t for t in trials if t.state == TrialState.SKIPPED]
    assert skipped and all(t.error and t.error.startswith("over budget") for t in skipped)
    assert all(t.id not in executor.submitted for t in skipped)  # never ran
    assert not [t for t in trials if t.state == TrialState.FAILED]


def test_a_grid_cut_short_by_its_budget_says_so_in_base_epochs(data: Any) -> None:
    """Two base epochs for a 12-point grid: most points cost more than is left. The grid runs
    out of points, but because its budget skipped them: its stop reason says so (not "search
    space exhausted"), and every skip says what it needed and what was left, in base epochs."""
    job = make_job(
        strategies=["grid"], budget={"unit": "base_epochs", "total": 2, "epochs_per_trial": 1}
    )
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    store = MemoryTrialStore()
    executor = SyntheticExecutor(objective_for(job, data, probe.epoch_cost))
    trials = JobRunner(job, data, executor, store).run()
    ran = [t for t in trials if t.state == TrialState.COMPLETED]
    skipped = [t for t in trials if t.state == TrialState.SKIPPED]
    assert len(trials) == 12 and ran and skipped
    stopped = f"budget: {len(ran)} of 12 proposals affordable"
    assert store.budget["grid"].stopped == stopped
    assert (store.budget["grid"].trials, store.budget["grid"].skipped) == (12, len(skipped))
    for trial in skipped:
        assert re.fullmatch(
            r"over budget: needs \d+\.\d\d+ base epochs, \d+\.\d\d+ left", trial.error or ""
        ), trial.error
    # replayed after a restart, the count of skips is the same
    again = JobRunner(
        job, data, SyntheticExecutor(objective_for(job, data, probe.epoch_cost)), store
    )
    again.start()
    assert again.ledger.out_of_proposals("grid") == stopped


def test_budget_use_is_kept_in_the_store_and_the_same_after_a_restart(data: Any) -> None:
    job = make_job()
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    with pytest.raises(KeyboardInterrupt):
        JobRunner(job, data, SyntheticExecutor(objective, crash_after=9), store).run()
    midway = store.budget
    assert sum(use.trials for use in midway.values()) == 9 + len(
        [t for t in store.trials() if t.state == TrialState.SKIPPED]
    )
    runner = JobRunner(job, data, SyntheticExecutor(objective), store)
    trials = runner.run()
    share = 400 / 5 * probe.epoch_cost(runner.base)
    for key, use in store.budget.items():
        charged = sum(t.result.cost_flops for t in trials if t.strategy == key and t.result)
        assert use.unit == "flops" and use.budget == pytest.approx(share)
        assert use.spent == pytest.approx(charged) and use.spent >= midway[key].spent
        assert use.trials == len([t for t in trials if t.strategy == key])
        assert use.stopped is not None and use.fraction == 1.0
    final = dict(store.budget)
    store.budget = {}
    JobRunner(job, data, SyntheticExecutor(objective), store).start()  # rebuilt from the trials
    assert {k: (u.spent, u.trials) for k, u in store.budget.items()} == {
        k: (u.spent, u.trials) for k, u in final.items()
    }


def test_an_extended_budget_lets_stopped_strategies_ask_again(data: Any) -> None:
    job = make_job(
        strategies=["grid", "random"], budget={"unit": "trials", "total": 4, "epochs_per_trial": 1}
    )
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    store = MemoryTrialStore()
    runner = JobRunner(job, data, SyntheticExecutor(objective), store)
    before = {t.id: t.result for t in runner.run()}
    assert len(before) == 4 and {s.stopped for s in runner.states.values()} == {"budget spent"}
    runner.extend(job.budget.model_copy(update={"total": 10}))
    assert all(s.stopped is None and s.budget == 5 for s in runner.states.values())
    assert {k: u.budget for k, u in store.budget.items()} == {"grid": 5, "random": 5}
    trials = runner.run()
    assert len(trials) == 10
    assert all(t.result == before[t.id] for t in trials if t.id in before)  # kept, not rerun
    grid = [t.request.spec.to_string() for t in trials if t.strategy == "grid"]
    assert len(grid) == 5 and len(set(grid)) == 5  # the grid went on, no point twice
    assert sorted(t.number for t in trials if t.strategy == "random") == [0, 1, 2, 3, 4]


def test_repeats_run_each_strategy_with_its_own_seeds_and_replay(data: Any) -> None:
    job = make_job(
        strategies=["grid", "random", "optuna"],
        repeats=3,
        budget={"unit": "trials", "total": 12, "epochs_per_trial": 1},
    )
    assert job.strategy_keys() == [
        f"{s}/r{r}" for s in ("grid", "random", "optuna") for r in (0, 1, 2)
    ]
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    runner = JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore())
    trials = runner.run()
    # Per strategy per repeat: the budget (4 trials each), its own seeds.
    for key in job.strategy_keys():
        mine = [t for t in trials if t.strategy == key]
        assert len(mine) == 4, key
        repeat = int(key.rsplit("/r", 1)[1])
        assert {t.request.options.seed for t in mine} == {job.train.seed + repeat}
        assert runner.states[key].strategy.context.seed == job.seed + repeat

    def order(key: str) -> list[str]:
        return [t.request.spec.to_string() for t in trials if t.strategy == key]

    for name in ("grid", "random"):
        assert len({tuple(order(f"{name}/r{r}")) for r in range(3)}) == 3  # distinct orders
    again = JobRunner(job, data, SyntheticExecutor(objective), MemoryTrialStore()).run()
    assert [(t.strategy, t.request) for t in again] == [(t.strategy, t.request) for t in trials]


# ---- a strategy chained onto another's recommendation (``from``) ------------------------------

AFTER = "compound-after-diffstride"
CHAINED: dict[str, Any] = {
    "name": "compound",
    "label": AFTER,
    "from": "diffstride",
    "options": {"max_grid_points": 2, "phi_max": 2},
}


def chained_job(*strategies: Any, **changes: Any) -> JobSpec:
    budget = {"unit": "trials", "total": 10, "epochs_per_trial": 1}
    return make_job(
        strategies=list(strategies or ("diffstride", CHAINED)), budget=budget, **changes
    )


def synthetic_runner(
    job: JobSpec, data: Any, store: MemoryTrialStore, **executor: Any
) -> JobRunner:
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    objective = objective_for(job, data, probe.epoch_cost)
    return JobRunner(job, data, SyntheticExecutor(objective, **executor), store)


def recommended(trials: list[Any], key: str) -> Any:
    """The source's most accurate completed fixed-stride trial, earliest of equals."""
    fixed = [
        t
        for t in trials
        if t.strategy == key
        and t.state == TrialState.COMPLETED
        and all(s.downsample != "diffstride" for s in t.request.spec.stages)
    ]
    return max(fixed, key=lambda t: (t.result.accuracy, -t.number))


def test_a_chained_strategy_waits_for_its_source_then_starts_from_its_recommendation(
    data: Any,
) -> None:
    store = MemoryTrialStore()
    runner = synthetic_runner(chained_job(), data, store)
    waiting: list[str | None] = []

    def observe(event: Any, runner: JobRunner) -> None:
        if event.kind == "submitted" and event.strategy == "diffstride":
            waiting.append(runner.budget_use()[AFTER].waiting_for)

    runner.observer = observe
    runner.start()
    assert store.budget[AFTER].waiting_for == "diffstride" and store.budget[AFTER].stopped is None
    trials = runner.run()
    source = [t for t in trials if t.strategy == "diffstride"]
    mine = [t for t in trials if t.strategy == AFTER]
    assert waiting == ["diffstride"] * len(source) == ["diffstride"] * 2  # search, retrain
    assert min(t.id for t in mine) > max(t.id for t in source)  # asked once the source stopped
    best = recommended(trials, "diffstride")
    assert best.request.params["phase"] == "retrain"  # readout (b), not the search network
    origin = {"base_from": "diffstride", "base_trial": best.number}
    assert all(t.request.params.items() >= origin.items() for t in mine)
    assert {t.request.params["base_spec"] for t in mine} == {best.request.spec.to_string()}
    assert runner.states[AFTER].strategy.inner.context.base == best.request.spec
    use = store.budget[AFTER]
    assert use.waiting_for is None and use.base_from == f"diffstride #{best.number}"
    assert use.spent == len(mine) <= use.budget == 5  # its own share paid
    assert use.stopped is not None and use.stopped.startswith("done: 2 grid points")
    assert runner.done


@pytest.mark.parametrize("crash_after", [1, 2, 3, 4])
def test_a_chained_strategy_resumes_after_a_crash_as_if_never_stopped(
    data: Any, crash_after: int
) -> None:
    job = chained_job()
    reference = synthetic_runner(job, data, MemoryTrialStore()).run()
    store = MemoryTrialStore()
    with pytest.raises(KeyboardInterrupt):
        synthetic_runner(job, data, store, crash_after=crash_after).run()
    resumed = synthetic_runner(job, data, store).run()

    def key(t: Any) -> tuple[str, int, str]:
        return (t.strategy, t.number, t.request.model_dump_json())

    assert sorted(map(key, resumed)) == sorted(map(key, reference))
    assert [t.state for t in resumed] == [t.state for t in reference]


def test_run_k_of_a_chained_strategy_starts_from_run_k_of_its_source(data: Any) -> None:
    job = chained_job(repeats=2)
    trials = synthetic_runner(job, data, MemoryTrialStore()).run()
    for k in (0, 1):
        best = recommended(trials, f"diffstride/r{k}")
        mine = [t for t in trials if t.strategy == f"{AFTER}/r{k}"]
        assert mine and {t.request.params["base_from"] for t in mine} == {f"diffstride/r{k}"}
        assert {t.request.params["base_trial"] for t in mine} == {best.number}
        assert {t.request.options.seed for t in mine} == {job.train.seed + k}


def test_a_source_with_nothing_to_start_from_stops_the_chained_strategy(data: Any) -> None:
    job = chained_job({"name": "diffstride", "options": {"retrain": False}}, CHAINED)
    store = MemoryTrialStore()
    runner = synthetic_runner(job, data, store)
    trials = runner.run()
    assert [t.strategy for t in trials] == ["diffstride"]  # its search network only
    use = store.budget[AFTER]
    assert use.stopped == "nothing to start from: diffstride has no completed fixed-stride trial"
    assert use.waiting_for is None and use.base_from is None and use.spent == 0 and runner.done


def test_a_replay_after_an_extension_keeps_the_base_the_chained_strategy_started_from(
    data: Any,
) -> None:
    after = {"name": "random", "label": "random-after-grid", "from": "grid"}
    job = make_job(
        strategies=["grid", after], budget={"unit": "trials", "total": 4, "epochs_per_trial": 1}
    )
    store = MemoryTrialStore()
    runner = synthetic_runner(job, data, store)
    first = recommended(runner.run(), "grid")
    # the grid stopped in a round with nothing in flight: its chained strategy ran all the same
    assert store.budget["grid"].stopped == "budget spent"
    assert store.budget["random-after-grid"].base_from == f"grid #{first.number}"
    assert store.budget["random-after-grid"].trials == 2
    runner.extend(job.budget.model_copy(update={"total": 12}))
    trials = runner.run()  # the grid trains 4 more points, the chained strategy 4 more trials
    assert len([t for t in trials if t.strategy == "random-after-grid"]) == 6
    assert {
        t.request.params["base_trial"] for t in trials if t.strategy == "random-after-grid"
    } == {first.number}
    extended = job.model_copy(update={"budget": runner.budget})
    again = synthetic_runner(extended, data, store)
    again.start()  # rebuilt from the store
    rebuilt = again.states["random-after-grid"].strategy
    live = runner.states["random-after-grid"].strategy
    assert rebuilt.inner.context.base == first.request.spec
    assert rebuilt.ask() == live.ask()


def test_a_strategy_stops_only_once_its_last_trial_is_back(data: Any) -> None:
    # compound calls itself finished as soon as it asked its last scale trial; the runner
    # waits for that trial before it records why the strategy stopped, so the reason counts it
    job = make_job(
        strategies=[{"name": "compound", "options": {"phi_max": 2, "max_grid_points": 1}}],
        budget={"unit": "trials", "total": 10, "epochs_per_trial": 1},
        confirm_seeds=0,
    )
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    executor = SyntheticExecutor(objective_for(job, data, probe.epoch_cost))
    runner = JobRunner(job, data, executor, MemoryTrialStore())
    runner.start()
    assert runner.offer()  # the grid point at phi 1
    (grid,) = executor.wait()
    runner.complete(grid)
    runner.new_round()
    assert runner.offer()  # the scale trial at phi 2
    state = runner.states["compound"]
    assert state.strategy.is_finished() and state.reserved
    runner.new_round()
    assert not runner.offer() and state.stopped is None  # finished, but its trial is out
    (scaled,) = executor.wait()
    runner.complete(scaled)
    runner.new_round()
    assert not runner.offer()
    assert state.stopped == "done: 1 grid point, scaled to phi 2"
    assert runner.done


class WaitingExecutor(SyntheticExecutor):
    """Says its trials wait for ``notice`` (a node with their GPUs) while it is set."""

    def __init__(self, objective: SyntheticObjective) -> None:
        super().__init__(objective)
        self.notice: str | None = "a node with 0.5 GPU"
        self.gpus: list[float | None] = []

    def submit(self, trial_id: int, request: Any, dataset: Any, on_progress: Any) -> None:
        self.gpus.append(request.gpus)
        super().submit(trial_id, request, dataset, on_progress)

    def waiting(self) -> dict[int, str]:
        return {t: self.notice for t, _, _ in self.queue} if self.notice else {}


def test_gpus_per_trial_reach_the_executor_and_waiting_trials_say_for_what(data: Any) -> None:
    job = make_job(
        strategies=["grid"],
        budget={"unit": "trials", "total": 3, "epochs_per_trial": 1},
        resources={"gpus_per_trial": 0.5},
    )
    probe = JobRunner(job, data, InlineExecutor(), MemoryTrialStore())
    executor = WaitingExecutor(objective_for(job, data, probe.epoch_cost))
    store = MemoryTrialStore()
    pool = JobPool[int](executor, reraise=True)
    pool.add(0, JobRunner(job, data, executor, store))
    pool.fill()
    assert executor.gpus == [0.5, 0.5]  # the job's share of a GPU, on every request
    assert store.budget["grid"].waiting is None
    pool.fill()  # the next round looks at what they wait for
    assert store.budget["grid"].waiting == "a node with 0.5 GPU"
    executor.notice = None  # the node joined
    pool.fill()
    assert store.budget["grid"].waiting is None
    while executor.in_flight():
        pool.wait()
        pool.fill()
    trials = store.trials()
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    assert executor.gpus == [0.5] * 3
    assert all(t.request.gpus is None for t in trials)  # set at dispatch, not stored


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_trials_that_reserve_gpus_fail_without_cuda_and_never_train_on_the_cpu(
    data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NAS_NODE_NAME", "here")
    base = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
    plain = {
        "strategies": ["grid"],
        "base": base,
        "space": {"strides": [[1], [1, 2]]},
        "budget": {"unit": "trials", "total": 1, "epochs_per_trial": 1},
        "train": {"batch_size": 100, "augment": False},
    }
    ran = JobRunner(make_job(**plain), data, InlineExecutor(), MemoryTrialStore()).run()
    assert [t.state for t in ran] == [TrialState.COMPLETED]
    assert ran[0].result is not None and ran[0].result.node == "here"  # where it ran

    gpus = make_job(**plain, resources={"gpus_per_trial": 0.25})
    failed = JobRunner(gpus, data, InlineExecutor(), MemoryTrialStore()).run()
    assert [t.state for t in failed] == [TrialState.FAILED]
    assert failed[0].result is None and failed[0].error is not None
    assert "reserves 0.25 GPU (resources.gpus_per_trial)" in failed[0].error
    assert "no CUDA device" in failed[0].error
