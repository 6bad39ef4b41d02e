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

A strategy chained onto another (``from``: ``nas.strategies.chained``) waits, asking nothing and
spending nothing, until its source has stopped with nothing in flight; then it starts from the
source's recommendation, or stops when there is none.

A strategy stops when it is finished, has nothing to ask and nothing running, or its share of
the budget is spent (nothing left, or many proposals in a row do not fit; one that asks
cheapest first, such as a grid in ``order: cost``, at its first that does not fit while
nothing of it is in flight). Why it stopped reads
true and in the job's unit (``workers.jobs.budget``): a grid that trained 2 of its 18 points because
the other 16 were over budget stopped for its budget, not because its space was exhausted.

5. Once every strategy has stopped and none of their trials is in flight, confirm the job's
   recommendation: train it again with ``confirm_seeds`` other seeds (``workers.jobs.confirm``),
   outside every strategy's budget. The job is done when those have finished too.

Retries: a trial whose worker is lost runs again, up to ``max_attempts`` *charged* attempts. An
attempt cut short through no fault of the trial's is not charged (``Interruption``): a lost Ray
cluster or a server that let the job go (a free retry, at most ``max_attempts`` of them), or a
takeover: the trial was still ``running`` when this runner started, so the server (or runner)
running it stopped mid-trial without letting it go. Takeovers have their own bound,
``max_takeovers``: a trial that kills its server every time is given up, saying so. The counts
are stored with the trial, so they hold across restarts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from nas.data import ImageData
from nas.flops import epoch_cost_estimator
from nas.job import Budget, JobSpec
from nas.spec import ArchSpec
from nas.strategies import SearchStrategy, StrategyContext, get
from nas.strategies.chained import Chained, base_origin
from nas.trial import EpochReport
from workers.executors.interface import Completion, Executor, waiting_notices
from workers.jobs.budget import OVER_BUDGET, SPACE_EXHAUSTED, Account, JobBudget
from workers.jobs.confirm import Confirmation, is_confirmation
from workers.jobs.pool import JobPool
from workers.jobs.store import BudgetUse, Interruption, StoredTrial, TrialState, TrialStore


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


def _was_skipped(trial: StoredTrial) -> bool:
    """Stored without running: it did not fit what was left of the budget."""
    return trial.error is not None and trial.error.startswith(OVER_BUDGET)


