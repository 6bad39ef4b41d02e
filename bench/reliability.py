"""Reliability: a long fuzz run, repeated server crashes, the fault tests, and a load test.

1. Fuzz: schemathesis over the whole OpenAPI surface (every check but positive data
   acceptance), ``--examples`` cases per operation, on a seeded database.
2. Crashes: one job on the local executor; ``nas serve`` is SIGKILLed ``--kills`` times at
   seeded random moments and restarted. Lost = a trial finished before a crash that is missing
   or changed afterwards; duplicated = a (strategy, number) stored twice.
3. Fault tests: the suite's fault and restart tests (database unplugged, worker killed, trial
   out of memory, full disk, server killed), run here with pytest and counted.
4. Load: ``--clients`` concurrent clients for ``--seconds`` against ``nas serve`` on loopback
   while a job runs, two ways. Saturated: each client sends its next request as soon as the last
   one answered (the leaderboard of a 2,000-trial job, incremental refreshes as the page does
   and some full loads, the running job and a trials page): the server's throughput, and
   latencies set by it (Little's law: clients / throughput). Open pages: each client is a
   leaderboard page on the running job, polling as leaderboard.js does (an answer, then
   ``POLL_MS`` = 1 s, then ``since=VERSION``; a full reload now and then): what its users see
   while the trials fill the cores. p50/p99, errors, and how many trials the running job
   finished meanwhile.

    python bench/reliability.py [--quick] [--results docs/results.md] [--only-load]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import httpx
import sqlalchemy as sa

from api.db.models import Trial, TrialDocument
from api.db.session import make_engine, session_factory, upgrade_database
from api.settings import Settings
from api.store import JobRepository
from bench.leaderboard import populate
from bench.results import machine, read_section, table, write_section
from tests.fuzz_run import EXCLUDED_CHECKS, fuzz
from tests.live_server import LiveServer
from workers.jobs.store import FINISHED_STATES

ROOT = Path(__file__).resolve().parent.parent
JOB: dict[str, Any] = {
    "name": "reliability",
    "dataset": {"name": "synthetic", "subset": 200},
    "space": {"strides": [[1], [1, 2], [1, 2], [1, 2]]},
    "strategies": ["grid", "random", "optuna"],
    "budget": {"unit": "trials", "total": 24, "epochs_per_trial": 1},
    "train": {"batch_size": 50, "augment": False},
    "confirm_seeds": 0,  # the 24 trials counted, nothing else
}


def trial_rows(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(
                        Trial.job_id,
                        Trial.strategy,
                        Trial.number,
                        Trial.state,
                        TrialDocument.result,
                        Trial.attempts,
                    ).join_from(Trial, TrialDocument)
                )
            )
    finally:
        engine.dispose()


def finished(url: str, job_id: int) -> dict[tuple[str, int], tuple[str, Any, int]]:
    return {
        (r.strategy, r.number): (r.state, r.result, r.attempts)
        for r in trial_rows(url)
        if r.job_id == job_id and r.state in FINISHED_STATES
    }


def wait_job(server: LiveServer, job_id: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = server.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in {"completed", "failed", "cancelled"}:
            return job
        time.sleep(0.5)
    raise RuntimeError(f"job {job_id} still {job.get('state')} after {timeout}s")


# ---- 2. crashes -------------------------------------------------------------------------------


def crashes(kills: int, scratch: Path, seed: int) -> dict[str, Any]:
    url = f"sqlite:///{scratch / 'crash.db'}"
    server = LiveServer(url, scratch / "crash.log").start()
    moments = random.Random(seed)
    lost = changed_states = 0
    killed_mid_trial = 0
    try:
        job_id = server.post("/api/v1/jobs", json=JOB).json()["id"]
        kept: dict[tuple[str, int], tuple[str, Any, int]] = {}
        for _ in range(kills):
            time.sleep(moments.uniform(1.0, 8.0))
            running = any(r.state == "running" for r in trial_rows(url))
            server.kill()
            killed_mid_trial += running
            now = finished(url, job_id)
            lost += sum(1 for key in kept if key not in now)
            changed_states += sum(1 for key in kept if key in now and now[key] != kept[key])
            kept = now
            server.start()
        job = wait_job(server, job_id, 900)
    finally:
        server.stop()
    final = finished(url, job_id)
    lost += sum(1 for key in kept if key not in final)
    changed_states += sum(1 for key in kept if key in final and final[key] != kept[key])
    keys = [(r.strategy, r.number) for r in trial_rows(url) if r.job_id == job_id]
    return {
        "kills": kills,
        "mid_trial": killed_mid_trial,
        "state": job["state"],
        "trials": len(keys),
        "lost": lost + changed_states,
        "duplicated": len(keys) - len(set(keys)),
    }


# ---- 3. the suite's fault tests ----------------------------------------------------------------


def fault_tests() -> tuple[int, int, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/api/test_faults.py",
            "tests/api/test_restart.py",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    counts = dict(
        (word, int(n)) for n, word in re.findall(r"(\d+) (passed|failed|error)", done.stdout)
    )
    return (
        counts.get("passed", 0),
        counts.get("failed", 0) + counts.get("error", 0),
        (time.perf_counter() - started),
    )


# ---- 4. load ----------------------------------------------------------------------------------


async def client_loop(
    base: str, board: int, running: int, until: float, seed: int, times: list[float], errors: list
) -> None:
    rng = random.Random(seed)
    version = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        while time.monotonic() < until:
            pick = rng.random()
            if pick < 0.05 or version == 0:
                path, params = f"/api/v1/jobs/{board}/leaderboard", {}
            elif pick < 0.75:
                path, params = f"/api/v1/jobs/{board}/leaderboard", {"since": version}
            elif pick < 0.9:
                path, params = f"/api/v1/jobs/{running}", {}
            else:
                path, params = f"/api/v1/jobs/{board}/trials", {"sort": "macs", "limit": 50}
            t0 = time.perf_counter()
            try:
                response = await client.get(path, params=params)
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
                continue
            times.append(1000 * (time.perf_counter() - t0))
            if response.status_code != 200:
                errors.append(str(response.status_code))
            elif path.endswith("/leaderboard"):
                version = response.json()["version"]


PAGE_POLL_S = 1.0  # leaderboard.js: POLL_MS while the job runs


async def page_loop(
    base: str, job: int, until: float, seed: int, times: list[float], errors: list
) -> None:
    """One open leaderboard page on ``job``: a full answer, then every ``PAGE_POLL_S`` after
    the last answer the changes since its version; 1 poll in 20 is a reload (a full answer)."""
    rng = random.Random(seed)
    version = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.sleep(rng.uniform(0, PAGE_POLL_S))  # pages opened at different moments
        while time.monotonic() < until:
            full = version == 0 or rng.random() < 0.05
            params = {} if full else {"since": version}
            t0 = time.perf_counter()
            try:
                response = await client.get(f"/api/v1/jobs/{job}/leaderboard", params=params)
            except httpx.HTTPError as exc:
                errors.append(type(exc).__name__)
            else:
                times.append(1000 * (time.perf_counter() - t0))
                if response.status_code != 200:
                    errors.append(str(response.status_code))
                else:
                    version = response.json()["version"]
            await asyncio.sleep(PAGE_POLL_S)


def load(clients: int, seconds: float, scratch: Path, *, pages: bool = False) -> dict[str, Any]:
    """The load row: saturated clients (``client_loop``), or open pages (``page_loop``)."""
    scratch.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{scratch / 'load.db'}"
    upgrade_database(url)
    engine = make_engine(url)
    factory = session_factory(engine)
    board = populate(factory, 2000)
    repo = JobRepository(factory)
    repo.set_state(board, "running")  # a finished job: the scheduler runs only the new one
    repo.set_state(board, "completed")
    engine.dispose()
    server = LiveServer(url, scratch / "load.log").start()
    try:
        running = server.post("/api/v1/jobs", json={**JOB, "name": "under-load"}).json()["id"]
        time.sleep(3)
        before = len(finished(url, running))
        times: list[float] = []
        errors: list[str] = []
        until = time.monotonic() + seconds

        async def everyone() -> None:
            await asyncio.gather(
                *(
                    page_loop(server.url, running, until, i, times, errors)
                    if pages
                    else client_loop(server.url, board, running, until, i, times, errors)
                    for i in range(clients)
                )
            )

        load_before = os.getloadavg()[0]
        # the clients' own pauses are not the server's: no full collection of this process
        # (torch and scipy imported) stalls their event loop for 300 ms (api.heap says why)
        gc.collect()
        gc.freeze()
        started = time.perf_counter()
        asyncio.run(everyone())
        wall = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        during = len(finished(url, running)) - before
    finally:
        server.stop()
    ordered = sorted(times)
    return {
        "pages": pages,
        "clients": clients,
        "seconds": seconds,
        "requests": len(times) + len(errors),
        "rate": len(times) / wall,
        "p50": statistics.median(ordered),
        "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max": ordered[-1],
        "errors": len(errors),
        "trials_during": during,
        "nice": Settings().worker_nice,  # what the server gives its trial workers
        "load_before": load_before,
        "load_after": load_after,
    }


LOAD_ROW = "load on loopback while a job runs"
PAGES_ROW = "open leaderboard pages while a job runs"
LOAD_NOTE = "The load rows:"


def load_row(loaded: dict[str, Any]) -> list[str]:
    if loaded.get("pages"):
        what = [
            PAGES_ROW,
            f"{loaded['clients']} pages for {loaded['seconds']:.0f} s on the running job, each "
            f"polling as leaderboard.js does (every {PAGE_POLL_S:.0f} s after an answer, "
            f"1 in 20 a reload); the job's trial workers at nice {loaded['nice']}",
        ]
    else:
        what = [
            LOAD_ROW,
            f"{loaded['clients']} clients for {loaded['seconds']:.0f} s, each sending its next "
            "request at its last answer: leaderboard of a 2,000-trial job (incremental and "
            f"full), job status, a trials page; the job's trial workers at nice {loaded['nice']}",
        ]
    outcome = (
        f"{loaded['requests']:,} requests, {loaded['rate']:.0f}/s, p50 {loaded['p50']:.1f} "
        f"ms, p99 {loaded['p99']:.1f} ms, max {loaded['max']:.0f} ms, "
        f"{loaded['errors']} errors; the job finished {loaded['trials_during']} "
        f"trial{'' if loaded['trials_during'] == 1 else 's'} meanwhile"
    )
    return [*what, outcome]


def load_note(runs: list[dict[str, Any]]) -> str:
    """When and where the load rows ran, and how busy the machine was."""
    busy = "; ".join(
        f"load average {r['load_before']:.1f} before and {r['load_after']:.1f} after the "
        f"{'pages' if r.get('pages') else 'saturated'} run"
        for r in runs
    )
    return (
        f"{LOAD_NOTE} {machine()}; {busy}. The clients run on the same cores as the server "
        "and its trial workers: the latencies are the whole machine's, noisy from one run to "
        "the next. Saturated clients measure throughput: their latency is clients / "
        "throughput, whatever the server does with the time."
    )


def with_load_rows(body: str, runs: list[dict[str, Any]]) -> str:
    """The reliability section ``body`` with its load rows (and the note on them) replaced."""
    rows = ["| " + " | ".join(load_row(r)) + " |" for r in runs]
    kept = [
        line
        for line in body.splitlines()
        if not line.startswith((f"| {LOAD_ROW}", f"| {PAGES_ROW}", LOAD_NOTE, "The load row:"))
    ]
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept + rows) + "\n\n" + load_note(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--results", type=Path, default=None)
    parser.add_argument("--examples", type=int, default=300, help="fuzz cases per operation")
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--no-fault-tests", action="store_true")
    parser.add_argument(
        "--only-load",
        action="store_true",
        help="run the load row alone and replace it in docs/results.md (the other rows stay)",
    )
    args = parser.parse_args()
    if args.quick:
        args.examples, args.kills, args.clients, args.seconds = 20, 2, 10, 10.0
        args.no_fault_tests = True
    if args.results is not None:
        import bench.results as results_module

        results_module.RESULTS = args.results
    if args.only_load:
        runs = []
        for pages in (False, True):
            with tempfile.TemporaryDirectory(prefix="nas-reliability-") as tmp:
                runs.append(load(args.clients, args.seconds, Path(tmp), pages=pages))
            print(f"load: {runs[-1]}")
        body = read_section("reliability")
        if body is None:
            raise SystemExit("no reliability section to put the load rows in: run it whole")
        body = with_load_rows(body, runs)
        print(body)
        write_section("reliability", body)
        return
    with tempfile.TemporaryDirectory(prefix="nas-reliability-") as tmp:
        scratch = Path(tmp)
        (scratch / "fuzz").mkdir()
        started = time.perf_counter()
        fuzzed = fuzz(scratch / "fuzz", examples=args.examples, seed=1)
        fuzz_seconds = time.perf_counter() - started
        print(f"fuzz: {fuzzed.cases} cases, {fuzzed.failures} failures ({fuzz_seconds:.0f}s)")
        crashed = crashes(args.kills, scratch, seed=7)
        print(f"crashes: {crashed}")
        faults = None if args.no_fault_tests else fault_tests()
        print(f"fault tests: {faults}")
        runs = []
        for pages in (False, True):
            runs.append(load(args.clients, args.seconds, scratch / f"load-{pages}", pages=pages))
            print(f"load: {runs[-1]}")

    rows = [
        [
            "fuzz (schemathesis, every check but positive-data acceptance)",
            f"{fuzzed.cases:,} requests over {fuzzed.operations} operations, "
            f"{args.examples} per operation, seed 1, {fuzz_seconds:.0f} s",
            f"{fuzzed.failures} failures" + (" (exit 0)" if fuzzed.returncode == 0 else ""),
        ],
        [
            "server SIGKILLed at random moments, restarted",
            f"{crashed['kills']} kills ({crashed['mid_trial']} with a trial running), one job "
            f"of {crashed['trials']} trials",
            f"job {crashed['state']}; trials lost {crashed['lost']}, "
            f"duplicated {crashed['duplicated']}",
        ],
    ]
    if faults is not None:
        passed, failed, seconds = faults
        rows.append(
            [
                "the suite's fault tests (tests/api/test_faults.py, test_restart.py)",
                "database unplugged mid-job (503, resumes), worker SIGKILLed mid-trial, trial "
                "too big for memory, full disk for weights, server killed 3x per backend",
                f"{passed} passed, {failed} failed ({seconds:.0f} s)",
            ]
        )
    rows.extend(load_row(r) for r in runs)
    body = "\n".join(
        [
            "## Reliability (`bench/reliability.py`)",
            "",
            f"Machine: {machine()}. Excluded fuzz check: `{EXCLUDED_CHECKS}` (a schema-valid",
            "job may still name an unknown strategy or dataset, and 422 is right for it).",
            "",
            table(["what", "how much", "outcome"], rows),
            "",
            load_note(runs),
        ]
    )
    print(body)
    if args.results is not None or not args.quick:
        write_section("reliability", body)


if __name__ == "__main__":
    main()
