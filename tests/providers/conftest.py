"""Provider test fixtures: settings with provider credentials, JSON fixtures, images."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from shopify_app.providers import get_provider
from shopify_app.providers.base import GenerationOptions, ImageInput, ModelSpec, Provider
from shopify_app.providers.generation_tools import tool_cache
from shopify_app.settings import Settings
from tests.conftest import settings_environ

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "providers"

KEYS = {
    "studio": "studio-test-key-0123456789",
    "custom_models": "cm-test-key-0123456789",
    "generation_tools": "gt-test-key-0123456789",
    "photogpt": "pg-test-key-0123456789",
    "fal_standard": "fal-test-key-0123456789",
    "fashn": "fashn-test-key-0123456789",
}
CUSTOM_MODELS_URL = "https://api.custom-models.test/v1"
GENERATION_TOOLS_URL = "https://api.gen-tools.test"
PHOTOGPT_URL = "https://developer.photogptai.com/api"
FAL_URL = "https://queue.fal.run"
FASHN_URL = "https://api.fashn.ai/v1"
STUDIO_URL = "https://remote-studio.test"

CONFIGS: dict[str, dict[str, Any]] = {
    "studio": {"base_url": STUDIO_URL},
    "custom_models": {},
    "generation_tools": {},
    "photogpt": {},
    "fal_standard": {"fal_app_id": "fal-ai/fashn/tryon/v1.6"},
    "fashn": {},
}


def provider_environ() -> dict[str, str]:
    env = {f"PROVIDER_{t.upper()}_KEY": key for t, key in KEYS.items()}
    env["PROVIDER_CUSTOM_MODELS_BASE_URL"] = CUSTOM_MODELS_URL
    env["PROVIDER_GENERATION_TOOLS_BASE_URL"] = GENERATION_TOOLS_URL
    return env


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    env = {**settings_environ(tmp_path, database_url, redis_url), **provider_environ()}
    return Settings.from_env(env, provider_timeout_seconds=5.0)


@pytest.fixture(autouse=True)
def _fresh_tool_cache() -> None:
    tool_cache.clear()


def fixture(provider: str, name: str) -> Any:
    return json.loads((FIXTURES / provider / f"{name}.json").read_text())


def make(provider_type: str, settings: Settings, **config: Any) -> Provider:
    return get_provider(provider_type, {**CONFIGS[provider_type], **config}, settings)


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 96)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def person() -> ImageInput:
    return ImageInput(data=png_bytes((180, 160, 150)), content_type="image/png", filename="person")


def garment() -> ImageInput:
    return ImageInput(data=png_bytes((20, 120, 40)), content_type="image/png", filename="garment")


SPEC = ModelSpec(gender="FEMALE", ethnicity="south asian", body_type="athletic", age_range="25-34", display_name="Asha")
OPTIONS = GenerationOptions(width=1024, height=1536, num_images=1, seed=7)
