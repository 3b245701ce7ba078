"""Webhook deliveries: one row per X-Shopify-Webhook-Id."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopify_app.models.base import Base, utcnow
from shopify_app.models.enums import DeliveryOutcome, db_enum


class WebhookDelivery(Base):
    """The unique webhook id makes a duplicate delivery a no-op (an IntegrityError, caught)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_shop_received", "shop_domain", "received_at"),
        Index("ix_webhook_deliveries_topic_received", "topic", "received_at"),
        Index("ix_webhook_deliveries_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(255), unique=True)
    topic: Mapped[str] = mapped_column(String(80))
    shop_domain: Mapped[str] = mapped_column(String(255))
    shop_id: Mapped[str | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    api_version: Mapped[str | None] = mapped_column(String(20))
    triggered_at: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    outcome: Mapped[DeliveryOutcome] = mapped_column(
        db_enum(DeliveryOutcome), default=DeliveryOutcome.RECEIVED
    )
    note: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
