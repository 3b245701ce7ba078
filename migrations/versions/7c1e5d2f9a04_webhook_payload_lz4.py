"""webhook payloads compressed with lz4

Revision ID: 7c1e5d2f9a04
Revises: 32755901b4ac
Create Date: 2026-11-21 12:55:00.000000
"""

from collections.abc import Sequence

from alembic import op

from shopify_app.models.webhooks import PAYLOAD_LZ4, postgresql_has_lz4

revision: str = '7c1e5d2f9a04'
down_revision: str | None = '32755901b4ac'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # PostgreSQL only (SQLite has no TOAST); rows already stored keep their compression until
    # they are rewritten.
    if postgresql_has_lz4(op.get_bind()):
        op.execute(PAYLOAD_LZ4)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE webhook_deliveries ALTER COLUMN payload SET COMPRESSION DEFAULT")
