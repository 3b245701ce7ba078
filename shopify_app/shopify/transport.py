"""HTTP clients for talking to one shop, with timeouts, and the dev shop wired in-process.

Every outbound call to a shop (Admin GraphQL, token exchange and refresh, staged uploads) goes
through `requests_session_for` or `httpx_client_for`. When the dev shop is enabled (development
and test configurations only) and the shop is the dev shop's domain, the client dispatches
requests to the dev shop's WSGI app inside this process: no socket, no DNS, so it works the same
under `make run` (web and worker processes share the dev shop's state on disk) and in tests
(where the network guard forbids outbound connections). A production configuration never routes
there: `_routes_to_dev_shop` is False whenever `settings.is_production`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import requests
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from werkzeug.test import EnvironBuilder, run_wsgi_app

from shopify_app.settings import Settings

# (connect, read) seconds. Shopify answers GraphQL in well under a second; uploads of a few MB to
# a staged target can take longer, hence the generous read timeout.
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0

WsgiApp = Callable[..., Iterable[bytes]]


def _current_settings() -> Settings:
    from flask import current_app

    return current_app.config["STUDIO_SETTINGS"]


def _routes_to_dev_shop(settings: Settings, shop_domain: str) -> bool:
    return (
        settings.dev_shop
        and not settings.is_production
        and shop_domain.strip().lower() == settings.dev_shop_domain.lower()
    )


def _dev_shop_app(settings: Settings) -> WsgiApp:
    # Imported lazily: production code paths never load the dev shop at all.
    from shopify_app.devshop.server import wsgi_app_for

    return wsgi_app_for(settings)


def routes_to_dev_shop(shop_domain: str, settings: Settings | None = None) -> bool:
    """True when calls for `shop_domain` are answered by the in-process dev shop."""
    return _routes_to_dev_shop(settings or _current_settings(), shop_domain)


class _TimeoutHTTPAdapter(HTTPAdapter):
    """requests has no session-wide timeout; this adapter supplies one when a call gives none."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (CONNECT_TIMEOUT, READ_TIMEOUT)
        return super().send(request, **kwargs)


class WSGIAdapter(BaseAdapter):
    """A requests transport adapter that calls a WSGI app instead of opening a connection."""

    def __init__(self, app: WsgiApp):
        super().__init__()
        self.app = app

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        parts = urlsplit(request.url or "")
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        elif body is not None and not isinstance(body, bytes):
            body = b"".join(body)  # type: ignore[arg-type]
        builder = EnvironBuilder(
            path=parts.path or "/",
            query_string=parts.query,
            method=request.method or "GET",
            headers=list(request.headers.items()),
            data=body or b"",
            base_url=f"{parts.scheme}://{parts.netloc}",
        )
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        try:
            content = b"".join(app_iter)
        finally:
            close = getattr(app_iter, "close", None)
            if close is not None:
                close()

        response = requests.Response()
        response.status_code = int(status.split(" ", 1)[0])
        response.reason = status.split(" ", 1)[1] if " " in status else ""
        response.headers = CaseInsensitiveDict(dict(headers.items()))
        response.raw = io.BytesIO(content)
        response._content = content  # noqa: SLF001 - requests' own way to pre-load a body
        response.url = request.url or ""
        response.request = request
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        return response

    def close(self) -> None:
        pass


class _ShopSession(requests.Session):
    """`requests.Session` that reads proxy and CA settings from the environment once per origin.

    requests looks them up on every request (`merge_environment_settings`: it walks the whole of
    `os.environ` for proxy variables, twice) — measured as the largest single piece of a media
    step's own CPU, several ms per Admin call. A session lives for one step and talks to one
    shop, its staged-upload host, and nothing else, so the answer per origin does not change
    within it; `no_proxy` is still applied per host."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[Any, dict[str, Any]] = {}

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        parts = urlsplit(str(url))
        try:
            key = (parts.scheme, parts.netloc, tuple(sorted((proxies or {}).items())), stream, verify,
                   tuple(cert) if isinstance(cert, list) else cert)
            hash(key)
        except TypeError:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings.get("proxies") or {})}


def requests_session_for(shop_domain: str, settings: Settings | None = None) -> requests.Session:
    """A `requests.Session` for calls to `shop_domain`, with default timeouts.

    Dev shop domain + dev shop enabled: `https://{domain}/…` is served in-process."""
    settings = settings or _current_settings()
    session = _ShopSession()
    session.mount("https://", _TimeoutHTTPAdapter(max_retries=0))
    session.mount("http://", _TimeoutHTTPAdapter(max_retries=0))
    if _routes_to_dev_shop(settings, shop_domain):
        session.mount(f"https://{settings.dev_shop_domain.lower()}/", WSGIAdapter(_dev_shop_app(settings)))
    return session


class _DevShopRouter(httpx.BaseTransport):
    """Sends requests for the dev shop's origin to its WSGI app, everything else to `fallback`."""

    def __init__(self, origin: str, app: WsgiApp, fallback: httpx.BaseTransport):
        self.origin = origin
        self.wsgi = httpx.WSGITransport(app=app)
        self.fallback = fallback

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme == "https" and url.host == self.origin:
            return self.wsgi.handle_request(request)
        return self.fallback.handle_request(request)

    def close(self) -> None:
        self.wsgi.close()
        self.fallback.close()


def httpx_client_for(shop_domain: str, settings: Settings | None = None,
                     headers: Mapping[str, str] | None = None) -> httpx.Client:
    """An `httpx.Client` for calls to `shop_domain` (Shopify's token exchange and refresh take
    one as `http_client`). Dev shop domain + dev shop enabled: served in-process."""
    settings = settings or _current_settings()
    timeout = httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT)
    if _routes_to_dev_shop(settings, shop_domain):
        transport: httpx.BaseTransport = _DevShopRouter(
            settings.dev_shop_domain.lower(), _dev_shop_app(settings), httpx.HTTPTransport()
        )
        return httpx.Client(transport=transport, timeout=timeout, headers=dict(headers or {}))
    return httpx.Client(timeout=timeout, headers=dict(headers or {}))
