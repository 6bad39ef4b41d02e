"""Server settings from the environment (``NAS_*``) via pydantic-settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.defaults import DEFAULT_PORT, LOOPBACK
from workers.executors.priority import DEFAULT_NICE

LOOPBACK_HOSTS = frozenset({LOOPBACK, "localhost", "::1"})


class Settings(BaseSettings):
    """Everything the server reads from its environment; defaults run on one laptop."""

    model_config = SettingsConfigDict(env_prefix="NAS_", extra="ignore")

    database_url: str = "sqlite:///./nas.db"
    host: str = LOOPBACK
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    executor: Literal["local", "ray", "inline"] = "local"
    ray_address: str | None = None
    ray_gpu_resource: str | None = Field(
        default=None,
        min_length=1,
        description="the Ray resource a job's resources.gpus_per_trial is asked as (default "
        "GPU); a custom resource stands in for GPUs on machines without one (tests)",
    )
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated keys; when set, writes need one"
    )
    reads_require_key: bool = False
    max_parallel_trials: int = Field(default=1, ge=1, le=256)
    max_attempts: int = Field(
        default=3,
        ge=1,
        le=20,
        description="charged runs of a trial whose worker is lost; runs cut short through no "
        "fault of the trial's (a takeover, a lost Ray cluster, a server stop) are not charged",
    )
    max_takeovers: int = Field(
        default=3,
        ge=1,
        le=20,
        description="times a trial may be taken over (the server running it died, another "
        "took the job over) before it is given up: it may be what kills its servers",
    )
    heartbeat_timeout: float = Field(default=300.0, gt=0)
    worker_nice: int = Field(
        default=DEFAULT_NICE,
        ge=0,
        le=19,
        description="OS niceness of trial worker processes (local and Ray), so training yields "
        "the CPU to the server's requests; 0 runs them at the server's priority",
    )
    data_root: Path | None = Field(
        default=None, description="jobs may reference dataset paths only below this folder"
    )
    public_url: str | None = Field(default=None, description="base URL printed for humans")
    artifact_dir: Path = Field(
        default=Path("artifacts"),
        description="where workers save kept trial weights (job-<id>/trial-<id>/); Ray workers "
        "on other machines need it at the same path (a shared volume)",
    )
    scheduler: bool = Field(default=True, description="run jobs in this server process")
    max_concurrent_jobs: int = Field(
        default=8, ge=1, le=256, description="jobs this server runs at once (sharing its slots)"
    )
    lease_seconds: float = Field(
        default=30.0,
        ge=0.5,
        le=3600,
        description="a server's hold on the jobs it runs, renewed every third of it; a dead "
        "server's jobs move to another server this long after its last renewal",
    )
    access_log: bool = Field(
        default=False,
        description="log every request (uvicorn's access log): off by default, an open "
        "leaderboard page polls every second and a line per poll buries the server's own "
        "messages; about 5% of the server's time per request under load",
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="larger request bodies get a 413"
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def auth_enabled(self) -> bool:
        return bool(self.api_keys)

    def unguarded(self, keys_stored: bool) -> bool:
        """No API key guards this server: none in ``api_keys`` and none stored in the database."""
        return not self.auth_enabled and not keys_stored

    def bound(self, keys_stored: bool) -> Settings:
        """The settings to serve with: an unguarded server is open to this machine only, so it
        binds to ``LOOPBACK`` whatever ``host`` says (a loopback ``host`` is kept)."""
        if not self.unguarded(keys_stored) or self.host in LOOPBACK_HOSTS:
            return self
        return self.model_copy(update={"host": LOOPBACK})

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = LOOPBACK if self.host in {"0.0.0.0", "::"} else self.host
        return f"http://{host}:{self.port}"
