"""What the six remote adapters share: credentials from settings, an `UpstreamClient`, image
encoding, and the protocol's defaults (no try-on, no cancel) so each adapter only writes what
its upstream really does."""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

import requests

from shopify_app.providers.base import (
    Capability,
    ConfigurationError,
    GenerationOptions,
    ImageInput,
    ModelSpec,
    OutputImage,
    Submitted,
    TaskState,
    TechnicalError,
    unsupported,
)
from shopify_app.providers.config import ProviderConfig
from shopify_app.providers.http import UpstreamClient
from shopify_app.settings import Settings


class RemoteProvider:
    type: ClassVar[str] = "remote"
    capabilities: frozenset[Capability] = frozenset()
    # How the key is sent: (header name, value prefix).
    auth_header: ClassVar[tuple[str, str]] = ("Authorization", "Bearer ")
    extra_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, config: ProviderConfig, settings: Settings, http: requests.Session | None = None):
        self.config = config
        self.settings = settings
        self._http = http
        self._client: UpstreamClient | None = None

    # ------------------------------------------------------------------ plumbing

    def base_url(self) -> str:
        creds = self.settings.provider_credentials.get(self.type)
        url = creds.base_url if creds else ""
        if not url:
            raise ConfigurationError(
                f"PROVIDER_{self.type.upper()}_BASE_URL is not set",
                code="missing_base_url",
                provider=self.type,
            )
        return url

    def api_key(self) -> str:
        creds = self.settings.provider_credentials.get(self.type)
        if not creds or not creds.api_key:
            raise ConfigurationError(
                f"PROVIDER_{self.type.upper()}_KEY is not set",
                code="missing_api_key",
                provider=self.type,
            )
        return creds.api_key

    @property
    def client(self) -> UpstreamClient:
        if self._client is None:
            name, prefix = self.auth_header
            self._client = UpstreamClient(
                provider=self.type,
                base_url=self.base_url(),
                headers={name: f"{prefix}{self.api_key()}", **self.extra_headers},
                timeout=self.settings.provider_timeout_seconds,
                session=self._http,
            )
        return self._client

    def exchanges(self) -> list[dict[str, Any]]:
        """What was sent and received so far, redacted (for ProviderTask summaries)."""
        return self._client.summary() if self._client else []

    def submitted(self, upstream_id: str, state: dict[str, Any], next_poll_in: float) -> Submitted:
        return Submitted(
            upstream_id=str(upstream_id),
            state=state,
            next_poll_in=next_poll_in,
            request_summary={"calls": self.exchanges()},
        )

    # ------------------------------------------------------------------ protocol defaults

    def submit_model_generation(self, spec: ModelSpec, options: GenerationOptions) -> Submitted:
        raise unsupported(self.type, "generate catalog models")

    def submit_try_on(
        self, person_image: ImageInput, garment_image: ImageInput, options: GenerationOptions
    ) -> Submitted:
        raise unsupported(self.type, "run try-ons")

    def cancel(self, task: TaskState) -> None:
        return None


def image_reference(image: ImageInput) -> str:
    """A URL, or the bytes as a data URI (for APIs that take either)."""
    if image.url is not None:
        return image.url
    assert image.data is not None
    return f"data:{image.content_type};base64,{base64.b64encode(image.data).decode()}"


def require_bytes(provider: str, image: ImageInput) -> bytes:
    if image.data is None:
        raise ConfigurationError(
            f"the {provider} provider uploads image bytes; pass the image's bytes, not a URL",
            code="image_bytes_required",
            provider=provider,
        )
    return image.data


def output_from_string(provider: str, value: Any) -> OutputImage:
    """An output given as a URL, a data URI or bare base64."""
    if not isinstance(value, str) or not value:
        raise TechnicalError(f"{provider} returned an empty output", code="malformed_response", provider=provider)
    if value.startswith(("https://", "http://")):
        return OutputImage(url=value)
    content_type = None
    payload = value
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        content_type = header[5:].split(";")[0] or None
    try:
        return OutputImage(data=base64.b64decode(payload, validate=True), content_type=content_type)
    except (binascii.Error, ValueError):
        raise TechnicalError(
            f"{provider} returned an output that is neither a URL nor base64",
            code="malformed_response",
            provider=provider,
        ) from None


def clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))
