"""Shops (installations) and the products Shopify told us about."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shopify_app.crypto import EncryptedString
from shopify_app.models.base import Base, created_at, ulid_pk, updated_at, utcnow
from shopify_app.models.enums import PublishMode, db_enum

if TYPE_CHECKING:
    from shopify_app.models.catalog import CatalogModel


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[str] = ulid_pk()
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    # Offline access token, and for expiring offline tokens the refresh token and both expiries.
    access_token: Mapped[str | None] = mapped_column(EncryptedString(), info={"secret": True})
    access_token_expires_at: Mapped[dt.datetime | None]
    refresh_token: Mapped[str | None] = mapped_column(EncryptedString(), info={"secret": True})
    refresh_token_expires_at: Mapped[dt.datetime | None]
    scopes: Mapped[str] = mapped_column(Text, default="")
    installed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    uninstalled_at: Mapped[dt.datetime | None]

    # Merchant settings.
    auto_shoot: Mapped[bool] = mapped_column(default=False)
    default_catalog_model_id: Mapped[str | None] = mapped_column(
        ForeignKey("catalog_models.id", ondelete="SET NULL", use_alter=True)
    )
    default_generation_model_id: Mapped[Any | None] = mapped_column(
        ForeignKey("generation_models.id", ondelete="SET NULL")
    )
    publish_mode: Mapped[PublishMode] = mapped_column(db_enum(PublishMode), default=PublishMode.REVIEW)

    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()

    default_catalog_model: Mapped[CatalogModel | None] = relationship(
        foreign_keys=[default_catalog_model_id], post_update=True
    )

    @property
    def installed(self) -> bool:
        return self.uninstalled_at is None

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.scopes.split(",") if s.strip())


class Product(Base):
    """A Shopify product as last reported to us (webhooks, picker); the auto-shoot record."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("shop_id", "shopify_product_id"),
        Index("ix_products_shop_created", "shop_id", "created_at"),
    )

    id: Mapped[str] = ulid_pk()
    shop_id: Mapped[str] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    shopify_product_id: Mapped[str] = mapped_column(String(64))  # gid://shopify/Product/123
    title: Mapped[str] = mapped_column(Text, default="")
    image_url: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None]
    # Why auto-shoot did not run for this product (support reads this).
    auto_shoot_status: Mapped[str | None] = mapped_column(String(32))
    auto_shoot_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = created_at()
    updated_at: Mapped[dt.datetime] = updated_at()
