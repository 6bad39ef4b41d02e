"""Results to take home and to put side by side: a job's trials as flat rows (CSV, JSON) and
several jobs' compute to target on one footing (``/compare``).

CSV cells are spreadsheet-safe (OWASP's CSV injection advice): a text cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so no spreadsheet reads a
job name or an error as a formula; commas, quotes and newlines are quoted by the ``csv`` module.
Numbers are written as numbers (a negative one stays a number).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from api.board_cache import Snapshot
from api.live_targets import (
    Unit,
    best_of,
    live_target,
    series_of,
    series_targets,
)
from api.schemas import MAX_ID, mapping
from api.schemas.results import CompareJob, CompareOut, CompareSeries, TrialRow
from api.schemas.trials import TrialSummary
from api.store import JobRepository
from nas.errors import OptionsError
from nas.job import DatasetRef, RunKey
from nas.recommend import outranks

BATCH = 2_000
"""Trials read per query while an export streams."""
MAX_COMPARED = 8
MAX_QUERY = 200
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# ---- one trial, one flat row -----------------------------------------------------------------


COLUMNS = tuple(TrialRow.model_fields)


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def trial_row(
    trial: TrialSummary, job_id: int, job_name: str, runs: Mapping[str, RunKey]
) -> TrialRow:
    return TrialRow.model_construct(
        id=trial.id,
        job_id=job_id,
        job_name=job_name,
        strategy=trial.strategy,
        repeat=series_of(trial.strategy, runs).repeat,
        number=trial.number,
        state=trial.state,
        phase=trial.phase,
        base_from=trial.base_from,
        strides=trial.strides,
        spec=trial.spec,
        accuracy=_number(trial.accuracy),
        test_accuracy=_number(trial.test_accuracy),
        params=trial.n_params,
        macs=trial.macs,
        cost_flops=_number(trial.cost_flops),
        wall_seconds=_number(trial.wall_seconds),
        epochs_run=trial.epochs_run,
        attempts=trial.attempts,
        takeovers=trial.takeovers,
        copied_from=trial.copied_from,
        error=trial.error,
    )


def job_rows(
    repo: JobRepository, job_id: int, job_name: str, runs: Mapping[str, RunKey]
) -> Iterator[list[TrialRow]]:
    """Every trial of a job by id, ``BATCH`` rows at a time (one short query each); ``runs``:
    the job's run keys (``JobSpec.run_keys``), which name each trial's repeat."""
    after = -1
    while True:
        trials = repo.summaries_after(job_id, after, BATCH)
        if not trials:
            return
        yield [trial_row(mapping.trial_summary(t), job_id, job_name, runs) for t in trials]
        after = trials[-1].id


def safe_cell(value: Any) -> Any:
    """A CSV cell no spreadsheet runs: text starting like a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(batches: Iterable[Sequence[TrialRow]]) -> Iterator[str]:
    """The header, then the rows of each batch, as CSV text chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            writer.writerow([safe_cell(getattr(row, c)) for c in COLUMNS])
        yield buffer.getvalue()


def json_text(batches: Iterable[Sequence[TrialRow]]) -> Iterator[str]:
    """A JSON array of the rows, in chunks."""
    yield "["
    first = True
    for rows in batches:
        if not rows:
            continue
        body = ",".join(json.dumps(r.model_dump(), allow_nan=False) for r in rows)
        yield body if first else "," + body
        first = False
    yield "]"


# ---- several jobs side by side --------------------------------------------------------------


def parse_job_ids(values: Sequence[str]) -> list[int]:
    """``jobs=1,2,5`` (or ``jobs=1&jobs=2``, as a form sends checkboxes) as distinct ids in that
    order: 2 to ``MAX_COMPARED`` of them."""
    text = ",".join(values)
    if len(text) > MAX_QUERY:
        raise OptionsError(f"at most {MAX_QUERY} characters", field="jobs")
    ids: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or len(part) > 10 or int(part) > MAX_ID:
            raise OptionsError(f"{part!r} is not a job id", field="jobs")
        if int(part) not in ids:
            ids.append(int(part))
    if not 2 <= len(ids) <= MAX_COMPARED:
        raise OptionsError(
            f"name 2 to {MAX_COMPARED} different jobs, e.g. jobs=1,2 (got {len(ids)})",
            field="jobs",
        )
    return ids


def _describe(dataset: DatasetRef) -> str:
    subset = dataset.subset
    return (
        f"{dataset.name}, "
        + (f"subset {subset}, " if subset is not None else "all images, ")
        + f"val_fraction {dataset.val_fraction}, seed {dataset.seed}"
    )


def compare(snapshots: Sequence[Snapshot]) -> CompareOut:
    """The jobs' strategies against the best accuracy any of them reached (minus the margin; the
    best by ``nas.recommend``: ties to the lower trial id); OptionsError (422, ``jobs``) when
    they are not on the same data."""
    first = snapshots[0]
    data = first.dataset
    for other in snapshots[1:]:
        theirs = other.dataset
        if theirs != data:
            raise OptionsError(
                f"jobs {first.id} and {other.id} are on different data ({_describe(data)} vs "
                f"{_describe(theirs)}): only jobs on the same dataset are compared",
                field="jobs",
            )
    best: tuple[float, int, int] | None = None  # accuracy, trial, job
    for snap in snapshots:
        found = best_of(snap.runs)
        if found is not None and outranks(*found, best[:2] if best else None):
            best = (*found, snap.id)
    target = live_target(
        best[0] if best else None,
        first.n_val,
        best[1] if best else None,
        best[2] if best else None,
    )
    unit: Unit = "flops"
    unit_flops = 1.0
    if all(
        s.unit == "base_epochs" and math.isclose(s.unit_flops, first.unit_flops, rel_tol=1e-6)
        for s in snapshots
    ):
        unit, unit_flops = "base_epochs", first.unit_flops
    horizons = [s.horizon for s in snapshots if s.horizon]
    horizon = max(horizons) if horizons else None
    series: list[CompareSeries] = []
    jobs: list[CompareJob] = []
    for snap in snapshots:
        found_series = series_targets(
            snap.runs, snap.run_keys, target.value, unit_flops, horizon, every_curve=True
        )
        jobs.append(
            CompareJob(
                id=snap.id,
                name=snap.name,
                state=snap.state,
                strategies=[s.strategy for s in found_series],
            )
        )
        series.extend(
            CompareSeries(job=snap.id, job_name=snap.name, **s.model_dump()) for s in found_series
        )
    return CompareOut(
        jobs=jobs,
        dataset=data.model_dump(),
        target=target,
        unit=unit,
        unit_flops=unit_flops,
        horizon=horizon,
        series=series,
    )
