"""Authentication of embedded requests: `@embedded_page` for documents, `@session_token_required`
for JSON calls.

Both verify Shopify's session token (through `sdk.verify_app_home`: HS256 only, `aud` = client
id, 10 s leeway, `iss`/`dest` the same valid shop, the shop taken from `dest`), make sure the
shop is installed with a usable offline token (the first request of a shop exchanges the token:
Shopify-managed install), then set `g.shop` (the Shop row) and bind the shop to the logs.

- Document requests carry `?id_token=`; when it is missing or stale they are redirected to the
  patch-ID-token ("bounce") page, where App Bridge fetches a fresh token and reloads. In dev mode
  (dev shop on, never in production) a document request for the dev shop without a token gets
  one minted for the dev shop, verified by the same path.
- JSON requests carry `Authorization: Bearer <token>`; when it is missing or invalid they get
  401 with `X-Shopify-Retry-Invalid-Session-Request: 1`, and App Bridge retries once with a
  fresh token.
- Every document response carries `Content-Security-Policy: frame-ancestors https://{shop}
  https://admin.shopify.com` (the shop validated, never copied from the query).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, current_app, g, jsonify, make_response, request

from shopify_app import db
from shopify_app.models import Shop
from shopify_app.requestctx import bind_shop
from shopify_app.settings import Settings
from shopify_app.shopify import sdk, tokens
from shopify_app.shopify.session_tokens import mint_session_token

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

PATCH_ID_TOKEN_PATH = "/auth/patch-id-token"
RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request"


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]


def dev_mode(settings: Settings) -> bool:
    return settings.dev_shop and not settings.is_production


def _public_url() -> str:
    """The request URL on the app's configured origin (never the client-supplied Host header,
    which would otherwise end up in the bounce redirect)."""
    return _settings().app_url + request.full_path.rstrip("?")


class _Refusal(Exception):
    def __init__(self, response: Response):
        self.response = response


def _unauthorized_json(reason: str) -> Response:
    response = jsonify({"detail": "Invalid or expired session token", "reason": reason})
    response.status_code = 401
    response.headers[RETRY_HEADER] = "1"
    return response


def _document_error(status: int, message: str, shop: str | None) -> Response:
    response = make_response(
        f"<!doctype html><meta charset=utf-8><title>Catalog Studio</title><p>{message}</p>", status
    )
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = sdk.frame_ancestors(shop)
    return response


def _installed_shop(verdict: sdk.Verdict, *, document: bool) -> Shop:
    """The verified shop's row; token exchange when it has no usable token (install, re-install)."""
    assert verdict.shop is not None and verdict.id_token is not None and verdict.claims is not None
    session = db.session()
    shop = tokens.shop_by_domain(session, verdict.shop)
    if shop is not None and tokens.has_usable_token(shop):
        return shop
    try:
        return tokens.install_from_session_token(session, verdict.shop, verdict.id_token,
                                                 dict(verdict.claims))
    except sdk.TokenRequestError as exc:
        log.warning("token exchange failed for %s: %s", verdict.shop, exc.code)
        uninstalled = shop is not None and shop.uninstalled_at is not None
        if uninstalled or exc.code not in ("invalid_subject_token", "invalid_id_token"):
            if exc.status in (0, 429) or exc.status >= 500:
                status, message = 503, "Shopify could not be reached; try again in a moment."
            else:
                status, message = 403, "Catalog Studio is not installed on this shop."
            if document:
                raise _Refusal(_document_error(status, message, verdict.shop)) from exc
            response = jsonify({"detail": message})
            response.status_code = status
            raise _Refusal(response) from exc
        # A stale subject token: a fresh one from App Bridge will do.
        if document:
            raise _Refusal(_bounce_response()) from exc
        raise _Refusal(_unauthorized_json(exc.code)) from exc


def _bounce_response() -> Response:
    url = _public_url()
    verdict = sdk.verify_app_home(_settings(), "GET", _without_param(url, "id_token"), {},
                                  PATCH_ID_TOKEN_PATH)
    response = make_response("", 302)
    response.headers.update(verdict.headers)
    return response


