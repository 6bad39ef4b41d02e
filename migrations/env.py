"""Alembic environment: the service's models are the target; the URL comes from the config.

``sqlalchemy.url`` is set programmatically by ``api.db.session.upgrade_database``; on the
command line it comes from ``NAS_DATABASE_URL`` (default ``sqlite:///./nas.db``).
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from typing import Any

import sqlalchemy as sa
from alembic import context
from alembic.autogenerate.api import AutogenContext

from api.db.models import Base, UtcDateTime

DEFAULT_URL = "sqlite:///./nas.db"

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    return url or os.environ.get("NAS_DATABASE_URL") or DEFAULT_URL


def render_item(kind: str, obj: Any, autogen_context: AutogenContext) -> str | bool:
    """Render the models' own types as plain SQLAlchemy types (migrations import no models)."""
    if kind == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def options(url: sa.URL) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        "render_as_batch": url.get_backend_name() == "sqlite",
        "render_item": render_item,
    }


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of connecting (``alembic upgrade head --sql``)."""
    url = sa.make_url(database_url())
    context.configure(
        url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **options(url)
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A plain engine: on SQLite foreign keys stay off while tables are rebuilt in batch mode.
    url = sa.make_url(database_url())
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **options(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
