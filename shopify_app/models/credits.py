"""The append-only credit ledger."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopify_app.models.base import Base, created_at
from shopify_app.models.enums import LedgerKind, db_enum


class CreditLedger(Base):
    """One movement of credits. The balance is the sum of `amount` over a shop's rows.

    (job_id, kind) is unique: a job is charged at most once and refunded at most once, whatever
    retries, reconciler passes or racing workers do. Grants and adjustments have no job, and
    NULLs never collide in a unique constraint.
    """

    __tablename__ = "credit_ledger"
    __table_args__ = (
        UniqueConstraint("job_id", "kind"),
        Index("ix_credit_ledger_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    kind: Mapped[LedgerKind] = mapped_column(db_enum(LedgerKind))
    amount: Mapped[int] = mapped_column(Integer)  # positive adds credits, negative spends them
    reason: Mapped[str] = mapped_column(Text, default="")
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    reference: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = created_at()