def _without_param(url: str, name: str) -> str:
    from urllib.parse import parse_qsl, urlsplit, urlunsplit

    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != name]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _authenticate_document() -> Shop:
    settings = _settings()
    url = _public_url()
    if dev_mode(settings) and not request.args.get("id_token"):
        requested = request.args.get("shop")
        if requested is None or sdk.sanitize_shop(requested) == settings.dev_shop_domain:
            # Dev mode: play Shopify's part for the dev shop, then verify as usual.
            separator = "&" if "?" in url else "?"
            url += separator + urlencode({"id_token": mint_session_token(settings, settings.dev_shop_domain)})
    verdict = sdk.verify_app_home(settings, "GET", url, {}, PATCH_ID_TOKEN_PATH)
    if not verdict.ok:
        log.info("embedded document refused: %s", verdict.reason)
        if verdict.status == 302:
            response = make_response("", 302)
            response.headers.update(verdict.headers)
            raise _Refusal(response)
        raise _Refusal(_document_error(verdict.status if verdict.status < 500 else 400,
                                       "This page must be opened from the Shopify admin.", None))
    shop = _installed_shop(verdict, document=True)
    g.session_token_claims = verdict.claims
    g.document_headers = verdict.headers
    if dev_mode(settings) and verdict.shop == settings.dev_shop_domain:
        g.dev_session_token = mint_session_token(settings, settings.dev_shop_domain)
    return shop


def _authenticate_fetch() -> Shop:
    settings = _settings()
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or len(header) <= len("Bearer "):
        raise _Refusal(_unauthorized_json("missing_bearer_token"))
    verdict = sdk.verify_app_home(settings, request.method, _public_url(),
                                  {"Authorization": header}, PATCH_ID_TOKEN_PATH)
    if not verdict.ok:
        log.info("session token refused: %s", verdict.reason)
        raise _Refusal(_unauthorized_json(verdict.reason))
    shop = _installed_shop(verdict, document=False)
    g.session_token_claims = verdict.claims
    return shop


def _bind(shop: Shop) -> None:
    g.shop = shop
    bind_shop(shop.domain)


def embedded_page(view: Callable[P, R]) -> Callable[P, Response]:
    """For HTML pages inside the Shopify admin: verify `?id_token` or bounce, set `g.shop`,
    and stamp the frame-ancestors CSP (and App Bridge preload Link) on the response.

    In dev mode, `g.dev_session_token` holds a token for the dev shop the page's JavaScript can
    send as `Authorization: Bearer …` (refresh it from `GET /app/api/dev/session-token`)."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        g.embedded_document = True
        try:
            shop = _authenticate_document()
        except _Refusal as refusal:
            return refusal.response
        _bind(shop)
        response = make_response(view(*args, **kwargs))
        for key, value in g.get("document_headers", {}).items():
            response.headers.setdefault(key, value)
        response.headers["Content-Security-Policy"] = sdk.frame_ancestors(shop.domain)
        return response

    return wrapper


def session_token_required(view: Callable[P, R]) -> Callable[P, Response]:
    """For JSON endpoints called by the embedded UI: verify `Authorization: Bearer <session
    token>` (401 + `X-Shopify-Retry-Invalid-Session-Request: 1` when invalid), set `g.shop`."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            shop = _authenticate_fetch()
        except _Refusal as refusal:
            return refusal.response
        _bind(shop)
        return make_response(view(*args, **kwargs))

    return wrapper


def current_shop() -> Shop:
    """The shop authenticated by `@embedded_page` / `@session_token_required`."""
    shop = g.get("shop")
    if shop is None:
        raise RuntimeError("current_shop() outside an authenticated embedded request")
    return shop


def init_app(app: Flask) -> None:
    @app.after_request
    def _frame_ancestors(response: Response) -> Response:
        # Error pages raised inside an embedded page (abort(404) …) are documents too.
        if g.get("embedded_document") and "Content-Security-Policy" not in response.headers:
            shop: Any = g.get("shop")
            response.headers["Content-Security-Policy"] = sdk.frame_ancestors(
                shop.domain if shop is not None else None
            )
        return response


__all__ = [
    "PATCH_ID_TOKEN_PATH", "RETRY_HEADER", "current_shop", "dev_mode", "embedded_page",
    "init_app", "session_token_required",
]
