"""API clients (integrators) and the log of every /v1 request."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopify_app.models.base import Base, created_at, ulid_pk


class ApiClient(Base):
    """An integrator's API key. Only a SHA-256 of the key is stored; the prefix finds the row."""

    __tablename__ = "api_clients"

    id: Mapped[str] = ulid_pk()
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    key_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64), info={"secret": True})
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=120)
    disabled_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at()


class RequestLog(Base):
    """One row per /v1 call, keyed by the 26-char ULID request id of seed 000."""

    __tablename__ = "request_logs"
    __table_args__ = (
        UniqueConstraint("api_client_id", "idempotency_key"),
        Index("ix_request_logs_shop_created", "shop_id", "created_at"),
    )

    request_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    shop_id: Mapped[str | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    api_client_id: Mapped[str | None] = mapped_column(ForeignKey("api_clients.id", ondelete="CASCADE"))
    auth_kind: Mapped[str] = mapped_column(String(16), default="none")  # api_key | flow | none
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(255))
    status_code: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(26), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = created_at()
