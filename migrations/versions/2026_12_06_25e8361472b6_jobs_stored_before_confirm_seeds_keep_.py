"""jobs stored before confirm_seeds keep confirmation off

``JobSpec.confirm_seeds`` (default 3) came after these jobs were stored; read back without it,
an old job that is resumed or extended would start confirmation runs it never asked for. The
upgrade writes ``confirm_seeds: 0`` into every stored spec that lacks it; the downgrade takes
the key out of every spec (the code before it knows no such field).

Revision ID: 25e8361472b6
Revises: 02180e20ab8a
Create Date: 2026-12-06 00:03:00.397522

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '25e8361472b6'
down_revision: Union[str, Sequence[str], None] = '02180e20ab8a'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEY = "confirm_seeds"
job = sa.table("job", sa.column("id", sa.Integer()), sa.column("spec", sa.JSON()))


def _rewrite(change: Any) -> None:
    """Store ``change(spec)`` for every job whose spec it changes (None: leave it)."""
    conn = op.get_bind()
    for job_id, spec in conn.execute(sa.select(job.c.id, job.c.spec)).all():
        if isinstance(spec, dict):
            changed = change(spec)
            if changed is not None:
                conn.execute(job.update().where(job.c.id == job_id).values(spec=changed))


def upgrade() -> None:
    """Old specs get ``confirm_seeds: 0``."""
    _rewrite(lambda spec: None if KEY in spec else {**spec, KEY: 0})


def downgrade() -> None:
    """Every spec loses ``confirm_seeds``."""
    _rewrite(lambda spec: {k: v for k, v in spec.items() if k != KEY} if KEY in spec else None)
