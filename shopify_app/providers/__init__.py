"""Generation providers: one protocol (`base.Provider`), one module per upstream API.

Use `get_provider(provider_type, config, settings)` to build the adapter a `GenerationModel`
row names; `validate_provider_config` (in `config`) checks a `provider_config` for the registry.
Adapters are found by import path so a module only loads when its provider is used.

Every adapter class is built as `Adapter(config, settings, http=None)`: `config` its typed
`provider_config`, `settings` the app `Settings` (credentials, timeout), `http` an optional
`requests.Session` (tests pass none: the `responses` mock patches requests globally).
"""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel, ValidationError

from shopify_app.providers.base import (
    Capability,
    ConfigurationError,
    ContentError,
    ErrorKind,
    GenerationOptions,
    Identity,
    ImageInput,
    ModelSpec,
    Operation,
    OutputImage,
    PollResult,
    Provider,
    ProviderError,
    QuotaError,
    Submitted,
    TaskState,
    TechnicalError,
)
from shopify_app.providers.config import (
    PROVIDER_TYPES,
    ProviderConfig,
    ProviderType,
    validate_provider_config,
)
from shopify_app.settings import Settings

# provider type -> "module:Class"
ADAPTERS: dict[str, str] = {
    ProviderType.LOCAL: "shopify_app.providers.local:LocalProvider",
    ProviderType.STUDIO: "shopify_app.providers.studio:StudioProvider",
    ProviderType.CUSTOM_MODELS: "shopify_app.providers.custom_models:CustomModelsProvider",
    ProviderType.GENERATION_TOOLS: "shopify_app.providers.generation_tools:GenerationToolsProvider",
    ProviderType.PHOTOGPT: "shopify_app.providers.photogpt:PhotoGPTProvider",
    ProviderType.FAL_STANDARD: "shopify_app.providers.fal_standard:FalStandardProvider",
    ProviderType.FASHN: "shopify_app.providers.fashn:FashnProvider",
}


def adapter_class(provider_type: str) -> type:
    try:
        target = ADAPTERS[provider_type]
    except KeyError:
        raise ConfigurationError(
            f"unknown provider type {provider_type!r}; known: {', '.join(PROVIDER_TYPES)}",
            code="unknown_provider",
            provider=provider_type,
        ) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)  # type: ignore[no-any-return]


def get_provider(
    provider_type: str,
    config: dict[str, Any] | BaseModel | None,
    settings: Settings,
    http: Any = None,
) -> Provider:
    """The adapter for `provider_type`, configured. A bad stored config is a configuration
    error (fail fast, visible to support), never a crash in the middle of a job."""
    cls = adapter_class(provider_type)
    if not isinstance(config, BaseModel):
        try:
            config = validate_provider_config(provider_type, config)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigurationError(
                f"invalid provider_config for {provider_type}: {problems}",
                code="invalid_provider_config",
                provider=provider_type,
            ) from None
    return cls(config, settings, http=http)  # type: ignore[no-any-return]


__all__ = [
    "ADAPTERS", "Capability", "ConfigurationError", "ContentError", "ErrorKind",
    "GenerationOptions", "Identity", "ImageInput", "ModelSpec", "Operation", "OutputImage",
    "PROVIDER_TYPES", "PollResult", "Provider", "ProviderConfig", "ProviderError",
    "ProviderType", "QuotaError", "Submitted", "TaskState", "TechnicalError", "adapter_class",
    "get_provider", "validate_provider_config",
]
