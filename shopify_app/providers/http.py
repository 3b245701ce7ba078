"""The one way adapters talk HTTP: a timeout on every call, errors mapped to the four kinds,
immediate retries only for idempotent calls, and summaries safe to show support.

Retrying here is deliberately shallow (a connection reset or a 502/503/504 on a GET or other
idempotent call, tried again at once, at most `idempotent_retries` times): a worker never sleeps.
Longer waits belong to the runner, which *schedules* the next attempt.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from shopify_app.logs import redact
from shopify_app.providers.base import (
    ConfigurationError,
    ProviderError,
    QuotaError,
    TechnicalError,
)

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUS = frozenset({502, 503, 504})
_SECRET_KEYS = re.compile(r"(?i)(key|token|secret|password|authorization|signature|credential)")
_MAX_TEXT = 300

# Given (status, parsed body or None, text), an adapter may return its own classified error
# (e.g. a 400 whose body says the garment image was unreadable is a content error).
ErrorHook = Callable[[int, Any, str], ProviderError | None]


def scrub_url(url: str) -> str:
    """The URL without query string or fragment (signed URLs carry credentials there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "[unparseable url]"
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def summarize(value: Any, depth: int = 0) -> Any:
    """A copy of a request/response body safe to store and show: secrets masked, URLs without
    their query, long strings (base64 images…) cut, bytes reduced to their length."""
    if depth > 6:
        return "…"
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in list(value.items())[:50]:
            key = str(k)
            out[key] = "[REDACTED]" if _SECRET_KEYS.search(key) else summarize(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [summarize(v, depth + 1) for v in list(value)[:20]]
        if len(value) > 20:
            items.append(f"… {len(value) - 20} more")
        return items
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        text = value
        if text.startswith(("http://", "https://")):
            text = scrub_url(text)
        elif text.startswith("data:"):
            return f"<data url, {len(text)} chars>"
        text = redact(text)
        return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"
    return value


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from APIs; the runner's own backoff applies


def _upstream_message(body: Any, text: str) -> str:
    """The upstream's own words about an error, short and redacted."""
    message: Any = None
    if isinstance(body, Mapping):
        for key in ("message", "detail", "error", "err", "msg"):
            if body.get(key):
                message = body[key]
                break
    if isinstance(message, Mapping):
        message = message.get("message") or message.get("msg") or json.dumps(message)[:_MAX_TEXT]
    if isinstance(message, list) and message:
        first = message[0]
        message = first.get("msg") if isinstance(first, Mapping) else str(first)
    if message is None:
        message = text
    return redact(str(message))[:_MAX_TEXT].strip()


@dataclass
class Exchange:
    """One call as support sees it."""

    method: str
    url: str
    status: int | None = None
    elapsed_ms: int | None = None
    request: Any = None
    response: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "url": scrub_url(self.url),
            "status": self.status,
            "elapsed_ms": self.elapsed_ms,
            "request": self.request,
            "response": self.response,
        }


@dataclass
class UpstreamClient:
    """requests with a base URL, auth headers, a timeout, and error classification."""

    provider: str
    base_url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 30.0
    idempotent_retries: int = 1
    session: requests.Session | None = None
    exchanges: list[Exchange] = field(default_factory=list)
    last_headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        # Keys must never reach a log line, even inside an exception message.
        redact.add_secrets(v.split(" ", 1)[-1] for v in self.headers.values())

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def same_origin(self, url: str) -> bool:
        """Credentials only go to the configured host (an upstream-supplied URL could point
        anywhere)."""
        a, b = urlsplit(self.base_url), urlsplit(url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        raw: bytes | None = None,
        content_type: str | None = None,
        on_error: ErrorHook | None = None,
        not_found: type[ProviderError] = ConfigurationError,
        expect_json: bool = True,
        summary: Any = None,
    ) -> Any:
        """Send one call; the parsed JSON body (or the Response when `expect_json` is False).

        Raises a classified ProviderError for transport errors, HTTP errors, and bodies that
        are not the JSON promised.
        """
        method = method.upper()
        url = self.url(path)
        if not self.same_origin(url):
            raise ConfigurationError(
                f"refusing to send credentials to {scrub_url(url)} (not {self.base_url})",
                code="foreign_url",
                provider=self.provider,
            )
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        attempts = 1 + (self.idempotent_retries if method in IDEMPOTENT_METHODS else 0)
        exchange = Exchange(method, url, request=summary if summary is not None else summarize(json_body))
        self.exchanges.append(exchange)
        http = self.session or requests
        response: requests.Response | None = None
        for attempt in range(1, attempts + 1):
            try:
                response = http.request(
                    method,
                    url,
                    json=json_body,
                    params=params,
                    data=raw if raw is not None else data,
                    files=files,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.Timeout:
                if attempt < attempts:
                    continue
                raise TechnicalError(
                    f"{self.provider} did not answer within {self.timeout:g} s ({method} {scrub_url(url)})",
                    code="timeout",
                    provider=self.provider,
                ) from None
            except requests.RequestException as exc:
                if attempt < attempts:
                    continue
                raise TechnicalError(
                    f"could not reach {self.provider}: {type(exc).__name__}",
                    code="connection_error",
                    provider=self.provider,
                ) from None
            if response.status_code in RETRYABLE_STATUS and attempt < attempts:
                continue
            break
        assert response is not None
        self.last_headers = response.headers
        exchange.status = response.status_code
        exchange.elapsed_ms = int(response.elapsed.total_seconds() * 1000) if response.elapsed else None

        text = response.text if response.content else ""
        body: Any = None
        parse_error = False
        if text:
            try:
                body = response.json()
            except ValueError:
                parse_error = True
        exchange.response = summarize(body) if body is not None else summarize(text[:_MAX_TEXT])

        if response.status_code >= 400:
            raise self._classify(response, body, text, on_error, not_found)
        if not expect_json:
            return response
        if parse_error or (body is None and response.status_code != 204):
            raise TechnicalError(
                f"{self.provider} answered {response.status_code} with a body that is not JSON",
                code="malformed_response",
                status_code=response.status_code,
                provider=self.provider,
            )
        return body

    def _classify(
        self,
        response: requests.Response,
        body: Any,
        text: str,
        on_error: ErrorHook | None,
        not_found: type[ProviderError],
    ) -> ProviderError:
        status = response.status_code
        if on_error is not None:
            custom = on_error(status, body, text)
            if custom is not None:
                custom.status_code = custom.status_code or status
                custom.provider = custom.provider or self.provider
                return custom
        detail = _upstream_message(body, text)
        suffix = f": {detail}" if detail else ""
        kw: dict[str, Any] = {"status_code": status, "provider": self.provider, "code": f"http_{status}"}
        if status in (401, 403):
            return ConfigurationError(
                f"{self.provider} rejected our credentials ({status}); check PROVIDER_"
                f"{self.provider.upper()}_KEY{suffix}",
                **kw,
            )
        if status == 404:
            return not_found(f"{self.provider} has no such resource (404){suffix}", **kw)
        if status == 402:
            return QuotaError(f"{self.provider} account is out of credits (402){suffix}", **kw)
        if status == 429:
            return QuotaError(
                f"{self.provider} is rate limiting us (429){suffix}",
                retry_after=_retry_after(response),
                **kw,
            )
        if status in (408,) or status >= 500:
            return TechnicalError(f"{self.provider} failed with {status}{suffix}", **kw)
        # Other 4xx: our request was not accepted; a bug or a bad configuration.
        return ConfigurationError(f"{self.provider} refused the request ({status}){suffix}", **kw)

    def summary(self) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.exchanges]


def require(body: Any, *path: str | int, provider: str) -> Any:
    """`body[path…]`, or a technical `malformed_response` error naming what was missing."""
    value = body
    for key in path:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            value = None
        if value is None:
            where = ".".join(str(p) for p in path)
            raise TechnicalError(
                f"{provider} answered without `{where}`",
                code="malformed_response",
                provider=provider,
            )
    return value
