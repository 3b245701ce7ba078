"""Routes of the auth layer: the legacy authorization-code grant, the bounce page, the session.

`/auth?shop=…` → Shopify's consent screen → `/auth/callback` is the legacy install path (apps
with `use_legacy_install_flow`, or a merchant following an install link). Embedded apps normally
install through Shopify-managed installation and token exchange (see `embedded.py`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import secrets
import time
from typing import Any

import httpx
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    make_response,
    redirect,
    request,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shopify_app import db
from shopify_app.settings import Settings
from shopify_app.shopify import sdk, tokens
from shopify_app.shopify.embedded import PATCH_ID_TOKEN_PATH, dev_mode, session_token_required
from shopify_app.shopify.session_tokens import mint_session_token

log = logging.getLogger(__name__)

bp = Blueprint("shopify_auth", __name__)

STATE_COOKIE = "shopify_app_state"
# Long enough to read Shopify's consent screen; the nonce is single-use (cleared on callback).
STATE_MAX_AGE_SECONDS = 300
# The callback's `timestamp` must be this close to now (the JS library's window); the legacy
# Python library accepts a day, which leaves a signed callback URL replayable for that long.
CALLBACK_TIMESTAMP_WINDOW_SECONDS = 90


def _settings() -> Settings:
    return current_app.config["STUDIO_SETTINGS"]


def _state_serializer(settings: Settings) -> URLSafeTimedSerializer:
    # A salt of its own: this cookie's signature can never be replayed as any other signature.
    return URLSafeTimedSerializer(settings.secret_key, salt="studio.shopify-oauth-state")


def _redirect_uri(settings: Settings) -> str:
    return settings.app_url + "/auth/callback"


@bp.get("/auth")
def begin() -> Response:
    settings = _settings()
    shop = sdk.sanitize_shop(request.args.get("shop"))
    if shop is None:
        abort(400, description="shop must be a valid myshopify.com domain")
    state = secrets.token_hex(32)
    response = redirect(sdk.oauth_permission_url(settings, shop, _redirect_uri(settings), state))
    response.set_cookie(
        STATE_COOKIE,
        _state_serializer(settings).dumps({"state": state, "shop": shop}),
        max_age=STATE_MAX_AGE_SECONDS,
        httponly=True,
        secure=settings.app_url.startswith("https://"),
        samesite="Lax",
        path="/auth",
    )
    return response


def _flat_params() -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        if key.endswith("[]"):
            params[key] = values
        elif len(values) == 1:
            params[key] = values[0]
        else:
            abort(400, description=f"repeated query parameter {key}")
    return params


def _granted_covers(granted: str, required: tuple[str, ...]) -> list[str]:
    """The required scopes not granted (`write_x` implies `read_x`, as Shopify treats it)."""
    have = {s.strip() for s in granted.split(",") if s.strip()}
    have |= {"read_" + s[len("write_"):] for s in have if s.startswith("write_")}
    return [s for s in required if s not in have]


@bp.get("/auth/callback")
def callback() -> Response:
    settings = _settings()
    params = _flat_params()
    shop = sdk.sanitize_shop(params.get("shop"))
    if shop is None or params.get("shop") != shop:
        abort(400, description="shop must be a valid myshopify.com domain")
    if not sdk.oauth_query_hmac_valid(settings, params):
        abort(401, description="invalid hmac")
    try:
        timestamp = int(params.get("timestamp", ""))
    except ValueError:
        abort(400, description="timestamp missing or malformed")
    if abs(time.time() - timestamp) > CALLBACK_TIMESTAMP_WINDOW_SECONDS:
        abort(401, description="the callback is too old (or from the future); start again")

    cookie = request.cookies.get(STATE_COOKIE, "")
    try:
        saved = _state_serializer(settings).loads(cookie, max_age=STATE_MAX_AGE_SECONDS)
    except BadSignature:
        saved = None
    state = params.get("state")
    if (
        not isinstance(saved, dict)
        or not isinstance(state, str)
        or not hmac.compare_digest(str(saved.get("state", "")).encode(), state.encode())
        or saved.get("shop") != shop
    ):
        abort(403, description="the OAuth state does not match; start the install again")
    code = params.get("code")
    if not isinstance(code, str) or not code:
        abort(400, description="code missing")

    try:
        with tokens._client_factory(shop) as client:
            grant = _request_token(settings, shop, code, client)
    except sdk.TokenRequestError as exc:
        log.warning("authorization code exchange failed for %s: %s", shop, exc.code)
        abort(502 if exc.status >= 500 or exc.status == 0 else 403,
              description="Shopify did not grant an access token; start the install again")
    missing = _granted_covers(grant.scope, settings.shopify_scopes)
    if missing:
        log.warning("install of %s lacks scopes %s", shop, missing)
        abort(403, description="the app needs these access scopes: " + ", ".join(missing))
    tokens.record_grant(db.session(), grant)

    response = redirect(_embedded_app_url(settings, shop, params.get("host")))
    response.delete_cookie(STATE_COOKIE, path="/auth")
    return response


def _request_token(settings: Settings, shop: str, code: str, client: httpx.Client) -> sdk.TokenGrant:
    """POST the code to Shopify's token endpoint for an *expiring* offline token.

    (ShopifyAPI's `Session.request_token` asks for a non-expiring token through urllib, outside
    our transport and timeouts; the request is small, so it is made here.)"""
    try:
        answer = client.post(
            f"https://{shop}/admin/oauth/access_token",
            json={
                "client_id": settings.shopify_api_key,
                "client_secret": settings.shopify_api_secret,
                "code": code,
                "expiring": "1",
            },
            headers={"Accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise sdk.TokenRequestError("network_error", 0, type(exc).__name__) from exc
    if answer.status_code != 200:
        raise sdk.TokenRequestError("token_request_failed", answer.status_code)
    try:
        data = answer.json()
    except ValueError as exc:
        raise sdk.TokenRequestError("token_request_failed", 502, "not JSON") from exc
    if not isinstance(data, dict) or not data.get("access_token"):
        raise sdk.TokenRequestError("token_request_failed", 502, "no access_token")
    return sdk.grant_from_token_response(shop, data)


def _embedded_app_url(settings: Settings, shop: str, host: object) -> str:
    """Into the app inside the admin: the `host` parameter (base64 of the admin origin) when it
    decodes to a Shopify admin for this shop, else the shop's own admin."""
    if isinstance(host, str) and host:
        try:
            decoded = base64.urlsafe_b64decode(host + "=" * (-len(host) % 4)).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            decoded = ""
        handle = sdk.shop_handle(shop)
        if decoded in (f"admin.shopify.com/store/{handle}", f"{shop}/admin"):
            return f"https://{decoded}/apps/{settings.shopify_api_key}"
    return f"https://{shop}/admin/apps/{settings.shopify_api_key}"


