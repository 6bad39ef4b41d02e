"""trial strides text kept in the row

``trial.strides``: a trial's strides per stage as the leaderboard and the listings show them
(``api.strides.strides_text``), the block string's, or a finished DiffStride trial's learned
ones. Kept in the row so that a cold leaderboard of 100,000 trials reads one short column
instead of every DiffStride trial's result document. Existing trials are filled in here, in
batches of 2,000 by id.

Revision ID: 8fa783f5385a
Revises: 3c1f0a9e2b71
Create Date: 2026-12-07 17:52:14.469091

"""
from typing import Any, Sequence, Union

from alembic import op
import sqlalchemy as sa

from api.strides import strides_text


# revision identifiers, used by Alembic.
revision: str = '8fa783f5385a'
down_revision: Union[str, Sequence[str], None] = '3c1f0a9e2b71'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_BATCH = 2000
_trial = sa.table(
    'trial', sa.column('id', sa.Integer), sa.column('spec', sa.Text),
    sa.column("strides", sa.Text),
)
_document = sa.table('trial_document', sa.column('trial_id', sa.Integer), sa.column('result', sa.JSON))


def _learned(result: Any) -> Any:
    return result.get('learned_strides') if isinstance(result, dict) else None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('strides', sa.Text(), nullable=True))
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_trial.c.id, _trial.c.spec, _document.c.result)
            .select_from(_trial.outerjoin(_document, _document.c.trial_id == _trial.c.id))
            .where(_trial.c.id > last)
            .order_by(_trial.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            sa.update(_trial).where(_trial.c.id == sa.bindparam('trial_id')),
            [
                {'trial_id': row.id, 'strides': strides_text(row.spec, _learned(row.result))}
                for row in rows
            ],
        )
        last = rows[-1].id


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_column('strides')
