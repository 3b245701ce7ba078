"""The whole domain of DESIGN.md as typed SQLAlchemy 2 models."""

from shopify_app.models.api import ApiClient, RequestLog
from shopify_app.models.base import Base, new_ulid, utcnow
from shopify_app.models.catalog import Asset, CatalogModel, MediaPush
from shopify_app.models.credits import CreditLedger
from shopify_app.models.enums import (
    AssetKind,
    CatalogModelStatus,
    DeliveryOutcome,
    Gender,
    JobStatus,
    LedgerKind,
    ProviderTaskStatus,
    PublishMode,
    PushState,
    ReviewState,
    StaffRole,
    Workflow,
)
from shopify_app.models.jobs import GenerationJob, ProviderTask
from shopify_app.models.registry import GenerationModel
from shopify_app.models.shop import Product, Shop
from shopify_app.models.staff import AuditLog, StaffUser
from shopify_app.models.webhooks import WebhookDelivery

__all__ = [
    "ApiClient", "Asset", "AssetKind", "AuditLog", "Base", "CatalogModel", "CatalogModelStatus",
    "CreditLedger", "DeliveryOutcome", "Gender", "GenerationJob", "GenerationModel", "JobStatus",
    "LedgerKind", "MediaPush", "Product", "ProviderTask", "ProviderTaskStatus", "PublishMode",
    "PushState", "RequestLog", "ReviewState", "Shop", "StaffRole", "StaffUser", "WebhookDelivery",
    "Workflow", "new_ulid", "utcnow",
]
