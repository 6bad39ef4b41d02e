"""The service's own costs: scheduling overhead per trial, throughput with 1 vs 2 workers, and
API latency with 10,000 trials stored, on SQLite and PostgreSQL.

1. Overhead: a job of tiny trials (an 8-pixel, 4-channel one-stage ResNet on 9 images) run by
   the real runner over the SQL store (SQLite file), through each executor. Overhead per trial
   = (wall time of the job - the trials' own training time as they report it) / trials, after a
   warm-up job on the same executor; the first (cold) trial of the warm-up is shown apart.
2. Throughput: small real trials (the default ResNet, 1,000 synthetic images, 1 epoch) through
   LocalExecutor and RayExecutor with 1 and 2 workers, each worker with cores / workers torch
   threads; trials per minute and the 2-vs-1 ratio measured in one run.
3. API latency: 10,000 finished trials inserted in one job, the app served by uvicorn on
   loopback (scheduler off), sequential requests: p50 / p99 of the trials listing (first page
   by accuracy, a deep page by MACs, one strategy) and of ``/best`` (accuracy and Pareto).
4. Jobs side by side: the server's scheduler (``api.scheduler.Scheduler``, local executor, 2
   slots) runs 3 jobs of N identical small trials submitted at once, and the same 3N trials as
   one job; the wall-time ratio (aim: at most 1.15x: sharing the slots costs nothing).
5. Failover: two ``nas serve`` processes on one PostgreSQL database with a lease of L seconds;
   the one running a job is killed (SIGKILL) mid-trial; the time until the other starts a
   trial of that job (aim: at most L + 5 s).

    python bench/service.py [--quick] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import httpx
import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url

from api.app import create_app
from api.db.session import make_engine, session_factory, session_scope, upgrade_database
from api.settings import Settings
from api.store import JobRepository, insert_trials
from bench.results import machine, table, write_section
from nas.job import JobSpec
from nas.models import preset
from nas.trial import EpochReport, TrialRequest, TrialResult
from tests.threaded_server import serve_in_thread
from workers.executors.interface import Executor, InlineExecutor
from workers.executors.trial_entry import load_dataset
from workers.jobs.runner import JobRunner

POSTGRES_ADMIN = os.environ.get(
    "NAS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TINY_BASE = "resnet:r8:c1:n10:relu:stem_c4:basic_r1_c4:head_d0"
AIM_OVERHEAD_MS = 50.0
AIM_P99_MS = 50.0
AIM_SIDE_BY_SIDE = 1.15  # 3 jobs at once vs the same trials as one job
AIM_FAILOVER_EXTRA_S = 5.0  # a dead server's job resumes within the lease plus this
CORES = len(os.sched_getaffinity(0))


# ---- databases --------------------------------------------------------------------------------


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def database(backend: str, scratch: Path) -> Iterator[str]:
    """A fresh, migrated database on ``backend``; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{scratch / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        upgrade_database(url)
        yield url
        return
    name = f"nas_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(POSTGRES_ADMIN), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(POSTGRES_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_database(url)
        yield url
    finally:
        with psycopg.connect(_libpq(POSTGRES_ADMIN), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


# ---- executors --------------------------------------------------------------------------------


def make_executor(kind: str, workers: int, scratch: Path) -> Executor:
    if kind == "inline":
        return InlineExecutor()
    if kind == "local":
        from workers.executors.local_workers import LocalExecutor

        return LocalExecutor(capacity=workers, heartbeat_interval=1.0)
    from workers.executors.ray_actors import RayExecutor

    os.environ["RAY_TMPDIR"] = str(scratch / "ray")
    return RayExecutor(num_cpus=CORES, capacity=workers)


def shutdown(executor: Executor) -> None:
    stop = getattr(executor, "shutdown", None)
    if callable(stop):
        stop()


def job(name: str, trials: int, *, tiny: bool, threads: int, subset: int) -> JobSpec:
    return JobSpec.parse(
        {
            "name": name,
            "dataset": {"name": "synthetic", "subset": subset},
            "base": TINY_BASE if tiny else None,
            "strategies": [{"name": "random", "options": {"allow_repeats": True}}],
            "budget": {"unit": "trials", "total": trials, "epochs_per_trial": 1},
            "train": {"batch_size": 100, "augment": False, "threads": threads},
            "confirm_seeds": 0,  # the trials timed are the search's
        }
    )


def run_job(spec: JobSpec, executor: Executor, url: str) -> tuple[float, list[float]]:
    """(wall seconds of the whole job, each trial's own training seconds) over the SQL store."""
    engine = make_engine(url)
    try:
        repo = JobRepository(session_factory(engine))
        record = repo.create(spec)
        data = load_dataset(spec.dataset)
        started = time.perf_counter()
        trials = JobRunner(spec, data, executor, repo.trial_store(record.id)).run()
        wall = time.perf_counter() - started
    finally:
        engine.dispose()
    own = [t.result.wall_seconds for t in trials if t.result is not None]
    if len(own) != len(trials):
        failed = [t.error for t in trials if t.result is None]
        raise RuntimeError(f"{len(failed)} trials failed: {failed[:1]}")
    return wall, own


def overhead(kinds: list[str], trials: int, scratch: Path) -> list[list[str]]:
    rows = []
    for kind in kinds:
        executor = make_executor(kind, 1, scratch)
        try:
            with database("sqlite", scratch) as url:
                warm_wall, warm_own = run_job(
                    job("warm-up", 3, tiny=True, threads=CORES, subset=10), executor, url
                )
                wall, own = run_job(
                    job("overhead", trials, tiny=True, threads=CORES, subset=10), executor, url
                )
        finally:
            shutdown(executor)
        per_trial_ms = 1000 * (wall - sum(own)) / trials
        cold_ms = 1000 * (warm_wall - sum(warm_own)) - 2 * per_trial_ms
        verdict = "met" if per_trial_ms < AIM_OVERHEAD_MS else "not met"
        rows.append(
            [
                kind,
                str(trials),
                f"{1000 * statistics.mean(own):.1f}",
                f"{per_trial_ms:.1f}",
                f"{cold_ms:.0f}",
                verdict,
            ]
        )
        print(f"overhead {kind}: {per_trial_ms:.1f} ms/trial (cold start {cold_ms:.0f} ms)")
    return rows


def throughput(kinds: list[str], trials: int, scratch: Path) -> list[list[str]]:
    rows = []
    for kind in [k for k in kinds if k != "inline"]:
        rates: dict[int, float] = {}
        for workers in (1, 2):
            executor = make_executor(kind, workers, scratch)
            threads = max(1, CORES // workers)
            try:
                with database("sqlite", scratch) as url:
                    run_job(
                        job("warm-up", workers, tiny=False, threads=threads, subset=1000),
                        executor,
                        url,
                    )
                    wall, _ = run_job(
                        job("throughput", trials, tiny=False, threads=threads, subset=1000),
                        executor,
                        url,
                    )
            finally:
                shutdown(executor)
            rates[workers] = 60 * trials / wall
            print(f"throughput {kind} x{workers}: {rates[workers]:.1f} trials/min")
        rows.append(
            [
                kind,
                str(trials),
                f"{rates[1]:.1f}",
                f"{rates[2]:.1f}",
                f"{rates[2] / rates[1]:.2f}x",
            ]
        )
    return rows


# ---- API latency ------------------------------------------------------------------------------


def fake_result(i: int) -> TrialResult:
    accuracy = 0.5 + 0.45 * ((i * 7919) % 10007) / 10007
    params = 20_000 + (i * 104_729) % 2_000_000
    report = EpochReport(
        epoch=1,
        train_loss=1.0,
        train_accuracy=accuracy,
        val_loss=1.0,
        val_accuracy=accuracy,
        lr=0.05,
        seconds=1.0,
        strides=[None, None, None, None],
    )
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=1.0,
        params=params,
        macs=params * 30,
        wall_seconds=1.0 + i % 7,
        cost_flops=1e12,
        epochs_run=1,
        learned_strides=[None, None, None, None],
        history=[report],
    )


def fill(url: str, trials: int) -> int:
    """A job with ``trials`` completed trials (bulk insert); its id."""
    spec = job("api-latency", trials, tiny=False, threads=1, subset=1000)
    engine = make_engine(url)
    try:
        factory = session_factory(engine)
        record = JobRepository(factory).create(spec)
        base = preset("resnet_narrow_fmnist")
        now = datetime.now(UTC)
        rows = []
        for i in range(trials):
            strategy = ("grid", "random", "optuna", "diffstride", "compound")[i % 5]
            request = TrialRequest(spec=base, epochs=1, strategy=strategy, number=i // 5)
            result = fake_result(i)
            rows.append(
                {
                    "job_id": record.id,
                    "strategy": strategy,
                    "number": i // 5,
                    "state": "completed",
                    "request": request.model_dump(mode="json"),
                    "spec": base.to_string(),
                    "params": {},
                    "result": result.model_dump(mode="json"),
                    "accuracy": result.accuracy,
                    "n_params": result.params,
                    "macs": result.macs,
                    "cost_flops": result.cost_flops,
                    "wall_seconds": result.wall_seconds,
                    "epochs_run": 1,
                    "attempts": 1,
                    "created_at": now,
                    "finished_at": now,
                }
            )
        with session_scope(factory) as session:
            for start in range(0, len(rows), 2000):
                insert_trials(session, rows[start : start + 2000])
        # What autovacuum / a long-running server has done by the time anyone reads: fresh
        # statistics (and PostgreSQL's visibility map, for index-only scans).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                sa.text("VACUUM ANALYZE" if engine.dialect.name != "sqlite" else "ANALYZE")
            )
        return record.id
    finally:
        engine.dispose()


@contextmanager
def serve(url: str) -> Iterator[str]:
    """The app on a free loopback port in a thread (scheduler off); its base URL."""
    app = create_app(Settings(database_url=url, executor="inline"), scheduler=False)
    with serve_in_thread(app) as base:
        yield base


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def latency(backends: list[str], trials: int, requests: int, scratch: Path) -> list[list[str]]:
    rows = []
    for backend in backends:
        with database(backend, scratch) as url:
            started = time.perf_counter()
            job_id = fill(url, trials)
            print(f"{backend}: {trials} trials inserted in {time.perf_counter() - started:.1f}s")
            endpoints = {
                "trials, top 50 by accuracy": (f"/api/v1/jobs/{job_id}/trials", {"limit": 50}),
                "trials, page 100 by MACs": (
                    f"/api/v1/jobs/{job_id}/trials",
                    {"sort": "macs", "order": "asc", "offset": trials // 2, "limit": 50},
                ),
                "trials, one strategy": (
                    f"/api/v1/jobs/{job_id}/trials",
                    {"strategy": "diffstride", "limit": 50},
                ),
                "best (accuracy)": (f"/api/v1/jobs/{job_id}/best", {}),
                "best (Pareto, accuracy vs MACs)": (
                    f"/api/v1/jobs/{job_id}/best",
                    {"objective": "pareto"},
                ),
            }
            with serve(url) as base, httpx.Client(base_url=base, timeout=30) as client:
                for name, (path, params) in endpoints.items():
                    for _ in range(5):  # warm caches and the connection
                        client.get(path, params=params).raise_for_status()
                    times = []
                    for _ in range(requests):
                        t0 = time.perf_counter()
                        client.get(path, params=params).raise_for_status()
                        times.append(1000 * (time.perf_counter() - t0))
                    p50, p99 = percentile(times, 0.5), percentile(times, 0.99)
                    verdict = "met" if p99 < AIM_P99_MS else "not met"
                    rows.append([backend, name, f"{p50:.1f}", f"{p99:.1f}", verdict])
                    print(f"{backend} {name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    return rows


# ---- jobs side by side, and failover --------------------------------------------------------


def same_trials_job(name: str, trials: int) -> JobSpec:
    """``trials`` identical small trials (one fixed architecture, asked again and again)."""
    return JobSpec.parse(
        {
            "name": name,
            "dataset": {"name": "synthetic", "subset": 1000},
            "space": {"strides": [[1], [2], [2], [2]]},
            "strategies": [{"name": "random", "options": {"allow_repeats": True}}],
            "budget": {"unit": "trials", "total": trials, "epochs_per_trial": 1},
            "train": {"batch_size": 100, "augment": False},
            "confirm_seeds": 0,  # the same trials as one job or three, nothing else
        }
    )


def run_scheduled(url: str, specs: list[JobSpec], slots: int) -> float:
    """Store ``specs`` at once, run them with one server scheduler (local executor, ``slots``
    workers) until all completed; the wall seconds from the scheduler's start."""
    from api.executors import executor_factory
    from api.scheduler import Scheduler

    engine = make_engine(url)
    try:
        repo = JobRepository(session_factory(engine))
        ids = [repo.create(spec).id for spec in specs]
        settings = Settings(database_url=url, executor="local", max_parallel_trials=slots)
        scheduler = Scheduler(repo, executor_factory(settings), poll_seconds=0.1)
        started = time.perf_counter()
        scheduler.start()
        try:
            while any(repo.get(i).state in {"queued", "running"} for i in ids):
                time.sleep(0.1)
            wall = time.perf_counter() - started
        finally:
            scheduler.stop()
        states = [repo.get(i).state for i in ids]
        if states != ["completed"] * len(ids):
            raise RuntimeError(f"jobs ended {states}")
    finally:
        engine.dispose()
    return wall


def side_by_side(per_job: int, slots: int, scratch: Path) -> list[list[str]]:
    with database("sqlite", scratch) as url:
        run_scheduled(url, [same_trials_job("warm-up", slots)], slots)
        one = run_scheduled(url, [same_trials_job("one job", 3 * per_job)], slots)
        three = run_scheduled(url, [same_trials_job(f"job {i}", per_job) for i in range(3)], slots)
    ratio = three / one
    verdict = "met" if ratio <= AIM_SIDE_BY_SIDE else "not met"
    print(f"side by side: 1 job {one:.1f} s, 3 jobs {three:.1f} s, {ratio:.2f}x")
    return [[str(3 * per_job), str(slots), f"{one:.1f}", f"{three:.1f}", f"{ratio:.2f}x", verdict]]


def _serve(url: str, port: int, lease: float, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NAS_LEASE_SECONDS": str(lease),
        "NAS_TORCH_THREADS": "1",
        "NAS_ARTIFACT_DIR": str(log.parent / "artifacts"),
    }
    nas = str(Path(sys.executable).with_name("nas"))
    command = [nas, "serve", "--port", str(port), "--database-url", url, "--executor", "local"]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")


def _started_by(url: str, job_id: int, pid: int) -> bool:
    """Whether a trial of ``job_id`` runs (or ran) under the server with ``pid``."""
    from api.db.models import Trial

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            workers = conn.execute(
                sa.select(Trial.worker).where(Trial.job_id == job_id, Trial.worker.is_not(None))
            ).scalars()
            return any(w is not None and f":{pid}:" in w for w in workers)
    finally:
        engine.dispose()


def failover(lease: float, rounds: int, scratch: Path) -> list[list[str]]:
    from tests.threaded_server import free_port

    rows = []
    with database("postgresql", scratch) as url:
        for round_ in range(rounds):
            ports = [free_port(), free_port()]
            logs = [scratch / f"failover-{round_}-{i}.log" for i in (0, 1)]
            servers = [_serve(url, p, lease, log) for p, log in zip(ports, logs, strict=True)]
            try:
                spec = same_trials_job(f"failover {round_}", 200).model_dump(mode="json")
                spec["budget"]["epochs_per_trial"] = 3
                response = httpx.post(f"http://127.0.0.1:{ports[0]}/api/v1/jobs", json=spec)
                response.raise_for_status()
                job_id = response.json()["id"]
                holder = None
                while holder is None:  # wait for a trial to run, then find its server
                    time.sleep(0.2)
                    job_now = httpx.get(f"http://127.0.0.1:{ports[1]}/api/v1/jobs/{job_id}")
                    running = job_now.json()["trial_counts"].get("running", 0)
                    owner = job_now.json().get("lease_owner") or ""
                    holder = next((s for s in servers if running and f":{s.pid}:" in owner), None)
                time.sleep(1.0)  # mid-trial
                other = next(s for s in servers if s is not holder)
                holder.send_signal(signal.SIGKILL)
                killed = time.perf_counter()
                holder.wait(10)
                while not _started_by(url, job_id, other.pid):
                    time.sleep(0.05)
                resumed = time.perf_counter() - killed
            finally:
                for server in servers:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(server.pid, signal.SIGKILL)
                    server.wait(10)
            verdict = "met" if resumed <= lease + AIM_FAILOVER_EXTRA_S else "not met"
            print(f"failover round {round_}: resumed after {resumed:.1f} s (lease {lease:g} s)")
            rows.append([str(round_ + 1), f"{lease:g}", f"{resumed:.1f}", verdict])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the script")
    parser.add_argument("--results", type=Path, default=None, help="Markdown file to update")
    parser.add_argument("--executors", default="inline,local,ray")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--overhead-trials", type=int, default=40)
    parser.add_argument("--throughput-trials", type=int, default=8)
    parser.add_argument("--trials", type=int, default=10_000, help="stored trials for latency")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--side-by-side-trials", type=int, default=8, help="trials per job")
    parser.add_argument("--lease", type=float, default=10.0, help="failover: lease seconds")
    parser.add_argument("--failovers", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.overhead_trials, args.throughput_trials = 5, 2
        args.trials, args.requests = 500, 20
        args.side_by_side_trials, args.failovers = 2, 1
    kinds = args.executors.split(",")
    backends = args.backends.split(",")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nas-bench-") as tmp:
        scratch = Path(tmp)
        overhead_rows = overhead(kinds, args.overhead_trials, scratch)
        throughput_rows = throughput(kinds, args.throughput_trials, scratch)
        latency_rows = latency(backends, args.trials, args.requests, scratch)
        side_rows = side_by_side(args.side_by_side_trials, 2, scratch)
        failover_rows = failover(args.lease, args.failovers, scratch)
    total = time.perf_counter() - started

    body = "\n".join(
        [
            "## The service's own costs (`bench/service.py`)",
            "",
            f"Machine: {machine()}.",
            "",
            "**Scheduling overhead per trial**: a job of tiny trials (8x8 one-stage ResNet, 9",
            "images, 1 epoch) run by the job runner over the SQL store (SQLite file), one worker.",
            "Overhead = (job wall time - the trials' own training time) / trials, after a",
            "warm-up job on the same executor; *cold start* is the first trial's extra cost",
            "(worker start, torch import, data load). Aim: under "
            f"{AIM_OVERHEAD_MS:.0f} ms per trial.",
            "",
            table(
                [
                    "executor",
                    "trials",
                    "trial's own ms",
                    "overhead ms / trial",
                    "cold start ms",
                    "aim",
                ],
                overhead_rows,
            ),
            "",
            "**Throughput**: small real trials (the default ResNet on 1,000 synthetic images, 1",
            f"epoch, batch 100), each worker with {CORES} / workers torch threads, in one run.",
            "",
            table(
                ["executor", "trials", "trials/min, 1 worker", "2 workers", "2 vs 1"],
                throughput_rows,
            ),
            "",
            f"**API latency** with {args.trials:,} finished trials in one job (bulk-inserted, "
            "then `VACUUM ANALYZE` / `ANALYZE` as autovacuum would): the app under uvicorn on",
            f"loopback, {args.requests} sequential requests per row after 5 warm-up ones. "
            f"Aim: p99 under {AIM_P99_MS:.0f} ms.",
            "",
            table(["database", "request", "p50 ms", "p99 ms", "aim"], latency_rows),
            "",
            "**Jobs side by side**: the server's scheduler (local executor, 2 slots, SQLite)",
            "runs 3 jobs of identical small trials (the default ResNet with fixed strides, 1,000",
            "synthetic images, 1 epoch) submitted at once, and the same trials as one job. Aim:",
            f"3 jobs at most {AIM_SIDE_BY_SIDE}x the one job's wall time.",
            "",
            table(
                ["trials", "slots", "one job s", "3 jobs s", "3 vs 1", "aim"],
                side_rows,
            ),
            "",
            "**Failover**: two `nas serve` processes on one PostgreSQL database; the one running",
            "a job is SIGKILLed mid-trial; the time until the other starts a trial of that job.",
            f"Aim: at most the lease plus {AIM_FAILOVER_EXTRA_S:.0f} s.",
            "",
            table(["round", "lease s", "resumed after s", "aim"], failover_rows),
            "",
            f"Total bench time {total:.0f} s.",
        ]
    )
    print(body)
    if args.results is not None or not args.quick:
        import bench.results as results_module

        if args.results is not None:
            results_module.RESULTS = args.results
        write_section("service", body)


if __name__ == "__main__":
    main()