@dataclass
class StrategyState:
    """One strategy within a run: the strategy and its budget account (``workers.jobs.budget``)."""

    key: str
    strategy: SearchStrategy
    account: Account
    held: bool = False
    """A cheapest-first strategy whose proposal did not fit while trials of it ran: asked again
    once one of them finishes (its reservation given back) or the budget grows, not before
    (its next proposal would be that one again)."""

    # read by progress displays (``nas run``)
    @property
    def budget(self) -> float:
        return self.account.budget

    @property
    def spent(self) -> float:
        return self.account.spent

    @property
    def committed(self) -> float:
        return self.account.committed

    @property
    def trials_done(self) -> int:
        return self.account.trials_done

    @property
    def skipped(self) -> int:
        """Of ``trials_done``, the proposals skipped as over budget (never run)."""
        return self.account.skipped

    @property
    def stopped(self) -> str | None:
        return self.account.stopped

    @property
    def reserved(self) -> dict[int, float]:
        """Estimated costs of its trials in flight, by trial id."""
        return self.account.reserved


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
        max_takeovers: int = 3,
    ) -> None:
        self.job = job
        self.max_attempts = max_attempts
        self.max_takeovers = max_takeovers
        self.executor = executor
        self.store = store
        self.observer = observer
        self.base = fit_base(job, data)
        self.epoch_cost = epoch_cost_estimator(data.num_train, data.num_val)
        runs = job.runs()
        self.ledger = JobBudget(
            job.budget, len(job.strategies), (r.key for r in runs), self.epoch_cost, self.base
        )
        self.states = self._build_states()
        self.confirmation = Confirmation(job.confirm_seeds)
        self._trial_owner: dict[int, StrategyState] = {}
        self._number: dict[int, int] = {}
        self._declined: set[str] = set()  # strategies with nothing to ask this round
        self._waiting: dict[str, str] = {}  # strategy -> what its trials wait for
        self._started = False

    # ---- set-up ---------------------------------------------------------------------------

    @property
    def budget(self) -> Budget:
        """The job's budget this runner runs under now (``extend`` changes it)."""
        return self.ledger.budget

    def _build_states(self) -> dict[str, StrategyState]:
        states: dict[str, StrategyState] = {}
        budget_flops = self.ledger.share_flops
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
            cls, options = get(run.config.name), run.config.options
            strategy = (
                cls(context, options)
                if run.source is None
                else Chained(context, run.source, partial(cls, options=options))
            )
            states[run.key] = StrategyState(run.key, strategy, self.ledger.accounts[run.key])
        return states

    def _replay(self) -> list[StoredTrial]:
        """Rebuild every strategy from the store; return the trials still to run."""
        unfinished: list[StoredTrial] = []
        by_strategy: dict[str, list[StoredTrial]] = {}
        for trial in self.store.trials():
            if is_confirmation(trial):
                self.confirmation.replay(trial)
                self._number[trial.id] = trial.number
                if not trial.finished:
                    self.confirmation.in_flight.add(trial.id)
                    unfinished.append(trial)
                continue
            self.confirmation.observe(trial)
            by_strategy.setdefault(trial.strategy, []).append(trial)
        for key, trials in by_strategy.items():
            state = self.states[key]
            account = state.account
            skips = {t.number for t in trials if t.finished and _was_skipped(t)}
            state.strategy.replay(((t.request, t.result, t.finished) for t in trials), skips)
            for trial in trials:
                account.trials_asked += 1
                self._number[trial.id] = trial.number
                self._trial_owner[trial.id] = state
                skipped = _was_skipped(trial)
                account.consecutive_skips = account.consecutive_skips + 1 if skipped else 0
                account.skipped += skipped
                if trial.finished:
                    # a warm start's copied trial is known from another job: free here
                    copied = trial.copied_from is not None
                    account.trials_done += 1
                    account.spent += self.ledger.charge(trial.result, copied=copied)
                else:
                    account.reserved[trial.id] = self.ledger.estimate(trial.request.spec)
                    unfinished.append(trial)
        return unfinished

    # ---- the loop -------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool] | None = None) -> list[StoredTrial]:
        """Run until every strategy has stopped and nothing is in flight; return all trials.

        ``should_stop`` is polled between completions: when it says so, the in-flight trials
        are cancelled in the executor and go back to queued in the store, each attempt a free
        retry (the caller marks them cancelled, or a later run resumes them). The loop is a
        ``JobPool`` of this one job (the server's scheduler runs several jobs in one pool).
        """
        pool = JobPool[int](self.executor, reraise=True)
        pool.add(0, self)
        while True:
            if should_stop is not None and should_stop():
                in_flight = self._in_flight_ids()
                self.cancel()
                for trial_id in in_flight:
                    self.store.requeue(trial_id, Interruption.FREE)
                return self.store.trials()
            pool.fill()
            if self.executor.in_flight() == 0:
                break
            pool.wait(timeout=1.0)
        self.finish()
        return self.store.trials()

    # ---- steps (driven by ``run`` or by a ``workers.jobs.pool.JobPool``) ------------------------

    def start(self) -> None:
        """Replay the store into the strategies and resubmit the unfinished trials (once)."""
        if self._started:
            return
        self._started = True
        unfinished = self._replay()
        self._save_budget()
        for trial in unfinished:
            self._resume(trial)

    def _resume(self, trial: StoredTrial) -> None:
        """Run an unfinished trial again. One still ``running`` was cut short by whoever ran
        it before (a server that died or stalled past its lease, a runner that stopped without
        letting it go): a takeover, not charged. One taken over ``max_takeovers`` times is
        given up instead: it may be what kills its servers."""
        if trial.state == TrialState.RUNNING:
            trial = self.store.requeue(trial.id, Interruption.TAKEOVER)
        if trial.takeovers >= self.max_takeovers:
            why = (
                f"given up: the server running it died {trial.takeovers} times (each time "
                "another took the job over); the trial may be what kills it"
            )
            self._complete(Completion(trial.id, None, why))
            return
        self._submit(trial)

    def new_round(self) -> None:
        """A new round of offers: strategies that had nothing to ask may be asked again; what
        their trials wait for, when the executor says (kept with the budget use)."""
        self._declined.clear()
        self._note_waiting()

    def _note_waiting(self) -> None:
        """Per strategy, what its trials in flight wait for (``waiting_notices``: a node with
        the GPUs they reserve); stored when it changes, so the page and the CLI show it."""
        notices = waiting_notices(self.executor)
        waiting = {}
        for state in self.states.values():
            found = next((notices[t] for t in state.reserved if t in notices), None)
            if found is not None:
                waiting[state.key] = found
        if waiting != self._waiting:
            self._waiting = waiting
            self._save_budget()

    def offer(self) -> bool:
        """One free executor slot: give it to the strategy that has used the smallest share of
        its budget (ties: job order), so every strategy progresses from the start even when
        the executor runs fewer trials at once than the job has strategies. True when a trial
        was submitted; False when no strategy has anything to run now (this round), or the job
        has its ``budget.parallel_trials`` in flight."""
        cap = self.job.budget.parallel_trials
        if cap is not None and self.in_flight() >= cap:
            return False
        order = {key: i for i, key in enumerate(self.states)}
        while True:
            candidates = [
                s for s in self.states.values() if s.stopped is None and s.key not in self._declined
            ]
            if not candidates:
                return self._offer_confirmation()
            state = min(candidates, key=lambda s: (s.account.used_share, order[s.key]))
            running = len(state.reserved)
            if not self._ask_one(state):
                self._declined.add(state.key)
            elif len(state.reserved) > running:
                return True
            # else: a proposal that did not fit was skipped; ask again

    def _offer_confirmation(self) -> bool:
        """The search is over (every strategy stopped, none of its trials in flight): submit
        the next confirmation run of the recommendation, if one is still to run."""
        if not self._search_over():
            return False
        request = self.confirmation.next_request()
        if request is None:
            return False
        trial = self.store.add(request)
        self._number[trial.id] = trial.number
        self.confirmation.in_flight.add(trial.id)
        self._submit(trial)
        return True

    def _search_over(self) -> bool:
        return all(s.stopped is not None and not s.reserved for s in self.states.values())

    def owns(self, trial_id: int) -> bool:
        """Whether ``trial_id`` is one of this job's trials in flight."""
        if trial_id in self.confirmation.in_flight:
            return True
        state = self._trial_owner.get(trial_id)
        return state is not None and trial_id in state.reserved

    def in_flight(self) -> int:
        """This job's trials submitted to the executor and not completed yet."""
        search = sum(len(state.reserved) for state in self.states.values())
        return search + len(self.confirmation.in_flight)

    @property
    def done(self) -> bool:
        """Every strategy has stopped, the recommendation is confirmed and nothing of the job
        is in flight."""
        return self.in_flight() == 0 and self._search_over() and not self.confirmation.pending

    def cancel(self) -> None:
        """Cancel this job's in-flight trials in the executor (the store is not touched)."""
        for trial_id in self._in_flight_ids():
            self.executor.cancel(trial_id)

    def finish(self) -> None:
        """The run ended: strategies still going are marked finished (and the budget use
        kept in the store)."""
        for state in self.states.values():
            if state.account.stopped is None:
                state.account.stopped = "finished"
        self._save_budget()

    def budget_use(self) -> dict[str, BudgetUse]:
        """Each strategy's use of its share of the budget, now; a chained one's also says what
        it waits for or where its base came from."""
        use = self.ledger.use()
        for key, notice in self._waiting.items():
            use[key] = use[key].model_copy(update={"waiting": notice})
        for key, state in self.states.items():
            strategy = state.strategy
            if not isinstance(strategy, Chained):
                continue
            if strategy.started:
                update = {"base_from": base_origin(strategy.origin)}
            elif state.stopped is None:
                update = {"waiting_for": strategy.source}
            else:
                continue
            use[key] = use[key].model_copy(update=update)
        return use

    def _save_budget(self) -> None:
        self.store.record_budget(self.budget_use())

    def extend(self, budget: Budget) -> None:
        """The job's budget changed (``nas extend`` while it runs): new shares, and the
        strategies that stopped for want of budget (or of trials) ask again."""
        self.job = self.job.model_copy(update={"budget": budget})
        self.ledger.extend(budget)
        for state in self.states.values():
            state.held = False
        self._save_budget()

    def complete(self, completion: Completion) -> None:
        """Store a completion and tell its strategy (a retryable loss runs the trial again)."""
        self._complete(completion)

    def _in_flight_ids(self) -> list[int]:
        search = [i for state in self.states.values() for i in state.reserved]
        return search + sorted(self.confirmation.in_flight)

    def _waits(self, state: StrategyState) -> bool:
        """Whether a chained strategy still waits for its source: until the source has stopped
        with nothing in flight. Then it starts from the source's recommendation; with none, it
        stops, to look again if an extension lets the source train more."""
        strategy = state.strategy
        if not isinstance(strategy, Chained) or strategy.started:
            return False
        source = self.states[strategy.source]
        if source.stopped is None or source.reserved:
            return True
        if not strategy.begin(source.strategy.records):
            self._stop(state, strategy.finished_reason(), reopens=True)
            return True
        self._save_budget()  # no longer waiting
        return False

    def _ask_one(self, state: StrategyState) -> bool:
        if state.held or self._waits(state):
            return False
        account = state.account
        why_not = self.ledger.can_ask(state.key)
        if why_not is not None:
            if why_not:  # its trial limit, or its budget spent: an extension restarts it
                self._stop(state, why_not, reopens=True)
            return False
        request = state.strategy.ask()
        if request is None:
            # it stops once nothing of it is in flight, so its reason counts every result (a
            # strategy that calls itself finished with its last trial running waits for it)
            if not account.reserved:
                why = self.ledger.out_of_proposals(state.key)  # its budget, if any were skipped
                if why == SPACE_EXHAUSTED:
                    why = state.strategy.finished_reason()  # e.g. the base network trained
                self._stop(state, why)
            return False
        cost = self.ledger.estimate(request.spec)
        trial = self.store.add(request)
        account.trials_asked += 1
        self._number[trial.id] = trial.number
        self._trial_owner[trial.id] = state
        if not account.fits(cost):
            # Recorded (so a replay asks the same next trial) but not run: it does not fit.
            self.store.skip(trial.id, self.ledger.over_budget(cost, account.remaining()))
            out_of_budget = account.skip()
            state.strategy.tell_skipped(trial.number)
            cheapest_first = state.strategy.asks_cheapest_first()
            if not out_of_budget and not account.reserved and cheapest_first:
                # the cheapest proposal left does not fit, and nothing in flight can give back
                self._stop(state, self.ledger.cheapest_over_budget(state.key, cost), reopens=True)
            elif not out_of_budget and cheapest_first:
                state.held = True  # until a trial in flight gives some back
                self._save_budget()
            elif out_of_budget:
                self._stop(state, self.ledger.too_many_skips(state.key), reopens=True)
            else:
                self._save_budget()
            return True
        account.reserve(trial.id, cost)
        self._submit(trial)
        return True

    def _stop(self, state: StrategyState, why: str, *, reopens: bool = False) -> None:
        state.account.stop(why, reopens=reopens)
        for other in self.states.values():  # its chained strategies may start this round
            if isinstance(other.strategy, Chained) and other.strategy.source == state.key:
                self._declined.discard(other.key)
        self._save_budget()
        self._emit(RunEvent("stopped", state.key, message=why))

    def _submit(self, trial: StoredTrial) -> None:
        state = self._trial_owner.get(trial.id)  # None: a confirmation run
        self.store.mark_running(trial.id)
        request = trial.request
        gpus = self.job.resources.gpus_per_trial
        if gpus is not None:  # what the trial's worker reserves (Ray: its actor's request)
            request = request.model_copy(update={"gpus": gpus})

        def on_progress(report: EpochReport) -> bool:
            self.store.record_progress(trial.id, report)
            self._emit(RunEvent("progress", trial.strategy, trial=trial, report=report))
            return state.strategy.report(trial.number, report) if state is not None else False

        self.executor.submit(trial.id, request, self.job.dataset, on_progress)
        self._emit(RunEvent("submitted", trial.strategy, trial=trial))

    def _complete(self, completion: Completion) -> None:
        state = self._trial_owner.get(completion.trial_id)  # None: a confirmation run
        number = self._number[completion.trial_id]
        error = completion.error
        if completion.retryable:
            trial = self.store.get(completion.trial_id)
            if not completion.charged and trial.free_retries < self.max_attempts:
                trial = self.store.requeue(trial.id, Interruption.FREE)
            if trial.charged_attempts < self.max_attempts:
                self._emit(RunEvent("requeued", trial.strategy, trial=trial, message=error or ""))
                self._submit(trial)
                return
            error = f"gave up after {_attempts(trial)}; last: {error}"
        log = completion.log if completion.result is None else None
        self.store.finish(completion.trial_id, completion.result, error, log)
        trial = self.store.get(completion.trial_id)
        if state is None:
            self.confirmation.in_flight.discard(completion.trial_id)
        else:
            state.account.settle(completion.trial_id, self.ledger.charge(completion.result))
            state.held = False
            state.strategy.tell(number, completion.result)
            self._save_budget()
            self.confirmation.observe(trial)
        self._emit(RunEvent("finished", trial.strategy, trial=trial))

    def _emit(self, event: RunEvent) -> None:
        if self.observer is not None:
            self.observer(event, self)


def _attempts(trial: StoredTrial) -> str:
    """'3 attempts', or '6 attempts (3 charged, 2 takeovers, 1 free retry)'."""
    text = f"{trial.attempts} attempts"
    if trial.charged_attempts == trial.attempts:
        return text
    parts = [f"{trial.charged_attempts} charged"]
    if trial.takeovers:
        parts.append(f"{trial.takeovers} takeover{'s' if trial.takeovers != 1 else ''}")
    if trial.free_retries:
        parts.append(f"{trial.free_retries} free retr{'ies' if trial.free_retries != 1 else 'y'}")
    return f"{text} ({', '.join(parts)})"