@bp.get(PATCH_ID_TOKEN_PATH)
def patch_id_token() -> Response:
    """The bounce page: App Bridge alone, which fetches a fresh id_token and reloads the page."""
    verdict = sdk.patch_id_token_page(_settings(), _settings().app_url + request.full_path)
    if not verdict.ok:
        abort(400, description="shop and shopify-reload are required")
    response = make_response(verdict.body, 200)
    response.headers.update(verdict.headers)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


@bp.get("/app/api/session")
@session_token_required
def session_info() -> Response:
    """The smallest authenticated endpoint: who is calling."""
    shop = g.shop
    return jsonify({"shop": shop.domain, "scopes": sorted(shop.scope_set)})


@bp.get("/app/api/dev/session-token")
def dev_session_token() -> Response:
    """Dev mode only: a fresh session token for the dev shop (App Bridge's `idToken()` stand-in
    when Shopify's CDN is not there). 404 in any other configuration."""
    settings = _settings()
    if not dev_mode(settings):
        abort(404)
    response = jsonify({"token": mint_session_token(settings, settings.dev_shop_domain),
                        "shop": settings.dev_shop_domain})
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the auth routes and the embedded-document CSP hook."""
    from shopify_app.shopify import embedded

    app.register_blueprint(bp)
    embedded.init_app(app)
