"""The server's verbs, which open its database: ``serve``, and ``keys`` (an admin's: API keys
stored hashed in the database, no server needed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.shared import console, err_console, fail, invalid
from nas.errors import NasError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from api.keys import KeyRepository
    from api.settings import Settings

app = typer.Typer()
keys_app = typer.Typer(help="API keys stored (hashed) in the server's database.")
DatabaseUrl = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL (default NAS_DATABASE_URL)", show_default=False)
]


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default NAS_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default NAS_PORT)")] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL")] = None,
    executor: Annotated[str | None, typer.Option(help="local | ray | inline")] = None,
    artifact_dir: Annotated[
        Path | None, typer.Option(help="where kept trial weights go (NAS_ARTIFACT_DIR)")
    ] = None,
    ray_address: Annotated[str | None, typer.Option(help="existing Ray cluster")] = None,
    demo: Annotated[
        Path | None, typer.Option(help="submit this job file once the database is ready")
    ] = None,
) -> None:
    """Run the server: migrate the database, then serve the API and run the scheduler."""
    import uvicorn
    from pydantic import ValidationError

    from api.app import create_app
    from api.db.session import upgrade_database
    from api.heap import settle
    from api.settings import Settings

    overrides: dict[str, Any] = {
        key: value
        for key, value in {
            "host": host,
            "port": port,
            "database_url": database_url,
            "executor": executor,
            "artifact_dir": artifact_dir,
            "ray_address": ray_address,
        }.items()
        if value is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise invalid(exc) from None
    try:
        upgrade_database(settings.database_url)
    except Exception as exc:
        raise fail(f"cannot migrate the database: {type(exc).__name__}: {exc}") from None
    from sqlalchemy.engine import make_url

    from api.db.session import make_engine, session_factory

    factory = session_factory(make_engine(settings.database_url))
    settings = _bound(settings, factory)
    shown_url = make_url(settings.database_url).render_as_string(hide_password=True)
    err_console.print(
        f"serving on {settings.base_url()} (database {shown_url}, executor {settings.executor})"
    )
    if demo is not None:
        _submit_demo(demo, settings, factory)
    app = create_app(settings)
    settle()  # no full garbage collection scans the imported modules again (api.heap)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=settings.access_log,
    )


def _bound(settings: Settings, factory: sessionmaker[Session]) -> Settings:
    """The settings to serve with (``Settings.bound``: no key, loopback only), said aloud."""
    from api.keys import KeyRepository

    stored_keys = KeyRepository(factory).any_stored()
    bound = settings.bound(stored_keys)
    if bound.host != settings.host:
        err_console.print(
            f"[yellow]no API keys (NAS_API_KEYS or `nas keys create`): binding to 127.0.0.1 "
            f"instead of {settings.host}[/]"
        )
    elif settings.unguarded(stored_keys):
        err_console.print("[yellow]no API keys: open to this machine only (127.0.0.1)[/]")
    return bound


def _submit_demo(demo: Path, settings: Settings, factory: sessionmaker[Session]) -> None:
    """``serve --demo``: store the job file's job and say where to look."""
    from api.store import JobRepository
    from nas.job import JobSpec

    try:
        job = JobRepository(factory).create(JobSpec.from_file(demo))
    except NasError as exc:
        raise fail(exc) from None
    base = settings.base_url()
    err_console.print(
        f"[bold green]demo job {job.id} submitted[/]\n"
        f"  leaderboard: {base}/jobs/{job.id}\n"
        f"  all jobs:    {base}/\n"
        f"  API docs:    {base}/docs"
    )


@contextmanager
def _key_repository(database_url: str | None) -> Iterator[KeyRepository]:
    from api.db.session import make_engine, session_factory, upgrade_database
    from api.keys import KeyRepository
    from api.settings import Settings

    url = database_url or Settings().database_url
    try:
        upgrade_database(url)
    except Exception as exc:
        raise fail(f"cannot open the database: {type(exc).__name__}: {exc}") from None
    engine = make_engine(url)
    try:
        yield KeyRepository(session_factory(engine))
    except NasError as exc:
        raise fail(exc, code=1) from None
    finally:
        engine.dispose()


@keys_app.command("create")
def keys_create(name: str, database_url: DatabaseUrl = None) -> None:
    """Make a new key; it is printed once (only its SHA-256 digest is stored)."""
    with _key_repository(database_url) as keys:
        key = keys.create(name)
    err_console.print(f"key {escape(name)!r} created; it is shown only now:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(database_url: DatabaseUrl = None) -> None:
    """The stored keys (names and dates, never the keys)."""
    with _key_repository(database_url) as keys:
        infos = keys.infos()
    table = Table("name", "created", "revoked")
    for info in infos:
        revoked = f"{info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "-"
        table.add_row(escape(info.name), f"{info.created_at:%Y-%m-%d %H:%M}", revoked)
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(name: str, database_url: DatabaseUrl = None) -> None:
    """Stop a key (within a few seconds on running servers)."""
    with _key_repository(database_url) as keys:
        keys.revoke(name)
    err_console.print(f"key {escape(name)!r} revoked")
