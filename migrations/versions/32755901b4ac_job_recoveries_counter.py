"""job recoveries counter

Revision ID: 32755901b4ac
Revises: 0dcf16766936
Create Date: 2026-11-21 08:19:37.233046
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '32755901b4ac'
down_revision: str | None = '0dcf16766936'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite rebuilds the table, PostgreSQL runs a plain ALTER.
    with op.batch_alter_table('generation_jobs') as batch_op:
        batch_op.add_column(sa.Column('recoveries', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('generation_jobs') as batch_op:
        batch_op.drop_column('recoveries')
