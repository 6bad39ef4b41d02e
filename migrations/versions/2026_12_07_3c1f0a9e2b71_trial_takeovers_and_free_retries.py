"""trial takeovers and free retries: the attempts not charged to a trial

``trial.attempts`` counts every start of a trial. Two counts of those attempts that were cut
short through no fault of the trial's, and so are not charged to ``max_attempts``:
``takeovers`` (the server running it died and another took the job over; bounded on its own by
``max_takeovers``) and ``free_retries`` (its Ray cluster was lost, or its server let the job go).
Existing trials start at 0: every attempt they made so far stays charged, as it was.

Revision ID: 3c1f0a9e2b71
Revises: 25e8361472b6
Create Date: 2026-12-07 00:00:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '3c1f0a9e2b71'
down_revision: Union[str, Sequence[str], None] = '25e8361472b6'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.add_column(sa.Column('takeovers', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(
            sa.Column('free_retries', sa.Integer(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('trial', schema=None) as batch_op:
        batch_op.drop_column('free_retries')
        batch_op.drop_column('takeovers')
