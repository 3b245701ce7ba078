"""Catalog models (the AI fashion models) and the images we hold."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shopify_app.models.base import Base, created_at, ulid_pk, updated_at
from shopify_app.models.enums import (
    AssetKind,
    CatalogModelStatus,
    Gender,
    PushState,
    ReviewState,
    db_enum,
)


class CatalogModel(Base):
    __tablename__ = "catalog_models"
    __table_args__ = (Index("ix_catalog_models_shop_created", "shop_id", "created_at"),)

    id: Mapped[str] = ulid_pk()
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    # The spec (seed 000's ModelGeneratorRequest).
    gender: Mapped[Gender] = mapped_column(db_enum(Gender))
    ethnicity: Mapped[str] = mapped_column(String(80))
    body_type: Mapped[str] = mapped_column(String(80))
    age_range: Mapped[str] = mapped_column(String(40))
    image_model: Mapped[str | None] = mapped_column(String(120))
    resolution: Mapped[str | None] = mapped_column(String(40))
    aspect_ratio: Mapped[str | None] = mapped_column(String(20))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    # `metadata` is reserved on declarative classes; the column keeps the seed's name.
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    pilot_brand: Mapped[str | None] = mapped_column(String(120))

    status: Mapped[CatalogModelStatus] = mapped_column(
        db_enum(CatalogModelStatus), default=CatalogModelStatus.PENDING
    )
    generation_model_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("generation_models.id", ondelete="SET NULL")
    )
    # Provider references: trained model id, trigger word, and whatever else the adapter keeps.
    provider: Mapped[str | None] = mapped_column(String(40))
    provider_model_id: Mapped[str | None] = mapped_column(String(200))
    trigger_word: Mapped[str | None] = mapped_column(String(120))
    provider_state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error_message: Mapped[str | None] = mapped_column(Text)

    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class Asset(Base):
    """An image we hold: a garment source, a model portrait or a try-on result."""

    __tablename__ = "assets"
    __table_args__ = (
        Index("ix_assets_job", "job_id"),
        Index("ix_assets_shop_product", "shop_id", "shopify_product_id"),
        Index("ix_assets_catalog_model", "catalog_model_id"),
    )

    id: Mapped[str] = ulid_pk()
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    catalog_model_id: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_models.id", ondelete="CASCADE")
    )
    kind: Mapped[AssetKind] = mapped_column(db_enum(AssetKind))

    storage_key: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(10))
    byte_size: Mapped[int] = mapped_column(BigInteger)

    # Review and evaluation (try-on results).
    review_state: Mapped[ReviewState] = mapped_column(db_enum(ReviewState), default=ReviewState.PENDING)
    eval_scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    held_reason: Mapped[str | None] = mapped_column(Text)

    # Publishing to Shopify product media.
    shopify_product_id: Mapped[str | None] = mapped_column(String(64))
    shopify_variant_id: Mapped[str | None] = mapped_column(String(64))
    alt_text: Mapped[str] = mapped_column(String(512), default="")
    push_state: Mapped[PushState] = mapped_column(db_enum(PushState), default=PushState.NONE)
    shopify_media_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    media_push_id: Mapped[str | None] = mapped_column(ForeignKey("media_pushes.id", ondelete="SET NULL"))

    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


class MediaPush(Base):
    """One publish of several images to one product: one staged upload, one attach call."""

    __tablename__ = "media_pushes"
    __table_args__ = (Index("ix_media_pushes_job", "job_id"),)

    id: Mapped[str] = ulid_pk()
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    job_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"))
    shopify_product_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[PushState] = mapped_column(db_enum(PushState), default=PushState.QUEUED)
    # "publish" adds the assets' images to the product; "undo" removes the media we added.
    kind: Mapped[str] = mapped_column(String(16), default="publish")
    # Per asset id: the staged target (resourceUrl, upload done?), the media id once known, the
    # variant media replaced (restored on undo). Recorded before each next call to Shopify.
    staged: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set (and committed) just before the attach call: if the answer is lost, the next attempt
    # reconciles with the product's media instead of attaching twice.
    attach_requested_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    polls: Mapped[int] = mapped_column(default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()


__all__ = ["Asset", "CatalogModel", "MediaPush"]
