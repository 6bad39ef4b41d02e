"""Leaderboard speed at scale: first data, live refresh and page open, on SQLite and PostgreSQL.

For each backend and size, a scratch database (SQLite file, or a PostgreSQL database created on
the local server and dropped afterwards) gets one job with N trials over five strategies
(completed, pruned, failed, running with epoch reports, queued; full request and result JSON,
DiffStride histories with learned strides), bulk-inserted. The service runs in a real uvicorn
server on a loopback port (scheduler off) and is timed over HTTP, medians of ``--repeats``:

- first data: ``GET /api/v1/jobs/{id}/leaderboard`` with an empty cache (a fresh process) and
  again from the cache (another browser opening the page at the same version);
- live refresh: the same with ``since`` = the last version when nothing changed, after one trial
  finished and after one epoch report (written through ``SqlTrialStore``), server time from
  the ``Server-Timing`` header and the round trip;
- page open: Chromium (Debian's, through Playwright) loads ``/jobs/{id}`` in a fresh context
  until the table and charts are drawn (``--no-browser`` or no chromium: skipped);
- the same first data and refresh from Optuna Dashboard over an Optuna study of as many trials
  in Optuna's own RDB storage on the same backend (``--dashboard-sizes``; 0 skips it).

    python bench/leaderboard.py [--sizes 10000 50000] [--backends sqlite postgresql]
                                [--repeats 5] [--no-browser] [--dashboard-sizes 10000]
                                [--quick] [--results docs/results.md]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import optuna
import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

import bench.results as results_module
from api.app import create_app
from api.board_cache import Leaderboards
from api.db.models import Job, Trial, TrialEvent
from api.db.session import make_engine, session_factory, session_scope, upgrade_database
from api.heap import settle
from api.routers.pages import FIRST_SCREEN
from api.settings import Settings
from api.store import JobRepository, SqlTrialStore, insert_trials
from bench.results import machine, table, write_section
from nas.job import JobSpec
from nas.models import preset
from nas.spec import ArchSpec
from nas.trial import EpochReport, TrialRequest, TrialResult
from tests import chromium
from tests.threaded_server import serve_in_thread

Factory = sessionmaker[Session]
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STRATEGIES = ["grid", "random", "optuna", "diffstride", "compound"]
EPOCHS = 3
RUNNING, QUEUED = 4, 2


# ---- a job with n trials -------------------------------------------------------------------


def job_spec() -> JobSpec:
    return JobSpec.parse(
        {
            "name": "bench-leaderboard",
            "dataset": {"name": "synthetic", "subset": 200},
            "space": {"strides": [[1], [1, 2], [1, 2, 3], [1, 2, 3]], "widths": [0.5, 1, 2]},
            "strategies": STRATEGIES,
            "budget": {"unit": "trials", "total": 100_000, "epochs_per_trial": EPOCHS},
        }
    )


def spec_pool() -> list[ArchSpec]:
    """Distinct architectures: strides per stage x width."""
    base = preset("resnet_narrow_fmnist")
    pool = []
    for s1 in (1, 2):
        for s2 in (1, 2, 3):
            for s3 in (1, 2, 3):
                for width in (8, 12, 16, 24, 32):
                    stages = [
                        stage.model_copy(
                            update={"stride": (float(s), float(s)), "out_channels": width * 2**i}
                        )
                        for i, (stage, s) in enumerate(
                            zip(base.stages, (1, s1, s2, s3), strict=True)
                        )
                    ]
                    pool.append(base.with_stages(stages))
    return pool


def diffstride_spec(init: tuple[int, int, int]) -> ArchSpec:
    """The base with DiffStride downsampling in stages 1..3, starting from ``init``."""
    base = preset("resnet_narrow_fmnist")
    stages = [base.stages[0]] + [
        stage.model_copy(update={"stride": (float(s), float(s)), "downsample": "diffstride"})
        for stage, s in zip(base.stages[1:], init, strict=True)
    ]
    return base.with_stages(stages)


def learned_path(
    rng: random.Random, init: tuple[int, int, int], epochs: int
) -> list[list[tuple[float, float] | None]]:
    """Per epoch, per stage: strides drifting from ``init`` to a random end point."""
    ends = [(s + rng.uniform(-0.6, 0.8), s + rng.uniform(-0.6, 0.8)) for s in init]
    path: list[list[tuple[float, float] | None]] = []
    for e in range(1, epochs + 1):
        f = e / epochs
        stages: list[tuple[float, float] | None] = [None]
        for s, (h, w) in zip(init, ends, strict=True):
            stages.append((max(1.0, s + f * (h - s)), max(1.0, s + f * (w - s))))
        path.append(stages)
    return path


def report(epoch: int, accuracy: float, strides: list[tuple[float, float] | None]) -> EpochReport:
    return EpochReport(
        epoch=epoch,
        train_loss=1.5 - accuracy,
        train_accuracy=accuracy,
        val_loss=1.6 - accuracy,
        val_accuracy=accuracy,
        lr=0.05,
        seconds=3.2,
        strides=strides,
    )


def populate(factory: Factory, n: int, seed: int = 0) -> int:
    """A job with ``n`` trials, bulk-inserted with consistent versions; its id."""
    rng = random.Random(seed)
    job = JobRepository(factory).create(job_spec())
    pool = spec_pool()
    requests = [TrialRequest(spec=s, epochs=EPOCHS).model_dump(mode="json") for s in pool]
    strings = [s.to_string() for s in pool]
    inits = [(2, 2, 2), (1, 3, 1), (3, 1, 3), (2, 2, 3)]
    searches = [diffstride_spec(init) for init in inits]
    search_requests = [
        TrialRequest(spec=s, epochs=EPOCHS).model_dump(mode="json") for s in searches
    ]
    numbers = dict.fromkeys(STRATEGIES, 0)
    start = datetime.now(UTC) - timedelta(seconds=n)
    rows: list[dict[str, Any]] = []
    # (row index, epochs reported, strides per epoch) of the running trials
    events: list[tuple[int, int, list[list[tuple[float, float] | None]]]] = []
    for i in range(n):
        strategy = STRATEGIES[i % len(STRATEGIES)]
        number = numbers[strategy]
        numbers[strategy] += 1
        k = rng.randrange(len(pool))
        request = {**requests[k], "strategy": strategy, "number": number}
        spec_string = strings[k]
        search = strategy == "diffstride" and number % 2 == 0  # else its fixed-stride retrain
        if search:
            init = number // 2 % len(inits)
            request = {**search_requests[init], "strategy": strategy, "number": number}
            spec_string = searches[init].to_string()
            path = learned_path(rng, inits[init], EPOCHS)
        macs = 2_000_000 + 400_000 * k + rng.randrange(100_000)
        accuracy = min(0.95, 0.6 + 0.3 * (k / len(pool)) ** 0.3 + rng.gauss(0, 0.02))
        unfinished = n - i <= RUNNING + QUEUED
        state = "completed"
        if unfinished:
            state = "running" if n - i > QUEUED else "queued"
        elif strategy == "optuna" and rng.random() < 0.2:
            state = "pruned"
        elif rng.random() < 0.03:
            state = "failed"
        if not search:
            path = [[None] * 4 for _ in range(EPOCHS)]
        row: dict[str, Any] = {
            "job_id": job.id,
            "strategy": strategy,
            "number": number,
            "state": state,
            "request": request,
            "spec": spec_string,
            "params": {},
            "attempts": 1 if state != "queued" else 0,
            "created_at": start + timedelta(seconds=i),
            "version": i + 2,
        }
        if state == "running":
            events.append((i, 1 + i % EPOCHS, path))
            row["started_at"] = start + timedelta(seconds=i)
        elif state == "failed":
            row["error"] = "over budget: needs 1.2e+15 FLOPs, 3.4e+14 left"
            row["finished_at"] = start + timedelta(seconds=i + 1)
        elif state != "queued":
            epochs_run = EPOCHS if state == "completed" else 1
            result = TrialResult(
                accuracy=accuracy,
                best_accuracy=accuracy,
                val_loss=1.6 - accuracy,
                params=macs // 40,
                macs=macs,
                wall_seconds=3.2 * epochs_run,
                cost_flops=3.0 * macs * 2 * 54_000 * epochs_run,
                epochs_run=epochs_run,
                pruned=state == "pruned",
                learned_strides=path[epochs_run - 1],
                history=[report(e, accuracy, path[e - 1]) for e in range(1, epochs_run + 1)],
            )
            row.update(
                result=result.model_dump(mode="json"),
                accuracy=accuracy,
                n_params=result.params,
                macs=macs,
                cost_flops=result.cost_flops,
                wall_seconds=result.wall_seconds,
                epochs_run=epochs_run,
                started_at=start + timedelta(seconds=i),
                finished_at=start + timedelta(seconds=i + 1),
            )
        rows.append(row)
    with session_scope(factory) as session:
        for chunk in range(0, n, 2000):
            insert_trials(session, rows[chunk : chunk + 2000])
        ids = {
            (strategy, number): trial_id
            for strategy, number, trial_id in session.execute(
                sa.select(Trial.strategy, Trial.number, Trial.id).where(
                    Trial.job_id == job.id, Trial.state == "running"
                )
            )
        }
        for i, reported, path in events:
            for epoch in range(1, reported + 1):
                session.add(
                    TrialEvent(
                        trial_id=ids[rows[i]["strategy"], rows[i]["number"]],
                        job_id=job.id,
                        attempt=1,
                        epoch=epoch,
                        report=report(epoch, 0.5, path[epoch - 1]).model_dump(mode="json"),
                    )
                )
        session.execute(sa.update(Job).where(Job.id == job.id).values(version=n + 2))
    return job.id


# ---- scratch databases and a real server ---------------------------------------------------


@contextlib.contextmanager
def scratch_database(backend: str, postgres_url: str, *, migrate: bool = True) -> Iterator[str]:
    """A new database, migrated unless not ``migrate`` (Optuna keeps its own Alembic version
    table): a SQLite file in a temporary folder, or a PostgreSQL database
    ``nas_bench_<random>`` on the local server, dropped (``WITH (FORCE)``) afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="nas-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'nas.db'}"
            if migrate:
                upgrade_database(url)
            yield url
        return
    admin = make_url(postgres_url).set(drivername="postgresql").render_as_string(False)
    name = f"nas_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        if migrate:
            upgrade_database(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def serve(url: str) -> Iterator[tuple[str, Any]]:
    """The service over ``url`` (scheduler off) in uvicorn on a free loopback port: its base
    URL and the app."""
    app = create_app(Settings(database_url=url), scheduler=False)
    settle()  # as `nas serve` does before it serves (api.heap)
    with serve_in_thread(app) as base:
        yield base, app


# ---- measurements --------------------------------------------------------------------------


def server_ms(response: httpx.Response) -> float:
    """The server's own time from ``Server-Timing: app;dur=MS``."""
    timing = response.headers.get("server-timing", "")
    return float(timing.split("dur=", 1)[1]) if "dur=" in timing else math.nan


def timed_get(client: httpx.Client, url: str) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return response, elapsed


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def finished_result(accuracy: float) -> TrialResult:
    return TrialResult(
        accuracy=accuracy,
        best_accuracy=accuracy,
        val_loss=0.5,
        params=250_000,
        macs=9_000_000,
        wall_seconds=9.6,
        cost_flops=3.0e13,
        epochs_run=EPOCHS,
        history=[report(e, accuracy, [None] * 4) for e in range(1, EPOCHS + 1)],
    )


def page_open_ms(
    base: str, job_id: int, app: Any, repeats: int, *, cold: bool = True
) -> list[tuple[float, float]]:
    """Chromium opening ``/jobs/{id}`` in a fresh context, the server's cache emptied first
    (``cold``) or not: milliseconds from navigation start until the first screen (the best
    ranked trials, the summary and the charts) is drawn, and until every trial is, by the
    page's clock; empty when there is no chromium."""
    executable = chromium.executable()
    if executable is None:
        return []
    from playwright.sync_api import sync_playwright

    times: list[tuple[float, float]] = []
    with sync_playwright() as playwright:
        browser = chromium.launch(playwright, executable)
        try:
            for _ in range(repeats + 1):  # the first warms Chromium itself up
                if cold:
                    app.state.leaderboards = Leaderboards(app.state.services.repo.factory)
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page = context.new_page()
                page.goto(f"{base}/jobs/{job_id}")
                page.wait_for_function("document.body.dataset.complete === 'true'", timeout=120_000)
                # the page's own clock: navigation start until the first screen is drawn, and
                # until every trial is
                marks = page.evaluate(
                    "[document.body.dataset.readyMs, document.body.dataset.completeMs]"
                )
                times.append((float(marks[0]), float(marks[1])))
                context.close()
        finally:
            browser.close()
    return times[1:]


def measure(url: str, n: int, repeats: int, browser: bool) -> dict[str, float]:
    """Populate a job with ``n`` trials over ``url`` and time the leaderboard against it."""
    engine = make_engine(url)
    factory = session_factory(engine)
    start = time.perf_counter()
    job_id = populate(factory, n)
    print(f"  {n} trials stored in {time.perf_counter() - start:.1f} s", flush=True)
    warm_job = populate(factory, 5, seed=1)  # the process's first request pays imports
    store = SqlTrialStore(factory, job_id)
    out: dict[str, float] = {}
    with serve(url) as (base, app), httpx.Client(timeout=120) as client:
        api = f"{base}/api/v1/jobs/{job_id}/leaderboard"
        client.get(f"{base}/api/v1/jobs/{warm_job}/leaderboard").raise_for_status()
        client.get(f"{base}/jobs/{warm_job}").raise_for_status()
        screen, screen_server = [], []
        for _ in range(repeats):
            app.state.leaderboards = Leaderboards(factory)  # a fresh process's empty cache
            response, elapsed = timed_get(client, f"{api}?since=0&top={FIRST_SCREEN}")
            screen.append(elapsed)
            screen_server.append(server_ms(response))
        out["first screen, cold (ms)"] = median(screen)
        out["first screen, cold, server (ms)"] = median(screen_server)
        out["first screen payload (MB)"] = len(response.content) / 1e6
        cold, cold_server = [], []
        for _ in range(repeats):
            app.state.leaderboards = Leaderboards(factory)  # a fresh process's empty cache
            response, elapsed = timed_get(client, api)
            cold.append(elapsed)
            cold_server.append(server_ms(response))
        body = response.content
        version = response.json()["version"]
        out["first data, cold (ms)"] = median(cold)
        out["first data, cold, server (ms)"] = median(cold_server)
        out["payload (MB)"] = len(body) / 1e6
        cached = [timed_get(client, api)[1] for _ in range(repeats)]
        out["first data, cached (ms)"] = median(cached)
        idle, idle_server = [], []
        for _ in range(repeats):
            response, elapsed = timed_get(client, f"{api}?since={version}")
            idle.append(elapsed)
            idle_server.append(server_ms(response))
        out["refresh, unchanged (ms)"] = median(idle)
        out["refresh, unchanged, server (ms)"] = median(idle_server)
        finish, finish_server, epoch, epoch_server = [], [], [], []
        for k in range(repeats):
            trial = store.add(
                TrialRequest(
                    spec=preset("resnet_narrow_fmnist"),
                    epochs=EPOCHS,
                    strategy="grid",
                    number=10_000_000 + k,
                )
            )
            store.mark_running(trial.id)
            version = timed_get(client, f"{api}?since={version}")[0].json()["version"]
            store.record_progress(trial.id, report(1, 0.5, [None] * 4))
            response, elapsed = timed_get(client, f"{api}?since={version}")
            epoch.append(elapsed)
            epoch_server.append(server_ms(response))
            version = response.json()["version"]
            store.finish(trial.id, finished_result(0.5 + k / 1000), None)
            response, elapsed = timed_get(client, f"{api}?since={version}")
            finish.append(elapsed)
            finish_server.append(server_ms(response))
            assert response.json()["trials"]["id"] == [trial.id], "the refresh missed the trial"
            version = response.json()["version"]
        out["refresh, trial finished (ms)"] = median(finish)
        out["refresh, trial finished, server (ms)"] = median(finish_server)
        out["refresh, epoch report, server (ms)"] = median(epoch_server)
        if browser:
            pages = page_open_ms(base, job_id, app, repeats)
            if pages:
                out["page open in Chromium (ms)"] = median([first for first, _ in pages])
                out["page complete in Chromium (ms)"] = median([every for _, every in pages])
                warm = page_open_ms(base, job_id, app, repeats, cold=False)
                out["page open in Chromium, cached (ms)"] = median([first for first, _ in warm])
                out["page complete in Chromium, cached (ms)"] = median([e for _, e in warm])
    engine.dispose()
    return out


# ---- Optuna Dashboard on the same kind of data ---------------------------------------------


def optuna_study(url: str, n: int, seed: int = 0) -> int:
    """An Optuna study in RDB storage at ``url`` with ``n`` completed trials shaped like the
    job's: four categorical parameters (three strides, a width), an intermediate value per
    epoch, MACs, parameters and the block string as user attributes; its id."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(seed)
    choices = {"s1": [1, 2], "s2": [1, 2, 3], "s3": [1, 2, 3], "width": [8, 12, 16, 24, 32]}
    distributions = {k: optuna.distributions.CategoricalDistribution(v) for k, v in choices.items()}
    pool = [s.to_string() for s in spec_pool()]
    study = optuna.create_study(
        storage=optuna.storages.RDBStorage(url), study_name="bench", direction="maximize"
    )
    trials = []
    for _ in range(n):
        params = {k: rng.choice(v) for k, v in choices.items()}
        accuracy = rng.uniform(0.6, 0.95)
        trials.append(
            optuna.trial.create_trial(
                params=params,
                distributions=distributions,
                value=accuracy,
                intermediate_values={e: accuracy * e / EPOCHS for e in range(1, EPOCHS + 1)},
                user_attrs={
                    "macs": 2_000_000 + rng.randrange(40_000_000),
                    "n_params": 50_000 + rng.randrange(1_000_000),
                    "spec": rng.choice(pool),
                },
            )
        )
    study.add_trials(trials)
    return study._study_id


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def dashboard_ms(url: str, n: int, repeats: int) -> dict[str, float]:
    """Optuna Dashboard over a study of ``n`` trials at ``url``, in wsgiref on a loopback port:
    its first data (``GET /api/studies/{id}``, a fresh app each time: its in-memory cache
    empty) and a refresh asking only for trials after the ``n`` it has."""
    from optuna_dashboard import wsgi

    start = time.perf_counter()
    study_id = optuna_study(url, n)
    print(f"  Optuna study of {n} trials stored in {time.perf_counter() - start:.1f} s")
    out: dict[str, float] = {}
    cold, refresh = [], []
    for _ in range(repeats):
        server = make_server(
            "127.0.0.1", 0, wsgi(optuna.storages.RDBStorage(url)), handler_class=_QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            api = f"http://127.0.0.1:{server.server_port}/api/studies/{study_id}"
            with httpx.Client(timeout=600) as client:
                response, elapsed = timed_get(client, f"{api}?after=0")
                cold.append(elapsed)
                assert len(response.json()["trials"]) == n, "the dashboard missed trials"
                refresh.append(timed_get(client, f"{api}?after={n}")[1])
        finally:
            server.shutdown()
            server.server_close()
    out["dashboard first data (ms)"] = median(cold)
    out["dashboard payload (MB)"] = len(response.content) / 1e6
    out["dashboard refresh (ms)"] = median(refresh)
    return out


# ---- the table -----------------------------------------------------------------------------

COLUMNS = [
    (
        "first screen, cold (ms)",
        "first data (the page's first screen), empty cache: round trip (server)",
    ),
    ("first screen payload (MB)", "its payload MB"),
    ("first data, cold (ms)", "every trial, empty cache: round trip (server)"),
    ("first data, cached (ms)", "every trial, cached"),
    ("payload (MB)", "payload MB"),
    ("refresh, unchanged (ms)", "refresh, nothing new: round trip (server)"),
    ("refresh, trial finished (ms)", "refresh after a trial finished: round trip (server)"),
    ("refresh, epoch report, server (ms)", "refresh after an epoch report: server"),
    ("page open in Chromium (ms)", "page open in Chromium, empty cache"),
    ("page complete in Chromium (ms)", "every trial drawn, empty cache"),
    ("page open in Chromium, cached (ms)", "page open, cached"),
    ("page complete in Chromium, cached (ms)", "every trial drawn, cached"),
]
WITH_SERVER = {
    "first screen, cold (ms)": "first screen, cold, server (ms)",
    "first data, cold (ms)": "first data, cold, server (ms)",
    "refresh, unchanged (ms)": "refresh, unchanged, server (ms)",
    "refresh, trial finished (ms)": "refresh, trial finished, server (ms)",
}


def cell(result: dict[str, float], key: str) -> str:
    value = result.get(key)
    if value is None or math.isnan(value):
        return "-"
    if key.endswith("(MB)"):
        return f"{value:.2f}"
    text = f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if key in WITH_SERVER:
        text += f" ({result[WITH_SERVER[key]]:.1f})"
    return text


def dashboard_section(
    dashboard: list[tuple[str, int, dict[str, float]]],
    ours: list[tuple[str, int, dict[str, float]]],
    repeats: int,
) -> str:
    """The Optuna Dashboard comparison: its numbers beside ours at the same size and backend."""
    mine = {(backend, n): result for backend, n, result in ours}
    rows = []
    for backend, n, theirs in dashboard:
        own = mine.get((backend, n), {})
        first = own.get("first data, cold (ms)", math.nan)
        refresh = own.get("refresh, unchanged (ms)", math.nan)
        their_first = theirs["dashboard first data (ms)"]
        their_refresh = theirs["dashboard refresh (ms)"]
        rows.append(
            [
                backend,
                f"{n:,}",
                f"{their_first:.0f} ms",
                f"{theirs['dashboard payload (MB)']:.2f}",
                f"{their_refresh:.1f} ms",
                "-" if math.isnan(first) else f"{first:.0f} ms",
                "-" if math.isnan(first) else f"{their_first / first:.0f}x",
                "-" if math.isnan(refresh) else f"{their_refresh / refresh:.0f}x",
            ]
        )
    return "\n\n".join(
        [
            f"Against Optuna Dashboard {package_version('optuna-dashboard')} (Optuna "
            f"{optuna.__version__}), in the same run: an Optuna study of as many completed "
            "trials (four categorical parameters, an intermediate value per epoch, MACs, "
            "parameters and block string as user attributes) in Optuna's RDB storage on the "
            "same backend, served by `optuna_dashboard.wsgi` in wsgiref on loopback. *First "
            "data* is its `GET /api/studies/{id}` from a fresh app (its in-memory cache empty), "
            "the data its study page opens with; *refresh* asks for the trials after the last "
            f"one it has (`after=N`): nothing new. Medians of {repeats}; the ratios are theirs "
            "over ours (first data with an empty cache; refresh with nothing new).",
            table(
                [
                    "backend",
                    "trials",
                    "Optuna Dashboard: first data",
                    "its payload MB",
                    "its refresh, nothing new",
                    "this service: every trial, empty cache",
                    "first data ratio",
                    "refresh ratio",
                ],
                rows,
            ),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    parser.add_argument(
        "--backends", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium page open")
    parser.add_argument(
        "--dashboard-sizes",
        type=int,
        nargs="*",
        default=[10_000],
        help="trials of the Optuna Dashboard comparison (none or 0: skip it)",
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--quick", action="store_true", help="1,000 and 5,000 trials, 3 repeats")
    parser.add_argument("--results", type=Path, default=results_module.RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats, args.dashboard_sizes = [1_000, 5_000], 3, [1_000]
    results: list[tuple[str, int, dict[str, float]]] = []
    dashboard: list[tuple[str, int, dict[str, float]]] = []
    load_before = os.getloadavg()[0]
    for backend in args.backends:
        for n in args.sizes:
            print(f"{backend}, {n} trials", flush=True)
            with scratch_database(backend, args.postgres_url) as url:
                result = measure(url, n, args.repeats, browser=not args.no_browser)
            for key, value in result.items():
                print(f"  {key}: {value:.2f}", flush=True)
            results.append((backend, n, result))
        for n in (d for d in args.dashboard_sizes if d > 0):
            print(f"{backend}, Optuna Dashboard, {n} trials", flush=True)
            with scratch_database(backend, args.postgres_url, migrate=False) as url:
                dashboard.append((backend, n, dashboard_ms(url, n, args.repeats)))
            print(f"  {dashboard[-1][2]}", flush=True)
    rows = [
        [backend, f"{n:,}", *(cell(result, key) for key, _ in COLUMNS)]
        for backend, n, result in results
    ]
    body = "\n\n".join(
        [
            "## Leaderboard at scale",
            f"Machine: {machine()}; load average {load_before:.1f} at the start, "
            f"{os.getloadavg()[0]:.1f} at the end (other work slows every number here). "
            "`bench/leaderboard.py"
            + (" --quick" if args.quick else "")
            + f"`: one job with N trials over five strategies (full request and result JSON "
            f"per trial), the service in uvicorn on loopback with its scheduler off, medians of "
            f"{args.repeats} runs, round trips over HTTP with the server's own time "
            "(`Server-Timing`) in parentheses. *First data* is what the page asks first, "
            f"`GET /api/v1/jobs/{{id}}/leaderboard?since=0&top={FIRST_SCREEN}` (the best "
            f"{FIRST_SCREEN} ranked trials as compact columns, and the whole summary: best-so-far "
            "curves, Pareto front, compute to target, counts); *every trial* is the same without "
            "`top`, which the page asks next; *empty cache* is a process that has not served "
            "this job yet (for the first screen it reads the few columns the summary needs of "
            f"every trial and the {FIRST_SCREEN} rows it shows; for every trial, every column). "
            "A *refresh* sends `since` "
            "= the last version and gets only what changed: after a trial finished (one trial and "
            "the recomputed aggregates) or after an epoch report. *Page open* is Chromium "
            "loading `/jobs/{id}` in a fresh context, with the server's cache emptied first or "
            "not: from navigation start until the first screen (table, charts, summary) is "
            "drawn, and until every trial is (*every trial drawn*), by the page's own clock. "
            "The trials use about 95 distinct block strings (sent once each).",
            table(["backend", "trials", *(label for _, label in COLUMNS)], rows),
        ]
    )
    if dashboard:
        body += "\n\n" + dashboard_section(dashboard, results, args.repeats)
    results_module.RESULTS = Path(args.results)
    write_section("leaderboard", body)
    print(f"wrote section 'leaderboard' to {results_module.RESULTS}", flush=True)


if __name__ == "__main__":
    main()
