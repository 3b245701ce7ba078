"""Generation jobs (one workflow run each) and the provider tasks they submit."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopify_app.models.base import Base, created_at, ulid_pk, updated_at
from shopify_app.models.enums import JobStatus, ProviderTaskStatus, db_enum


class GenerationJob(Base):
    __tablename__ = "generation_jobs"
    __table_args__ = (
        Index("ix_generation_jobs_shop_status_created", "shop_id", "status", "created_at"),
        Index("ix_generation_jobs_shop_created", "shop_id", "created_at"),
        Index("ix_generation_jobs_status_updated", "status", "updated_at"),
        Index("ix_generation_jobs_parent", "parent_job_id"),
        Index("ix_generation_jobs_created", "created_at"),
    )

    id: Mapped[str] = ulid_pk()
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    api_client_id: Mapped[str | None] = mapped_column(ForeignKey("api_clients.id", ondelete="SET NULL"))
    request_id: Mapped[str | None] = mapped_column(String(26))
    parent_job_id: Mapped[str | None] = mapped_column(
        ForeignKey("generation_jobs.id", ondelete="CASCADE")
    )

    workflow: Mapped[str] = mapped_column(String(40))
    status: Mapped[JobStatus] = mapped_column(db_enum(JobStatus), default=JobStatus.NOT_STARTED)
    stage: Mapped[str] = mapped_column(String(40), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)  # 0..100
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    catalog_model_id: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_models.id", ondelete="SET NULL")
    )
    generation_model_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("generation_models.id", ondelete="SET NULL")
    )
    shopify_product_id: Mapped[str | None] = mapped_column(String(64))

    # The step the job runs next ("module:function"), so the reconciler can enqueue it again.
    next_step: Mapped[str | None] = mapped_column(String(120))
    rq_job_id: Mapped[str | None] = mapped_column(String(120))
    # The step that was due when the job failed (`next_step`'s value then): what a support
    # retry schedules again.
    failed_step: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(default=0)
    # How many times the reconciler put a lost or crashed step back; capped (see jobs.maintenance).
    recoveries: Mapped[int] = mapped_column(default=0, server_default="0")
    cancel_requested: Mapped[bool] = mapped_column(default=False)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    credits_cost: Mapped[int] = mapped_column(default=0)
    credits_refunded: Mapped[int] = mapped_column(default=0)

    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]


class ProviderTask(Base):
    """One submission to an upstream provider (primary or fallback) on behalf of a job."""

    __tablename__ = "provider_tasks"
    __table_args__ = (Index("ix_provider_tasks_job", "job_id"),)

    id: Mapped[str] = ulid_pk()
    job_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16), default="primary")  # primary | fallback
    operation: Mapped[str] = mapped_column(String(32))  # model-generation | try-on | training
    upstream_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[ProviderTaskStatus] = mapped_column(
        db_enum(ProviderTaskStatus), default=ProviderTaskStatus.QUEUED
    )
    attempt: Mapped[int] = mapped_column(default=1)
    polls: Mapped[int] = mapped_column(default=0)
    request_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    response_summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_kind: Mapped[str | None] = mapped_column(String(20))  # technical|content|configuration|quota
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()
    finished_at: Mapped[dt.datetime | None]
