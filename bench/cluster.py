"""A Ray cluster that loses a node and gains one while trials run (``tests.ray_cluster``).

Per round, a fresh cluster on this machine: a head (no CPUs) and workers ``a`` and ``b`` of one
CPU each, every node its own ``ray start``; the server's Ray executor (``SupervisedRayExecutor``,
the driver in its bridge process) runs the trials and is driven as the runner drives it (a
retryable completion is submitted again).

1. One trial trains; the node hosting its actor is SIGKILLed (raylet and workers). Measured
   from the kill: when the trial is given back (a retryable completion), when it trains again
   on the other node (its first epoch report there: a new actor, torch imported, data loaded,
   one epoch), and when the executor's capacity drops to the survivor (Ray declares the node
   dead).
2. Two more trials wait behind it (capacity 1) when node ``c``'s ``ray start`` begins. Measured
   from then: when ``ray start`` returns, when the executor's capacity grows, and when a trial
   trains on ``c`` (its first epoch report).

Every trial must finish exactly once, completed.

    python bench/cluster.py [--rounds 3] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import bench.results as results_module
from bench.results import machine, table, write_section
from nas.job import DatasetRef
from nas.presets import parse_spec
from nas.trial import EpochReport, TrainOptions, TrialRequest
from tests.ray_cluster import HEAD_ENV, RayCluster
from workers.executors.interface import Completion
from workers.executors.ray_supervised import SupervisedRayExecutor

TINY = "resnet:r28:c1:n10:relu:stem_c8:basic_r1_c8:basic_r1_s2_c16:head_d0"
DATA = DatasetRef(name="synthetic", subset=200)
ACTOR = "ray::TrialActor"


def trial(epochs: int, seed: int) -> TrialRequest:
    options = TrainOptions(batch_size=100, augment=False, seed=seed)
    return TrialRequest(spec=parse_spec(TINY), epochs=epochs, options=options)


@dataclass
class Round:
    """Seconds from the kill (the first four) or from the join's ``ray start`` (the rest)."""

    start: float  # the cluster (head and two workers) up
    given_back: float = float("nan")
    trains_again: float = float("nan")
    capacity_down: float = float("nan")
    again_on: str = "?"
    joined: float = float("nan")
    capacity_up: float = float("nan")
    first_on_new: float = float("nan")
    ended: dict[int, Completion] = field(default_factory=dict, repr=False)
    twice: list[int] = field(default_factory=list)


