"""The vocabularies of the domain, as stored in the database."""

from __future__ import annotations

import enum

from sqlalchemy import Enum


class JobStatus(enum.StrEnum):
    """Seed 000's JobStatus, the status every API client sees."""

    NOT_STARTED = "NOT_STARTED"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCESS, JobStatus.FAILURE)


class Workflow(enum.StrEnum):
    MODEL_GENERATOR = "model-generator"
    TRY_ON = "try-on"
    CATALOG_SHOOT = "catalog-shoot"
    PUSH_MEDIA = "push-media"
    UNDO_PUSH = "undo-push"


class Gender(enum.StrEnum):
    MALE = "MALE"
    FEMALE = "FEMALE"


class CatalogModelStatus(enum.StrEnum):
    PENDING = "pending"
    GENERATING = "generating"
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class AssetKind(enum.StrEnum):
    GARMENT = "garment"
    PORTRAIT = "portrait"
    TRY_ON = "try_on"


class ReviewState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class PushState(enum.StrEnum):
    NONE = "none"
    QUEUED = "queued"
    UPLOADED = "uploaded"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"
    REMOVED = "removed"


class LedgerKind(enum.StrEnum):
    GRANT = "grant"
    PURCHASE = "purchase"
    CHARGE = "charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"


class PublishMode(enum.StrEnum):
    REVIEW = "review"
    DIRECT = "direct"


class DeliveryOutcome(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    SKIPPED = "skipped"
    FAILED = "failed"


class StaffRole(enum.StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


class ProviderTaskStatus(enum.StrEnum):
    """The one internal vocabulary every upstream status is mapped to."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


def db_enum(enum_cls: type[enum.StrEnum]) -> Enum:
    """A VARCHAR + CHECK column holding the enum's values (portable, easy to migrate)."""
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        name=enum_cls.__name__.lower(),
        validate_strings=True,
    )
