"""An HTTP client of the REST API (httpx), for the ``nas`` client verbs.

Every failure is a ``ClientError`` with one clear line and the exit code to use: the server
refused (``EXIT_SERVER``: its 422 fields and messages, or its ``detail``), the server could not
be reached (``EXIT_UNREACHABLE``), or a local problem (``EXIT_USAGE``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.defaults import DEFAULT_SERVER
from api.states import TERMINAL_JOB_STATES

EXIT_SERVER = 1  # the server answered with an error
EXIT_USAGE = 2  # bad input here (a file, a destination)
EXIT_UNREACHABLE = 3  # no answer from the server
DETAIL_LIMIT = 300  # characters of a non-JSON error body quoted
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


# ---- what the server answers (``api.schemas``), as the client reads it ------------------------
# Only the fields the verbs use are declared; the others are kept (extra="allow") and printed by
# ``--json``. So the client imports neither the server's store nor torch, and a newer server's
# additions pass through.


class View(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(View, Generic[T]):
    items: list[T]
    total: int
    offset: int = 0
    limit: int = 0


class Trial(View):
    """A trial (``api.schemas.TrialOut``)."""

    id: int
    strategy: str
    number: int
    state: str
    spec: str
    phase: str | None = None
    base_from: str | None = None
    strides: str | None = None
    accuracy: float | None = None
    test_accuracy: float | None = None
    n_params: int | None = None
    macs: int | None = None
    cost_flops: float | None = None
    wall_seconds: float | None = None
    error: str | None = None


class TrialDetail(Trial):
    """``GET /trials/{id}``: one trial, and where it ran."""

    attempts: int = 0
    takeovers: int = 0
    free_retries: int = 0
    node: str | None = None
    device: str | None = None
    epochs: int = 0


class TrialLog(View):
    """``GET /trials/{id}/log``: why a trial failed."""

    job_id: int
    trial: int
    strategy: str
    number: int
    state: str
    attempts: int = 0
    takeovers: int = 0
    free_retries: int = 0
    error: str | None = None
    log: str | None = None


class Confirmation(View):
    """The best trial trained again with other seeds
    (``workers.jobs.confirm.ConfirmationSummary``)."""

    trial_id: int
    search_accuracy: float
    seeds: int
    finished: int
    failed: int
    val_mean: float | None = None
    val_sd: float | None = None
    test_mean: float | None = None
    test_sd: float | None = None


class Best(View):
    """``GET /best``: the most accurate trial and, with two objectives, the Pareto set."""

    objective: str
    best: Trial | None = None
    pareto: list[Trial] = Field(default_factory=list)
    confirmation: Confirmation | None = None


class BudgetUse(View):
    """One strategy's use of its budget share (``workers.jobs.store.BudgetUse``)."""

    unit: str
    budget: float
    spent: float
    trials: int = 0
    skipped: int = 0
    stopped: str | None = None
    fraction: float = 0.0
    waiting_for: str | None = None
    base_from: str | None = None
    waiting: str | None = None


class JobProgress(View):
    """``GET /progress``: trial counts per state and strategy; each strategy's budget use."""

    job_id: int
    state: str
    total: int
    states: dict[str, int] = Field(default_factory=dict)
    strategies: dict[str, dict[str, int]] = Field(default_factory=dict)
    budget_used: dict[str, float] | None = None
    budget: dict[str, BudgetUse] | None = None


class Target(View):
    """The accuracy the strategies are measured against (``api.live_targets.Target``)."""

    value: float | None = None
    best: float | None = None
    best_trial: int | None = None
    margin: float | None = None
    n_val: int | None = None
    reason: str | None = None


class SeriesTarget(View):
    """A strategy (its repeats grouped) against the target (``api.live_targets.SeriesTarget``)."""

    strategy: str
    runs: int
    reached: int
    compute_to_target: float | None = None
    q1: float | None = None
    q3: float | None = None
    auc: float | None = None


class Comparison(View):
    """``GET /comparison``: compute to target per strategy."""

    target: Target
    unit: str
    unit_flops: float = 1.0
    series: list[SeriesTarget] = Field(default_factory=list)


class Job(View):
    """A job (``api.schemas.JobOut``); its spec stays plain data as the server sent it, read
    through ``api.cli.shared.job_spec`` (one parse into ``nas.job.JobSpec``, no torch)."""

    id: int
    name: str
    state: str
    spec: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    trial_counts: dict[str, int] = Field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_JOB_STATES


