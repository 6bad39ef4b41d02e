"""The job runner: drives a job's strategies against an executor and a trial store.

One loop serves the embedded ``nas run`` path and the server's scheduler:

1. Build every strategy of the job and replay the stored trials into it, so a restarted run
   continues exactly where it stopped (the store is the only source of truth).
2. Resubmit stored trials that never finished.
3. Give each free executor slot to the strategy that has used the least of its share: ask,
   store the request, and submit it if its estimated cost fits in what is left of the share;
   one that does not fit is stored as skipped ("over budget") without running, and the
   strategy is told so and may ask a cheaper one.
4. Collect completions: store them and tell the strategy. Progress reports are stored and
   passed to the strategy, which may prune.

A strategy stops when it is finished, has nothing to ask and nothing running, or its share of
the budget is spent (nothing left, or many proposals in a row do not fit).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from nas.data import ImageData
from nas.flops import complexity
from nas.job import Budget, JobSpec
from nas.spec import ArchSpec
from nas.strategies import SearchStrategy, StrategyContext, get
from nas.trial import EpochReport
from workers.executor import Completion, Executor
from workers.store import BudgetUse, StoredTrial, TrialStore


def fit_base(job: JobSpec, data: ImageData) -> ArchSpec:
    """The job's base architecture with the data's channels and classes.

    The default base also takes the data's resolution; an explicit base keeps its own (the
    trainer resamples the images).
    """
    base = job.base_spec()
    changes: dict[str, int] = {"in_channels": data.in_channels, "num_classes": data.num_classes}
    if job.base is None:
        changes["resolution"] = data.resolution
    return base.replace(**changes)


@lru_cache(maxsize=4096)
def forward_flops(spec_text: str) -> int:
    """FLOPs of one forward pass of one image (cached by block string)."""
    return 2 * complexity(ArchSpec.from_string(spec_text)).macs


def epoch_cost_estimator(num_train: int, num_val: int) -> Callable[[ArchSpec], float]:
    """Estimated FLOPs of one epoch: forward + backward (3x forward) per training image, plus
    one forward per validation image. The trainer charges the same formula with real strides."""

    def estimate(spec: ArchSpec) -> float:
        flops = forward_flops(spec.to_string())
        return 3.0 * flops * num_train + flops * num_val

    return estimate


OVER_BUDGET = "over budget"
BUDGET_SPENT = "budget spent"
TRIAL_LIMIT = "trial limit reached"
MAX_CONSECUTIVE_SKIPS = 25  # a strategy whose next 25 trials do not fit is out of budget


@dataclass
class StrategyState:
    """Bookkeeping of one strategy within a run."""

    key: str
    strategy: SearchStrategy
    budget: float
    spent: float = 0.0
    reserved: dict[int, float] = field(default_factory=dict)  # trial id -> estimated cost
    trials_done: int = 0
    trials_asked: int = 0
    consecutive_skips: int = 0
    stopped: str | None = None  # why it asks no more

    @property
    def committed(self) -> float:
        return self.spent + sum(self.reserved.values())


@dataclass(frozen=True)
class RunEvent:
    """What the runner tells its observers (progress bars, logs)."""

    kind: str  # "submitted" | "progress" | "finished" | "requeued" | "stopped"
    strategy: str
    trial: StoredTrial | None = None
    report: EpochReport | None = None
    message: str = ""


Observer = Callable[[RunEvent, "JobRunner"], None]


class JobRunner:
    """Runs one job to completion against ``executor`` and ``store``."""

    def __init__(
        self,
        job: JobSpec,
        data: ImageData,
        executor: Executor,
        store: TrialStore,
        observer: Observer | None = None,
        max_attempts: int = 3,
    ) -> None:
        self.job = job
        self.max_attempts = max_attempts
        self.executor = executor
        self.store = store
        self.observer = observer
        self.base = fit_base(job, data)
        self.epoch_cost = epoch_cost_estimator(data.num_train, data.num_val)
        self.states = self._build_states()
        self._trial_owner: dict[int, StrategyState] = {}
        self._number: dict[int, int] = {}
        self._free_retries: Counter[int] = Counter()  # trial id -> uncharged retries so far
        self._declined: set[str] = set()  # strategies with nothing to ask this round
        self._started = False

    # ---- set-up ---------------------------------------------------------------------------

    def strategy_budget(self) -> float:
        """Each strategy's share of the job budget, in FLOPs (or trials for unit 'trials')."""
        budget = self.job.budget
        share = budget.total / len(self.job.strategies)
        if budget.unit == "trials":
            return math.floor(share)
        if budget.unit == "flops":
            return share
        return share * self.epoch_cost(self.base)

    def _build_states(self) -> dict[str, StrategyState]:
        states: dict[str, StrategyState] = {}
        budget = self.strategy_budget()
        budget_flops = budget if self.job.budget.unit != "trials" else math.inf
        for run in self.job.runs():
            train = self.job.train
            if run.repeat:
                train = train.model_copy(update={"seed": train.seed + run.repeat})
            context = StrategyContext(
                key=run.key,
                base=self.base,
                space=self.job.space,
                epochs=self.job.budget.epochs_per_trial,
                train=train,
                objectives=self.job.objectives,
                seed=self.job.seed + run.repeat,
                budget_flops=budget_flops,
                epoch_cost=self.epoch_cost,
            )
            strategy = get(run.config.name)(context, run.config.options)
            states[run.key] = StrategyState(run.key, strategy, budget)
        return states

    def _replay(self) -> list[StoredTrial]:
        """Rebuild every strategy from the store; return the trials still to run."""
        unfinished: list[StoredTrial] = []
        by_strategy: dict[str, list[StoredTrial]] = {}
        for trial in self.store.trials():
            by_strategy.setdefault(trial.strategy, []).append(trial)
        for key, trials in by_strategy.items():
            state = self.states[key]
            state.strategy.replay((t.request, t.result, t.finished) for t in trials)
            for trial in trials:
                state.trials_asked += 1
                self._number[trial.id] = trial.number
                self._trial_owner[trial.id] = state
                skipped = trial.error is not None and trial.error.startswith(OVER_BUDGET)
                state.consecutive_skips = state.consecutive_skips + 1 if skipped else 0
                if trial.finished:
                    state.trials_done += 1
                    state.spent += self._charge(trial)
                else:
                    state.reserved[trial.id] = self._estimate(trial.request.spec)
                    unfinished.append(trial)
        return unfinished

    # ---- accounting -----------------------------------------------------------------------

    def _estimate(self, spec: ArchSpec) -> float:
        if self.job.budget.unit == "trials":
            return 1.0
        return self.epoch_cost(spec) * self.job.budget.epochs_per_trial

    def _charge(self, trial: StoredTrial) -> float:
        if trial.copied_from is not None:
            return 0.0  # known from another job (warm start): this job did not pay for it
        if self.job.budget.unit == "trials":
            return 1.0
        return trial.result.cost_flops if trial.result is not None else 0.0

    # ---- the loop -------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool] | None = None) -> list[StoredTrial]:
        """Run until every strategy has stopped and nothing is in flight; return all trials.

        ``should_stop`` is polled between completions: when it says so, the in-flight trials
        are cancelled in the executor and left unfinished in the store (the caller marks them
        cancelled, or a later run resumes them). The loop is a ``JobPool`` of this one job
        (the server's scheduler runs several jobs in one pool).
        """
        from workers.pool import JobPool  # the pool drives runners: imported late

        pool = JobPool[int](self.executor, reraise=True)
        pool.add(0, self)
        while True:
            if should_stop is not None and should_stop():
                self.cancel()
                return self.store.trials()
            pool.fill()
            if self.executor.in_flight() == 0:
                break
            pool.wait(timeout=1.0)
        self.finish()
        return self.store.trials()

    # ---- steps (driven by ``run`` or by a ``workers.pool.JobPool``) ------------------------

    def start(self) -> None:
        """Replay the store into the strategies and resubmit the unfinished trials (once)."""
        if self._started:
            return
        self._started = True
        unfinished = self._replay()
        self._save_budget()
        for trial in unfinished:
            self._submit(trial)

    def new_round(self) -> None:
        """A new round of offers: strategies that had nothing to ask may be asked again."""
        self._declined.clear()

    def offer(self) -> bool:
        """One free executor slot: give it to the strategy that has used the smallest share of
        its budget (ties: job order), so every strategy progresses from the start even when
        the executor runs fewer trials at once than the job has strategies. True when a trial
        was submitted; False when no strategy has anything to run now (this round)."""
        order = {key: i for i, key in enumerate(self.states)}
        while True:
            candidates = [
                s for s in self.states.values() if s.stopped is None and s.key not in self._declined
            ]
            if not candidates:
                return False
            state = min(candidates, key=lambda s: (self._used_share(s), order[s.key]))
            running = len(state.reserved)
            if not self._ask_one(state):
                self._declined.add(state.key)
            elif len(state.reserved) > running:
                return True
            # else: a proposal that did not fit was skipped; ask again

    def owns(self, trial_id: int) -> bool:
        """Whether ``trial_id`` is one of this job's trials in flight."""
        state = self._trial_owner.get(trial_id)
        return state is not None and trial_id in state.reserved

    def in_flight(self) -> int:
        """This job's trials submitted to the executor and not completed yet."""
        return sum(len(state.reserved) for state in self.states.values())

    @property
    def done(self) -> bool:
        """Every strategy has stopped and nothing of the job is in flight."""
        return self.in_flight() == 0 and all(s.stopped is not None for s in self.states.values())

    def cancel(self) -> None:
        """Cancel this job's in-flight trials in the executor (the store is not touched)."""
        for trial_id in self._in_flight_ids():
            self.executor.cancel(trial_id)

    def finish(self) -> None:
        """The run ended: strategies still going are marked finished (and the budget use
        kept in the store)."""
        for state in self.states.values():
            if state.stopped is None:
                state.stopped = "finished"
        self._save_budget()

    def budget_use(self) -> dict[str, BudgetUse]:
        """Each strategy's use of its share of the budget, now."""
        unit = "trials" if self.job.budget.unit == "trials" else "flops"
        used = {}
        for key, state in self.states.items():
            if state.stopped is not None and not state.reserved:
                fraction = 1.0
            else:
                fraction = min(1.0, state.spent / state.budget) if state.budget > 0 else 0.0
            used[key] = BudgetUse(
                unit=unit,
                budget=state.budget,
                spent=state.spent,
                trials=state.trials_done,
                stopped=state.stopped,
                fraction=fraction,
            )
        return used

    def _save_budget(self) -> None:
        self.store.record_budget(self.budget_use())

    def extend(self, budget: Budget) -> None:
        """The job's budget changed (``nas extend`` while it runs): new shares, and the
        strategies that stopped for want of budget (or of trials) ask again."""
        self.job = self.job.model_copy(update={"budget": budget})
        share = self.strategy_budget()
        for state in self.states.values():
            state.budget = share
            if state.stopped in (BUDGET_SPENT, TRIAL_LIMIT):
                state.stopped = None
                state.consecutive_skips = 0
        self._save_budget()

    def complete(self, completion: Completion) -> None:
        """Store a completion and tell its strategy (a retryable loss runs the trial again)."""
        self._complete(completion)

    def _in_flight_ids(self) -> list[int]:
        return [i for state in self.states.values() for i in state.reserved]

    @staticmethod
    def _used_share(state: StrategyState) -> float:
        return state.committed / state.budget if state.budget > 0 else math.inf

    def _ask_one(self, state: StrategyState) -> bool:
        if state.trials_asked >= self.job.budget.max_trials_per_strategy:
            self._stop(state, TRIAL_LIMIT)
            return False
        if state.committed >= state.budget:
            if not state.reserved:
                self._stop(state, BUDGET_SPENT)
            return False
        request = state.strategy.ask()
        if request is None:
            if state.strategy.is_finished() or not state.reserved:
                self._stop(state, "search space exhausted")
            return False
        cost = self._estimate(request.spec)
        trial = self.store.add(request)
        state.trials_asked += 1
        self._number[trial.id] = trial.number
        self._trial_owner[trial.id] = state
        if state.committed + cost > state.budget:
            # Recorded (so a replay asks the same next trial) but not run: it does not fit.
            remaining = max(0.0, state.budget - state.committed)
            self.store.skip(trial.id, f"{OVER_BUDGET}: needs {cost:.3g}, {remaining:.3g} left")
            state.trials_done += 1
            state.consecutive_skips += 1
            state.strategy.tell(trial.number, None)
            if state.consecutive_skips >= MAX_CONSECUTIVE_SKIPS or remaining <= 0:
                self._stop(state, BUDGET_SPENT)
            else:
                self._save_budget()
            return True
        state.consecutive_skips = 0
        state.reserved[trial.id] = cost
        self._submit(trial)
        return True

    def _stop(self, state: StrategyState, why: str) -> None:
        state.stopped = why
        self._save_budget()
        self._emit(RunEvent("stopped", state.key, message=why))

    def _submit(self, trial: StoredTrial) -> None:
        state = self._trial_owner[trial.id]
        self.store.mark_running(trial.id)

        def on_progress(report: EpochReport) -> bool:
            self.store.record_progress(trial.id, report)
            self._emit(RunEvent("progress", state.key, trial=trial, report=report))
            return state.strategy.report(trial.number, report)

        self.executor.submit(trial.id, trial.request, self.job.dataset, on_progress)
        self._emit(RunEvent("submitted", state.key, trial=trial))

    def _complete(self, completion: Completion) -> None:
        state = self._trial_owner[completion.trial_id]
        number = self._number[completion.trial_id]
        error = completion.error
        if completion.retryable:
            trial = self.store.get(completion.trial_id)
            free = self._free_retries[trial.id]
            if not completion.charged and free < self.max_attempts:
                free = self._free_retries[trial.id] = free + 1
            if trial.attempts - free < self.max_attempts:
                self._emit(RunEvent("requeued", state.key, trial=trial, message=error or ""))
                self._submit(trial)
                return
            error = f"gave up after {trial.attempts} attempts; last: {error}"
        log = completion.log if completion.result is None else None
        self.store.finish(completion.trial_id, completion.result, error, log)
        state.reserved.pop(completion.trial_id, None)
        state.trials_done += 1
        if self.job.budget.unit == "trials":
            state.spent += 1.0
        elif completion.result is not None:
            state.spent += completion.result.cost_flops
        state.strategy.tell(number, completion.result)
        self._save_budget()
        trial = self.store.get(completion.trial_id)
        self._emit(RunEvent("finished", state.key, trial=trial))

    def _emit(self, event: RunEvent) -> None:
        if self.observer is not None:
            self.observer(event, self)
