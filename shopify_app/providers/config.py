"""`provider_config` models, one per provider type, and the validator the registry API uses.

A `GenerationModel` row stores `provider_config` / `fallback_provider_config` as JSON; these
models say what each provider type accepts. Unknown keys are refused (a typo in a support form
must be a 422, not a silently ignored option). Credentials are NOT here: they come from the
environment (`Settings.provider_credentials`, `PROVIDER_<TYPE>_KEY`), so the registry holds
nothing secret.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationInfo, field_validator


class ProviderType(enum.StrEnum):
    LOCAL = "local"
    STUDIO = "studio"
    CUSTOM_MODELS = "custom_models"
    GENERATION_TOOLS = "generation_tools"
    PHOTOGPT = "photogpt"
    FAL_STANDARD = "fal_standard"
    FASHN = "fashn"


PROVIDER_TYPES: tuple[str, ...] = tuple(t.value for t in ProviderType)


class ProviderConfig(BaseModel):
    """Fields every config shares (seed 002: `provider_type`, `additional_properties`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider_type: str | None = None
    # Free-form extras passed through to the upstream request where the adapter supports it.
    additional_properties: dict[str, Any] | None = None

    @field_validator("provider_type")
    @classmethod
    def _same_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        expected = (info.context or {}).get("provider_type")
        if value is not None and expected is not None and value != expected:
            raise ValueError(f"must be {expected!r} (or omitted) for a {expected} provider")
        return value


class LocalConfig(ProviderConfig):
    """The built-in Pillow preview renderer."""

    # Benchmarks: skip the simulated render time entirely.
    null_latency: bool = False


def _https_base_url(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().rstrip("/")
    if not value.startswith("https://") or len(value) <= len("https://"):
        raise ValueError("must be an https:// URL")
    return value


class StudioConfig(ProviderConfig):
    """A remote Catalog Studio reached through its `/v1` API (seed 000)."""

    base_url: str = Field(description="https URL of the remote studio, without /v1")
    image_model: str | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    eval_enabled: bool | None = None
    on_technical_failure: Literal["fallback", "retry", "fail"] | None = None
    pilot_brand: str | None = None
    poll_interval_seconds: float = Field(default=5.0, ge=1, le=600)

    _check_url = field_validator("base_url")(_https_base_url)


class CustomModelsConfig(ProviderConfig):
    """Seed 001: a trained custom model (identity or brand style) used by trigger word."""

    # A model trained beforehand (brand style): used as an extra scaleConfigs entry.
    model_id: str | None = None
    training_id: str | None = None
    trigger_word: str | None = None
    style_scale: float = Field(default=0.6, ge=0, le=2)
    identity_scale: float = Field(default=0.8, ge=0, le=2)
    training_strength: int = Field(default=7, ge=0, le=10)
    training_speed: Literal["fast", "high_quality"] = "high_quality"
    min_training_images: int = Field(default=1, ge=1, le=100)
    guidance_scale: float = Field(default=7.5, ge=0, le=10)
    num_inference_steps: int = Field(default=28, ge=1, le=50)
    output_format: Literal["jpeg", "png"] = "png"
    prompt_template: str = (
        "Studio catalog photo of {trigger} as {description}, full body, plain light grey background"
    )
    training_poll_seconds: float = Field(default=60.0, ge=5, le=1800)
    prediction_poll_seconds: float = Field(default=3.0, ge=1, le=600)


class GenerationToolsConfig(ProviderConfig):
    """Seed 003: tool-based generation; try-on through `fashion_swap` (clothes + person)."""

    tool: str = "fashion_swap"
    generation_type: str | None = None
    tools_cache_seconds: int = Field(default=3600, ge=10, le=7 * 24 * 3600)
    # Poll backoff: 2 s, 4 s, 8 s… capped.
    poll_initial_seconds: float = Field(default=2.0, ge=0.5, le=60)
    poll_max_seconds: float = Field(default=60.0, ge=1, le=900)
    output: Literal["stock", "preview"] = "stock"


class PhotoGPTConfig(ProviderConfig):
    """Seed 004: create a model from the spec, upload inputs, train, poll ~5 min, generate."""

    poll_interval_seconds: float = Field(default=300.0, ge=60, le=3600)
    generation_poll_seconds: float = Field(default=10.0, ge=1, le=600)
    # Training normally takes 20–25 minutes; past this it is taken as failed.
    training_timeout_seconds: float = Field(default=3600.0, ge=600, le=6 * 3600)
    eye_color: str | None = None
    # PhotoGPT trains on 12 to 20 modelInput images.
    min_input_images: int = Field(default=12, ge=1, le=20)
    prompt_template: str = "Studio catalog photo, full body, plain light grey background, {description}"


class FalStandardConfig(ProviderConfig):
    """Seed 002's FalStandardConfig: a fal.ai queue app (`owner/app[/path]`)."""

    fal_app_id: str = Field(min_length=3, description="FAL application ID, e.g. fal-ai/fashn/tryon/v1.6")
    fal_request_id: str | None = None
    additional_static_params: dict[str, Any] | None = None
    # Input names of the app's schema (FASHN on fal: model_image / garment_image; Kling Kolors:
    # human_image_url / garment_image_url).
    person_image_field: str = "model_image"
    garment_image_field: str = "garment_image"
    prompt_field: str = "prompt"
    poll_interval_seconds: float = Field(default=2.0, ge=0.5, le=600)

    @field_validator("fal_app_id")
    @classmethod
    def _app_path(cls, value: str) -> str:
        value = value.strip().strip("/")
        parts = value.split("/")
        if len(parts) < 2 or not all(p and p.replace("-", "").replace("_", "").replace(".", "").isalnum() for p in parts):
            raise ValueError("must look like 'owner/app' (e.g. fal-ai/fashn/tryon/v1.6)")
        return value


class FashnConfig(ProviderConfig):
    """FASHN `/v1/run`: `tryon-v1.6` for try-on, `model-create` for catalog-model portraits."""

    model_name: str = "tryon-v1.6"
    model_create_name: str = "model-create"
    mode: Literal["performance", "balanced", "quality"] = "balanced"
    category: Literal["auto", "tops", "bottoms", "one-pieces"] = "auto"
    garment_photo_type: Literal["auto", "flat-lay", "model"] = "auto"
    moderation_level: Literal["conservative", "permissive", "none"] = "permissive"
    segmentation_free: bool = True
    output_format: Literal["png", "jpeg"] = "png"
    # model-create: a reference face keeps one identity across a catalog without training.
    face_reference_mode: Literal["match_base", "match_reference"] | None = None
    poll_interval_seconds: float = Field(default=2.0, ge=0.5, le=60)


CONFIG_MODELS: dict[ProviderType, type[ProviderConfig]] = {
    ProviderType.LOCAL: LocalConfig,
    ProviderType.STUDIO: StudioConfig,
    ProviderType.CUSTOM_MODELS: CustomModelsConfig,
    ProviderType.GENERATION_TOOLS: GenerationToolsConfig,
    ProviderType.PHOTOGPT: PhotoGPTConfig,
    ProviderType.FAL_STANDARD: FalStandardConfig,
    ProviderType.FASHN: FashnConfig,
}

_provider_type_adapter = TypeAdapter(ProviderType)


def validate_provider_config(provider_type: str, config: dict[str, Any] | None) -> ProviderConfig:
    """The typed config for `provider_type`; raises pydantic `ValidationError` (unknown type
    included) so the registry API can answer seed 002's 422 shape directly."""
    kind = _provider_type_adapter.validate_python(provider_type)
    model = CONFIG_MODELS[kind]
    return model.model_validate(config or {}, context={"provider_type": kind.value})
