"""Seed 002's shapes: GenerativeModelsCreate / Update / Public / ListPublic, and Message."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shopify_app.providers.base import Capability as ProviderCapability
from shopify_app.providers.config import ProviderType

__all__ = [
    "GenerationModelCreate", "GenerationModelPublic", "GenerationModelUpdate",
    "GenerationModelsList", "GenerationTool", "ListParams", "Message", "ProviderCapability",
    "ProviderType",
]


class GenerationTool(enum.StrEnum):
    """What a generation model may be used for (seed 002's `tool_types`)."""

    BASE_GENERATION = "BASE_GENERATION"  # catalog-model portraits
    TRY_ON = "TRY_ON"
    UPSCALE = "UPSCALE"
    REFINE = "REFINE"
    FACE_FIX = "FACE_FIX"
    GARMENT_FIX = "GARMENT_FIX"


# The DB columns are 32-bit integers; the caps keep a huge number a 422 rather than a 500.
Dimension = Annotated[int, Field(ge=1, le=65_535)]
Pixels = Annotated[int, Field(ge=1, le=2_147_483_647)]
Name = Annotated[str, Field(min_length=1, max_length=120)]
Icon = Annotated[str, Field(max_length=255)]


class _Body(BaseModel):
    # A misspelt field must be a 422, not an option silently ignored.
    model_config = ConfigDict(extra="forbid")


class GenerationModelCreate(_Body):
    name: Name
    icon: Icon | None = None
    provider: ProviderType
    # Validated per provider type by `shopify_app.providers.config.validate_provider_config`.
    provider_config: dict[str, Any]
    provider_capabilities: list[ProviderCapability] | None = None
    fallback_provider: ProviderType | None = None
    fallback_provider_config: dict[str, Any] | None = None
    fallback_provider_capabilities: list[ProviderCapability] | None = None
    tool_types: list[GenerationTool] = Field(default_factory=list)
    recommended: bool = False
    beta: bool = False
    max_output_width: Dimension | None = None
    max_output_height: Dimension | None = None
    max_size_pixels: Pixels | None = None


class GenerationModelUpdate(_Body):
    """Every field optional; only the fields sent change. For columns that cannot be empty
    (name, provider, tool_types, recommended, beta) an explicit null means "unchanged"."""

    name: Name | None = None
    icon: Icon | None = None
    provider: ProviderType | None = None
    provider_config: dict[str, Any] | None = None
    provider_capabilities: list[ProviderCapability] | None = None
    fallback_provider: ProviderType | None = None
    fallback_provider_config: dict[str, Any] | None = None
    fallback_provider_capabilities: list[ProviderCapability] | None = None
    tool_types: list[GenerationTool] | None = None
    recommended: bool | None = None
    beta: bool | None = None
    max_output_width: Dimension | None = None
    max_output_height: Dimension | None = None
    max_size_pixels: Pixels | None = None


class GenerationModelPublic(BaseModel):
    id: uuid.UUID
    name: str
    icon: str | None
    provider: str
    provider_config: dict[str, Any] | None
    provider_capabilities: list[str] | None
    fallback_provider: str | None = None
    fallback_provider_config: dict[str, Any] | None = None
    fallback_provider_capabilities: list[str] | None = None
    tool_types: list[str]
    recommended: bool
    beta: bool
    max_output_width: int | None
    max_output_height: int | None
    max_size_pixels: int | None


class GenerationModelsList(BaseModel):
    data: list[GenerationModelPublic]
    count: int


class Message(BaseModel):
    message: str


class ListParams(BaseModel):
    skip: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)
