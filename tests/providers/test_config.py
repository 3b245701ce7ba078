from __future__ import annotations

import pytest
from pydantic import ValidationError

from shopify_app.providers import PROVIDER_TYPES, get_provider
from shopify_app.providers.base import ErrorKind, ImageInput, ProviderError
from shopify_app.providers.config import (
    CustomModelsConfig,
    FalStandardConfig,
    FashnConfig,
    validate_provider_config,
)
from shopify_app.providers.http import summarize
from shopify_app.settings import Settings, SettingsError


def test_every_type_validates_its_defaults() -> None:
    minimal = {"studio": {"base_url": "https://remote.test"}, "fal_standard": {"fal_app_id": "fal-ai/kling/v1-5/kolors-virtual-try-on"}}
    for provider_type in PROVIDER_TYPES:
        validate_provider_config(provider_type, minimal.get(provider_type))


def test_seed_002_fal_standard_config() -> None:
    config = validate_provider_config(
        "fal_standard",
        {"fal_app_id": "fal-ai/fashn/tryon/v1.6", "provider_type": "fal_standard",
         "additional_static_params": {"mode": "quality"}, "fal_request_id": None},
    )
    assert isinstance(config, FalStandardConfig)
    assert config.additional_static_params == {"mode": "quality"}


@pytest.mark.parametrize(
    ("provider_type", "config", "loc"),
    [
        ("fal_standard", None, ("fal_app_id",)),
        ("fal_standard", {"fal_app_id": "no-slash"}, ("fal_app_id",)),
        ("fal_standard", {"fal_app_id": "../../etc/passwd"}, ("fal_app_id",)),
        ("fashn", {"mode": "ludicrous"}, ("mode",)),
        ("fashn", {"provider_type": "fal_standard"}, ("provider_type",)),
        ("custom_models", {"training_strength": 11}, ("training_strength",)),
        ("custom_models", {"training_speed": "slow"}, ("training_speed",)),
        ("photogpt", {"poll_interval_seconds": 5}, ("poll_interval_seconds",)),
        ("generation_tools", {"unknown_option": 1}, ("unknown_option",)),
        ("studio", {"base_url": "ftp://x"}, ("base_url",)),
    ],
)
def test_bad_configs_are_validation_errors(provider_type: str, config: dict | None, loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        validate_provider_config(provider_type, config)
    assert info.value.errors()[0]["loc"] == loc


def test_unknown_provider_type_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        validate_provider_config("midjourney", {})


def test_defaults_follow_the_references() -> None:
    assert FashnConfig().model_name == "tryon-v1.6"
    assert CustomModelsConfig().training_speed == "high_quality"
    assert validate_provider_config("photogpt", {}).poll_interval_seconds == 300  # type: ignore[attr-defined]


def test_get_provider_turns_a_bad_stored_config_into_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ProviderError) as info:
        get_provider("fal_standard", {"fal_app_id": 3}, settings)
    assert info.value.kind is ErrorKind.CONFIGURATION
    with pytest.raises(ProviderError) as info:
        get_provider("nope", {}, settings)
    assert info.value.code == "unknown_provider"


def test_credentials_come_from_the_environment(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"STUDIO_INSTANCE_PATH": str(tmp_path)}
    settings = Settings.from_env({**base, "PROVIDER_FASHN_KEY": "k" * 20, "PROVIDER_GENERATION_TOOLS_BASE_URL": "https://gt.test/"})
    assert settings.provider_credentials["fashn"].api_key == "k" * 20
    assert settings.provider_credentials["fashn"].base_url == "https://api.fashn.ai/v1"
    assert settings.provider_credentials["generation_tools"].base_url == "https://gt.test"
    assert "k" * 20 not in repr(settings)
    with pytest.raises(SettingsError, match="PROVIDER_PHOTOGPT_BASE_URL"):
        Settings.from_env({**base, "PROVIDER_PHOTOGPT_BASE_URL": "http://10.0.0.1"})


def test_summaries_hide_secrets_signed_urls_and_bytes() -> None:
    summary = summarize({
        "api_key": "sk-123", "Authorization": "Bearer abc",
        "output": ["https://cdn.test/a.png?X-Amz-Signature=deadbeef"],
        "image": "data:image/png;base64," + "A" * 5000,
        "raw": b"\x89PNG" * 10,
        "nested": {"refresh_token": "x"},
    })
    assert summary["api_key"] == "[REDACTED]" and summary["Authorization"] == "[REDACTED]"
    assert summary["output"] == ["https://cdn.test/a.png"]
    assert summary["image"].startswith("<data url")
    assert summary["raw"] == "<40 bytes>"
    assert summary["nested"]["refresh_token"] == "[REDACTED]"


def test_image_input_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError):
        ImageInput()
    with pytest.raises(ValueError):
        ImageInput(data=b"x", url="https://x.test/a.png")
    assert "bytes" in repr(ImageInput(data=b"abc"))