class Driver:
    """The executor and its trials, driven as the runner drives it."""

    def __init__(self, executor: SupervisedRayExecutor) -> None:
        self.executor = executor
        self.requests: dict[int, TrialRequest] = {}
        self.first_report: dict[tuple[int, int], float] = {}  # (trial, attempt) -> when
        self.attempts: dict[int, int] = {}
        self.ended: dict[int, Completion] = {}
        self.retried: dict[int, float] = {}  # trial -> when it was given back
        self.twice: list[int] = []  # trials that finished more than once (must stay empty)
        self.capacity: list[tuple[float, int]] = [(time.monotonic(), executor.capacity)]

    def submit(self, trial_id: int, request: TrialRequest) -> None:
        self.requests[trial_id] = request
        attempt = self.attempts[trial_id] = self.attempts.get(trial_id, 0) + 1

        def on_progress(report: EpochReport) -> bool:
            self.first_report.setdefault((trial_id, attempt), time.monotonic())
            return False

        self.executor.submit(trial_id, request, DATA, on_progress)

    def capacity_at(self, capacity: int, since: float) -> float:
        """When the executor's capacity became ``capacity`` after ``since`` (nan: it did not)."""
        return next((t for t, c in self.capacity if t >= since and c == capacity), float("nan"))

    def step(self) -> None:
        completions = self.executor.wait(timeout=0.1)
        if self.executor.capacity != self.capacity[-1][1]:
            self.capacity.append((time.monotonic(), self.executor.capacity))
        for completion in completions:
            if completion.retryable:
                self.retried.setdefault(completion.trial_id, time.monotonic())
                self.submit(completion.trial_id, self.requests[completion.trial_id])
                continue
            if completion.trial_id in self.ended:
                self.twice.append(completion.trial_id)
            self.ended[completion.trial_id] = completion

    def until(self, what: str, done: Callable[[], object], timeout: float = 600.0) -> float:
        """Step until ``done()``; when it came."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            self.step()
        return time.monotonic()


def one_round(epochs: int) -> Round:
    began = time.monotonic()
    with RayCluster() as cluster:
        measured = Round(start=time.monotonic() - began)
        executor = SupervisedRayExecutor(address=cluster.address, env=RayCluster.CLIENT_ENV)
        try:
            driver = Driver(executor)
            driver.submit(1, trial(epochs, 1))
            driver.until("the trial to train", lambda: (1, 1) in driver.first_report)
            host = next(n for n in ("a", "b") if cluster.nodes[n].hosts(ACTOR))

            # 1. its node dies mid-trial
            killed = time.monotonic()
            cluster.kill(host)
            measured.given_back = driver.until("it to be given back", lambda: driver.retried)
            measured.given_back -= killed
            again = driver.until("it to train again", lambda: (1, 2) in driver.first_report)
            measured.trains_again = again - killed
            driver.until("the capacity to drop", lambda: executor.capacity == 1)
            measured.capacity_down = driver.capacity_at(1, killed) - killed

            # 2. node c joins while two more trials wait
            driver.submit(2, trial(epochs // 2, 2))
            driver.submit(3, trial(epochs // 2, 3))
            joining = time.monotonic()
            node = cluster.add("c", wait=False)
            measured.joined = driver.until("ray start to return", lambda: not node.starting)
            measured.joined -= joining
            node.finish()
            driver.until("the capacity to grow", lambda: executor.capacity == 2)
            measured.capacity_up = driver.capacity_at(2, joining) - joining
            driver.until("every trial to end", lambda: len(driver.ended) == 3)
        finally:
            executor.shutdown()
    first = driver.ended[1].result
    measured.again_on = first.node if first is not None and first.node else "failed"
    on_new = [
        driver.first_report[(t, driver.attempts[t])]
        for t, c in driver.ended.items()
        if c.result is not None and c.result.node == "c"
    ]
    measured.first_on_new = min(on_new) - joining if on_new else float("nan")
    measured.ended = driver.ended
    measured.twice = driver.twice
    return measured


def seconds(values: list[float]) -> str:
    shown = ", ".join(f"{v:.1f}" for v in values)
    return f"{statistics.median(values):.1f} ({shown})" if len(values) > 1 else shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=60, help="of the first trial")
    parser.add_argument("--results", type=Path, default=None)
    args = parser.parse_args()
    for name, value in RayCluster.CLIENT_ENV.items():
        os.environ.setdefault(name, value)

    rounds = []
    for i in range(args.rounds):
        measured = one_round(args.epochs)
        print(f"round {i + 1}: {measured}", flush=True)
        failed = [c for c in measured.ended.values() if c.result is None]
        if failed or measured.twice or sorted(measured.ended) != [1, 2, 3]:
            raise SystemExit(f"round {i + 1}: a trial failed, went missing or ended twice")
        rounds.append(measured)

    survivors = ", ".join(sorted({r.again_on for r in rounds}))
    measures = [
        ("cluster up: head, then workers a and b side by side", "start"),
        ("a trial's node SIGKILLed: the trial given back (retryable)", "given_back"),
        (f"... it trains again on the other node ({survivors}): first epoch", "trains_again"),
        ("... the executor's capacity down to the survivor (Ray: node dead)", "capacity_down"),
        ("node c's `ray start` begun: it returns", "joined"),
        ("... the executor's capacity grows", "capacity_up"),
        ("... a waiting trial trains on c: first epoch", "first_on_new"),
    ]
    rows = [[what, seconds([getattr(r, name) for r in rounds])] for what, name in measures]
    health = ", ".join(f"{k.removeprefix('RAY_')}={v}" for k, v in HEAD_ENV.items())
    body = "\n".join(
        [
            "## A Ray cluster that loses and gains nodes (`bench/cluster.py`)",
            "",
            f"Machine: {machine()}. All nodes on this one machine, each its own `ray start` "
            "(head: no CPUs; workers a, b, then c: one CPU each), trials of a tiny ResNet on "
            f"200 synthetic images ({args.epochs} epochs, then two of half that) run by the "
            "server's Ray executor (the driver in its bridge process). The head runs with "
            f"{health}: a dead node is declared after about 5 s. Median of {len(rounds)} "
            "rounds, each round's value in brackets, a fresh cluster per round; in every "
            "round each trial finished exactly once, completed. A trial trains again from its "
            "start: a new actor (torch imported, data loaded) on the surviving node.",
            "",
            table(["what", "seconds from the kill / from the join"], rows),
        ]
    )
    if args.results is not None:
        results_module.RESULTS = args.results
    write_section("cluster", body)
    print(body)


if __name__ == "__main__":
    main()
