"""The /v1 contract as pydantic v2 models.

Seed 000 fixes `ModelGeneratorRequest`, `WorkflowAcceptedResponse` and `HTTPValidationError`
(field names, titles, required fields and defaults); the try-on and catalog-shoot requests follow
the same style. The OpenAPI document (`openapi.py`) is generated from these classes, so what the
API validates and what it documents cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shopify_app.models import JobStatus, PublishMode

ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
MAX_METADATA_BYTES = 16_384
MAX_PRODUCTS_PER_SHOOT = 50
PRODUCT_GID_PREFIX = "gid://shopify/Product/"
_PRODUCT_GID = re.compile(r"^gid://shopify/Product/([1-9][0-9]{0,19})$")
_NUMERIC_ID = re.compile(r"^[1-9][0-9]{0,19}$")


class UserCategory(enum.StrEnum):
    """User gender. Matches studio.schema.common.UserCategory."""

    MALE = "MALE"
    FEMALE = "FEMALE"


OnTechnicalFailure = Literal["fallback", "retry", "fail"]


def _product_gid(value: Any) -> Any:
    """Accept a product GID, a numeric id or a numeric string; keep the GID form."""
    if isinstance(value, bool):
        return value  # let the str check reject it
    if isinstance(value, int) and value > 0:
        return f"{PRODUCT_GID_PREFIX}{value}"
    if isinstance(value, str):
        text = value.strip()
        if _NUMERIC_ID.match(text):
            return f"{PRODUCT_GID_PREFIX}{text}"
        if _PRODUCT_GID.match(text):
            return text
        raise ValueError("must be a Shopify product id: gid://shopify/Product/123 or 123")
    return value


ProductId = Annotated[str, BeforeValidator(_product_gid)]
UlidId = Annotated[str, Field(pattern=ULID_PATTERN, min_length=26, max_length=26)]


class _Request(BaseModel):
    # FastAPI's convention: unknown fields are ignored (a newer client stays compatible).
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class GenerationOptions(_Request):
    """Options shared by every workflow request (seed 000's optional fields)."""

    image_model: str | None = Field(
        default=None, max_length=120,
        description="Generation model name or id; the shop's default (or the recommended one) when omitted.",
    )
    eval_enabled: bool | None = Field(
        default=None,
        description="Run automatic checks (size, aspect, blank images, garment colour) before outputs are offered.",
    )
    resolution: str | None = Field(default=None, max_length=40)
    aspect_ratio: str | None = Field(default=None, max_length=20)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    on_technical_failure: OnTechnicalFailure | None = Field(
        default=None,
        description="What to do when the provider fails for technical reasons: fallback (default), retry, fail.",
    )


class ModelGeneratorRequest(GenerationOptions):
    """POST /v1/model-generator — a catalog-model spec."""

    display_name: str = Field(
        default="", max_length=120, title="Display Name",
        description=(
            "Human-readable name for the catalog entry. Optional — when omitted, studio coins an "
            "evocative catalog name during generation."
        ),
    )
    gender: UserCategory
    ethnicity: str = Field(min_length=1, max_length=80, title="Ethnicity")
    body_type: str = Field(min_length=1, max_length=80, title="Body Type")
    age_range: str = Field(min_length=1, max_length=40, title="Age Range")
    metadata: dict[str, Any] = Field(default_factory=dict, title="Metadata")
    pilot_brand: str | None = Field(default=None, max_length=120)

    @field_validator("metadata")
    @classmethod
    def _metadata_is_small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"metadata must serialise to at most {MAX_METADATA_BYTES} bytes")
        return value


class TryOnRequest(GenerationOptions):
    """POST /v1/try-on — a catalog model wearing one garment (an image URL or a product's image)."""

    catalog_model_id: UlidId = Field(title="Catalog Model Id")
    garment_image_url: AnyHttpUrl | None = Field(
        default=None, title="Garment Image Url", description="An http(s) image of the garment."
    )
    product_id: ProductId | None = Field(
        default=None, title="Product Id",
        description="A Shopify product (gid://shopify/Product/123 or 123) whose featured image is the garment.",
    )
    num_images: int = Field(default=1, ge=1, le=4, title="Num Images")

    @model_validator(mode="after")
    def _one_garment(self) -> TryOnRequest:
        if (self.garment_image_url is None) == (self.product_id is None):
            raise ValueError("give exactly one of garment_image_url or product_id")
        return self


