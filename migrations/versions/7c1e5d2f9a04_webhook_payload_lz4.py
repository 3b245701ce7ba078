"""webhook payloads compressed with lz4

Revision ID: 7c1e5d2f9a04
Revises: 32755901b4ac
Create Date: 2026-11-21 12:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '7c1e5d2f9a04'
down_revision: str | None = '32755901b4ac'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PostgreSQL only (SQLite has no TOAST), and only where the server has lz4 (≥ 14, built with
# it): the server decides, so `alembic upgrade --sql` works too. The ALTER takes an exclusive
# lock on the table for a moment (rows already stored keep their compression until rewritten):
# it gives up rather than queue behind a long transaction and stall the webhook endpoint.
UPGRADE = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings
             WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
    SET LOCAL lock_timeout = '5s';
    ALTER TABLE webhook_deliveries ALTER COLUMN payload SET COMPRESSION lz4;
  END IF;
END $$
"""

DOWNGRADE = """
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression') THEN
    SET LOCAL lock_timeout = '5s';
    ALTER TABLE webhook_deliveries ALTER COLUMN payload SET COMPRESSION DEFAULT;
  END IF;
END $$
"""


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(UPGRADE)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(DOWNGRADE)