# the verdict (``api.schemas.verdict.VerdictOut``), as the client reads it


class VerdictStrategy(View):
    strategy: str
    runs: int
    cost: float | None = None
    value: float | None = None


class VerdictTradeOff(View):
    sooner: str
    better: str


class VerdictPair(View):
    a: str
    b: str
    statistic: int
    bound: int
    p: float
    p_holm: float
    effect: float | None = None
    effect_low: float | None = None
    effect_high: float | None = None
    ahead: str | None = None
    says: str
    trade_off: VerdictTradeOff | None = None


class Verdict(View):
    job_id: int
    state: str
    final: bool
    claim: bool
    says: str
    test: str = ""
    unit: str
    unit_flops: float
    strategies: list[VerdictStrategy] = []
    pairs: list[VerdictPair] = []


class ClientError(Exception):
    """One line for the user, and the process exit code."""

    def __init__(self, message: str, *, exit_code: int = EXIT_SERVER, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status


def error_message(response: httpx.Response) -> str:
    """One line from an error response: ``field: message`` entries of a 422, else ``detail``."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                field, message = item.get("field"), item.get("message", item.get("msg", ""))
                parts.append(f"{field}: {message}" if field else str(message))
            else:
                parts.append(str(item))
        text = "; ".join(parts)
    elif detail is not None:
        text = str(detail)
    else:
        body = " ".join(response.text.split())[:DETAIL_LIMIT]
        text = body or response.reason_phrase
    text = f"{response.status_code} {text}"
    if response.status_code in (401, 403):
        text += " (give the key with --api-key or NAS_API_KEY)"
    return text


class NasClient:
    """The REST API of one server; use as a context manager (or call ``close``)."""

    def __init__(
        self,
        server: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = (server or DEFAULT_SERVER).rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.server, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NasClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def leaderboard_url(self, job_id: int) -> str:
        """The job's leaderboard web page."""
        return f"{self.server}/jobs/{job_id}"

    # ---- transport ------------------------------------------------------------------------

    @contextmanager
    def _transport_errors(self) -> Iterator[None]:
        """httpx's connection failures as one ``ClientError`` line."""
        try:
            yield
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the server at {self.server} (is `nas serve` running? "
                "set --server or NAS_SERVER)",
                exit_code=EXIT_UNREACHABLE,
            ) from None
        except httpx.TimeoutException:
            raise ClientError(
                f"the server at {self.server} did not answer in time", exit_code=EXIT_UNREACHABLE
            ) from None
        except httpx.HTTPError as exc:
            raise ClientError(
                f"request to {self.server} failed: {type(exc).__name__}: {exc}",
                exit_code=EXIT_UNREACHABLE,
            ) from None

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport_errors():
            response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise ClientError(error_message(response), status=response.status_code)
        return response

    def _get(self, model: type[M], path: str, **params: Any) -> M:
        clean = {k: v for k, v in params.items() if v is not None}
        return _parse(model, self._request("GET", path, params=clean))

    # ---- jobs -----------------------------------------------------------------------------

    def submit(self, job: Any) -> Job:
        """Submit a job description (validated by the server: a 422 names the field)."""
        return _parse(Job, self._request("POST", "/api/v1/jobs", json=job))

    def job(self, job_id: int) -> Job:
        return self._get(Job, f"/api/v1/jobs/{job_id}")

    def jobs(self, state: str | None = None, limit: int = 50, offset: int = 0) -> Page[Job]:
        return self._get(Page[Job], "/api/v1/jobs", state=state, limit=limit, offset=offset)

    def progress(self, job_id: int) -> JobProgress:
        return self._get(JobProgress, f"/api/v1/jobs/{job_id}/progress")

    def trials(
        self,
        job_id: int,
        *,
        limit: int = 50,
        strategy: str | None = None,
        state: str | None = None,
        sort: str = "accuracy",
        order: str = "desc",
        offset: int = 0,
        ranked: bool = False,
    ) -> Page[Trial]:
        """A page of a job's trials (``ranked``: only those the leaderboard ranks)."""
        return self._get(
            Page[Trial],
            f"/api/v1/jobs/{job_id}/trials",
            limit=limit,
            strategy=strategy,
            state=state,
            sort=sort,
            order=order,
            offset=offset,
            ranked="true" if ranked else None,
        )

    def comparison(self, job_id: int) -> Comparison:
        return self._get(Comparison, f"/api/v1/jobs/{job_id}/comparison")

    def trials_csv(self, job_id: int, dest: Path | None = None) -> bytes | None:
        """Every trial of the job as CSV: the bytes, or (``dest``) written to that file (whole
        or not at all)."""
        path = f"/api/v1/jobs/{job_id}/trials.csv"
        if dest is None:
            return self._request("GET", path, timeout=600.0).content
        try:
            with tempfile.NamedTemporaryFile(
                dir=dest.parent, prefix=f".{dest.name}.", delete=False
            ) as tmp:
                partial = Path(tmp.name)
            try:
                self._download(path, {}, partial)
                os.replace(partial, dest)
            finally:
                partial.unlink(missing_ok=True)
        except OSError as exc:
            message = f"cannot write {dest}: {exc.strerror or exc}"
            raise ClientError(message, exit_code=EXIT_USAGE) from None
        return None

    def trial(self, job_id: int, trial_id: int) -> TrialDetail:
        return self._get(TrialDetail, f"/api/v1/jobs/{job_id}/trials/{trial_id}")

    def trial_log(self, job_id: int, trial_id: int) -> TrialLog:
        return self._get(TrialLog, f"/api/v1/jobs/{job_id}/trials/{trial_id}/log")

    def verdict(self, job_id: int) -> Verdict:
        """Which strategies differ at equal compute (``GET /api/v1/jobs/{id}/verdict``)."""
        return self._get(Verdict, f"/api/v1/jobs/{job_id}/verdict")

    def best(self, job_id: int, objective: str | None = None) -> Best:
        return self._get(Best, f"/api/v1/jobs/{job_id}/best", objective=objective)

    def cancel(self, job_id: int) -> Job:
        return _parse(Job, self._request("POST", f"/api/v1/jobs/{job_id}/cancel"))

    def extend(self, job_id: int, budget: float, max_trials_per_strategy: int | None = None) -> Job:
        """More budget for a job (a finished or cancelled one continues)."""
        body: dict[str, Any] = {"budget": budget}
        if max_trials_per_strategy is not None:
            body["max_trials_per_strategy"] = max_trials_per_strategy
        return _parse(Job, self._request("POST", f"/api/v1/jobs/{job_id}/extend", json=body))

    # ---- export ---------------------------------------------------------------------------

    def export(self, job_id: int, dest: Path, trial: int | None = None) -> Path:
        """Download the best (or ``trial``'s) export and unpack it into ``dest`` (created; an
        existing ``dest`` must be an empty directory)."""
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ClientError(
                f"{dest} already exists and is not an empty directory", exit_code=EXIT_USAGE
            )
        params = {"trial": trial} if trial is not None else {}
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".nas-export-", dir=dest.parent) as tmp:
                archive = Path(tmp) / "export.zip"
                self._download(f"/api/v1/jobs/{job_id}/best/export", params, archive)
                unpacked = Path(tmp) / "export"
                _unzip(archive, unpacked)
                if dest.exists():
                    dest.rmdir()  # empty, checked above
                os.rename(unpacked, dest)
        except OSError as exc:
            message = f"cannot write {dest}: {exc.strerror or exc}"
            raise ClientError(message, exit_code=EXIT_USAGE) from None
        return dest

    def _download(self, path: str, params: dict[str, Any], into: Path) -> None:
        """Stream a response body into a file (packaging may take a while: long timeout)."""
        with (
            self._transport_errors(),
            self._http.stream("GET", path, params=params, timeout=600.0) as response,
        ):
            if response.is_error:
                response.read()
                raise ClientError(error_message(response), status=response.status_code)
            with into.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)


def _parse(model: type[M], response: httpx.Response) -> M:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ClientError(
            f"unexpected answer from {response.request.url.path}: {exc.errors()[0]['msg']} "
            "(client and server versions differ?)"
        ) from None


def _unzip(archive: Path, dest: Path) -> None:
    """Extract a flat archive (plain file names only) into ``dest``."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            dest.mkdir()
            for member in zipped.infolist():
                name = member.filename
                if member.is_dir() or "/" in name or "\\" in name or name.startswith("."):
                    raise ClientError(f"unexpected entry {name!r} in the export archive")
                with zipped.open(member) as src, (dest / name).open("wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as exc:
        raise ClientError(f"the server sent a broken archive: {exc}") from None