class CatalogShootRequest(GenerationOptions):
    """POST /v1/catalog-shoot — products shot on a catalog model; review first or publish directly."""

    catalog_model_id: UlidId = Field(title="Catalog Model Id")
    product_ids: list[ProductId] = Field(
        min_length=1, max_length=MAX_PRODUCTS_PER_SHOOT, title="Product Ids",
    )
    num_images: int = Field(default=1, ge=1, le=4, title="Num Images", description="Images per product.")
    publish: PublishMode = Field(
        default=PublishMode.REVIEW, title="Publish",
        description="review: results wait for approval (default); direct: published to the products as they pass.",
    )

    @field_validator("product_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("product_ids must not repeat a product")
        return value


# ----------------------------------------------------------------------------- responses


class WorkflowAcceptedResponse(BaseModel):
    """Returned synchronously from any POST /v1/{name} (202)."""

    request_id: str = Field(
        title="Request Id", description="26-char ULID — correlates with the row in request_logs."
    )
    job_id: str | None = Field(title="Job Id")
    status: JobStatus = Field(
        default=JobStatus.NOT_STARTED,
        description="Studio’s job status at submit time. Almost always NOT_STARTED in this 202.",
    )
    credits_cost: int = Field(
        title="Credits Cost",
        description="Credits deducted from the calling client. Refunded automatically on any failure path.",
    )


class ValidationError(BaseModel):
    loc: list[str | int] = Field(title="Location")
    msg: str = Field(title="Message")
    type: str = Field(title="Error Type")


class HTTPValidationError(BaseModel):
    detail: list[ValidationError] = Field(default_factory=list, title="Detail")


class ErrorResponse(BaseModel):
    """Every other error (401, 403, 404, 409, 410, 429, 503): a sentence saying what went wrong."""

    detail: str


class InsufficientCreditsResponse(BaseModel):
    """402: the shop's balance does not cover the workflow; nothing was created or charged."""

    detail: str
    credits_needed: int
    credits_balance: int


class JobError(BaseModel):
    code: str
    message: str


class OutputFile(BaseModel):
    """An image the job produced. `url` is signed and expires; held-back outputs have no url."""

    asset_id: str
    kind: str
    url: str | None
    expires_at: dt.datetime | None
    width: int
    height: int
    format: str
    byte_size: int
    review_state: str
    product_id: str | None
    held_reason: str | None
    eval_scores: dict[str, Any]


class JobResponse(BaseModel):
    job_id: str
    request_id: str | None
    workflow: str
    status: JobStatus
    stage: str
    progress: int = Field(ge=0, le=100)
    catalog_model_id: str | None
    generation_model: str | None
    inputs: dict[str, Any]
    outputs: list[OutputFile]
    error: JobError | None
    credits_cost: int
    credits_refunded: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RequestLogResponse(BaseModel):
    request_id: str
    method: str
    path: str
    status_code: int
    auth_kind: str
    job_id: str | None
    idempotency_key: str | None
    response_body: dict[str, Any] | None
    error: str | None
    duration_ms: int | None
    created_at: dt.datetime


class CatalogModelResponse(BaseModel):
    id: str
    display_name: str
    status: str
    gender: UserCategory
    ethnicity: str
    body_type: str
    age_range: str
    image_model: str | None
    resolution: str | None
    aspect_ratio: str | None
    seed: int | None
    metadata: dict[str, Any]
    pilot_brand: str | None
    error_message: str | None
    portraits: list[OutputFile]
    created_at: dt.datetime
    updated_at: dt.datetime


class CatalogModelPage(BaseModel):
    items: list[CatalogModelResponse]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class CatalogModelListQuery(_Request):
    limit: int = Field(default=20, ge=1, le=100)
    cursor: UlidId | None = None


REQUEST_MODELS: dict[str, type[GenerationOptions]] = {
    "model-generator": ModelGeneratorRequest,
    "try-on": TryOnRequest,
    "catalog-shoot": CatalogShootRequest,
}
