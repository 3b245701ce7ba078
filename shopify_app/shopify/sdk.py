"""Shopify's official `shopifyapp` package, loaded under the alias `shopifyapp_sdk`, and wrapped.

Why an alias: the `shopifyapp` wheel installs its code under the import name `shopify_app`, which
is also the name of this project's package (fixed by the project layout). Ours wins on sys.path,
so `import shopify_app.verify` would look inside *our* package. We therefore find the wheel's
files through its distribution metadata and register an empty package module named
`shopifyapp_sdk` whose `__path__` points at them; its submodules use relative imports
(`from ..types import …`), so they load under the alias unchanged. We do NOT execute the wheel's
`__init__`: it imports `graphql/admin_graphql.py`, which imports `shopify_app.types` absolutely
and would resolve to our package and fail.

Why wrapped: the rest of the app never touches `shopifyapp_sdk` directly. These functions take
Flask-independent inputs, call the SDK, and add what it does not check:
- the shop domain is validated strictly before it reaches a header, a URL or the database (the
  SDK's patch-ID-token page copies the raw `shop` query parameter into a CSP header);
- session tokens must carry `exp` and `nbf` (PyJWT only checks them when present), `iss` and
  `dest` must name the same valid shop, and a `shop` query parameter must agree with `dest`;
- webhook bodies are raw bytes: the SDK wants `str`, so a non-UTF-8 body (which Shopify never
  signs) is refused here, and a non-ASCII HMAC header (which would make `hmac.compare_digest` on
  `str` raise) is refused as a bad signature instead of a 500;
- a body HMAC the app's secrets made is accepted without calling the SDK, by the SDK's own rule
  (its verifier re-serialises the whole body for a log record on every call); every other
  request still gets the SDK's verdict (`_verify_body_hmac`, tests/shopify_auth/test_body_hmac.py);
- a refresh answer without `expires_in` would make the SDK record "expires now" and refresh on
  every call (shopify-app-js#3400); we floor it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hmac
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx

from shopify_app.settings import Settings

log = logging.getLogger(__name__)

ALIAS = "shopifyapp_sdk"
MYSHOPIFY_SUFFIX = ".myshopify.com"
# Shopify shop handles: lowercase letters, digits and hyphens, not starting with a hyphen.
# Stricter than the JS library's regex (no `_`, no other Shopify-owned suffixes), like the
# legacy Python library's, and anchored with fullmatch (a `$` would accept a trailing newline).
_SHOP_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,98}\.myshopify\.com")
_ADMIN_STORE_RE = re.compile(r"admin\.shopify\.com/store/([a-z0-9][a-z0-9-]{0,98})/?")
# Minimum lifetime we accept from a token answer before treating its expiry as missing.
_MIN_TOKEN_LIFETIME = dt.timedelta(seconds=60)
_FALLBACK_TOKEN_LIFETIME = dt.timedelta(minutes=10)


# --------------------------------------------------------------------------- loading


def _load_package() -> ModuleType:
    existing = sys.modules.get(ALIAS)
    if existing is not None:
        return existing
    dist = importlib.metadata.distribution("shopifyapp")
    init = next((f for f in dist.files or () if f.as_posix() == "shopify_app/__init__.py"), None)
    if init is None:
        raise ImportError("the shopifyapp distribution has no shopify_app/__init__.py")
    root = Path(str(dist.locate_file(init))).parent
    spec = importlib.machinery.ModuleSpec(ALIAS, loader=None, is_package=True)
    spec.submodule_search_locations = [str(root)]
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(root)]
    package.__version__ = dist.version  # type: ignore[attr-defined]
    sys.modules[ALIAS] = package
    return package


def sdk_module(name: str) -> ModuleType:
    """A submodule of the aliased SDK, e.g. `sdk_module("verify.webhook")`."""
    _load_package()
    return importlib.import_module(f"{ALIAS}.{name}")


_load_package()
_verify_webhook_req = sdk_module("verify.webhook").verify_webhook_req
_verify_flow_action_req = sdk_module("verify.flow_action").verify_flow_action_req
_verify_app_home_req = sdk_module("verify.app_home_req").verify_app_home_req
_app_home_patch_id_token = sdk_module("helpers.app_home_patch_id_token").app_home_patch_id_token
_token_exchange = sdk_module("exchange.token_exchange").token_exchange
_refresh_access_token = sdk_module("exchange.refresh_token").refresh_access_token
SDK_VERSION: str = sys.modules[ALIAS].__version__  # type: ignore[attr-defined]
# The signature headers each body-HMAC verifier of the SDK reads, first present wins (the fast
# path of `_verify_body_hmac` reads the same; an SDK without these names gets no fast path).
_SDK_HMAC_HEADERS: dict[Any, tuple[str, ...]] = {
    _verify_webhook_req: tuple(getattr(sdk_module("verify.webhook"), "_WEBHOOK_HMAC_HEADER_NAMES", ())),
    _verify_flow_action_req: tuple(getattr(sdk_module("verify.flow_action"), "_FLOW_HMAC_HEADER_NAMES", ())),
}


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one request: `ok`, or the status and headers to answer with."""

    ok: bool
    status: int
    reason: str
    shop: str | None = None  # full myshopify domain, validated
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    claims: dict[str, Any] | None = None
    id_token: str | None = None


@dataclass(frozen=True)
class TokenGrant:
    """An offline access token as Shopify issued it (expiring tokens carry a refresh token)."""

    shop: str
    access_token: str
    scope: str
    expires_at: dt.datetime | None
    refresh_token: str | None
    refresh_token_expires_at: dt.datetime | None


class TokenRequestError(Exception):
    """Shopify refused a token exchange or refresh (or could not be reached)."""

    def __init__(self, code: str, status: int, detail: str = ""):
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.status = status


# --------------------------------------------------------------------------- shop domains


def sanitize_shop(value: object) -> str | None:
    """The canonical `{handle}.myshopify.com` for `value`, or None when it is not a shop domain.

    Accepts `https://x.myshopify.com/`, `X.myshopify.com`, and `admin.shopify.com/store/x`
    (Shopify's unified admin URL); nothing else. Use it on every shop value from a request."""
    if not isinstance(value, str) or len(value) > 300:
        return None
    return _sanitize_shop_text(value)


@functools.lru_cache(maxsize=4096)
def _sanitize_shop_text(value: str) -> str | None:
    # Cached: every webhook and embedded request sanitises a shop, and a process sees few.
    name = value.strip().lower()
    name = re.sub(r"^https?://", "", name)
    admin = _ADMIN_STORE_RE.fullmatch(name)
    if admin:
        return admin.group(1) + MYSHOPIFY_SUFFIX
    name = name.rstrip("/")
    return name if _SHOP_RE.fullmatch(name) else None


def shop_handle(domain: str) -> str:
    """`x` for `x.myshopify.com` (the SDK's exchange functions append the suffix themselves)."""
    return domain[: -len(MYSHOPIFY_SUFFIX)] if domain.endswith(MYSHOPIFY_SUFFIX) else domain


def frame_ancestors(shop: str | None) -> str:
    """The CSP value for an embedded document; `shop` must already be sanitised."""
    if shop and _SHOP_RE.fullmatch(shop):
        return f"frame-ancestors https://{shop} https://admin.shopify.com;"
    return "frame-ancestors https://admin.shopify.com;"


def app_config(settings: Settings) -> dict[str, Any]:
    return {
        "client_id": settings.shopify_api_key,
        "client_secret": settings.shopify_api_secret,
        "old_client_secret": settings.shopify_api_secret_previous or None,
    }


# --------------------------------------------------------------------------- body HMAC


def _verify_body_hmac(verify: Any, settings: Settings, method: str, headers: Mapping[str, str],
                      body: bytes, hmac_headers: tuple[str, ...]) -> Verdict:
    """The SDK's body-HMAC verdict, with a fast path for the signatures it would accept.

    Why a fast path: on success the SDK still builds a redacted copy of the request for its log
    record (`redact_http_log`: `json.loads` and `json.dumps` of the whole body), which cost more
    than the HMAC itself and was the largest single cost of `POST /webhooks` (about a fifth of a
    worker's CPU under load). The fast path accepts exactly what the SDK accepts — its rule,
    restated: a POST whose signature header equals, compared in constant time, the base64
    HMAC-SHA256 of the body's UTF-8 bytes under the client secret or, when set, the previous
    one (the SDK hashes `body.encode("utf-8")` of the text we decode from the raw bytes, which
    gives back the same bytes; the strict UTF-8 and ASCII checks here come first in both paths).
    Anything it does not accept goes to the SDK, which decides every rejection (status and
    reason) as before. `tests/shopify_auth/test_body_hmac.py` checks that both paths give the
    same verdict over valid, tampered, previous-secret, wrongly encoded, non-ASCII, non-UTF-8,
    empty and missing signatures, for webhooks and Flow actions."""
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = next((lowered[h] for h in hmac_headers if h in lowered), "")
    if method == "POST" and signature and not signature.isascii():
        return Verdict(False, 401, "invalid_hmac")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return Verdict(False, 400, "body_not_utf8")
    if method == "POST":
        # The header the SDK reads (its own list: a Flow action has no unprefixed header).
        sdk_names = _SDK_HMAC_HEADERS.get(verify, ())
        sdk_signature = next((lowered[h] for h in sdk_names if h in lowered), "")
        if sdk_signature.isascii() and sdk_signature and _signed_by_app(
                settings, sdk_signature.encode("ascii"), body):
            return Verdict(True, 200, "verified")
    return _sdk_body_hmac_verdict(verify, settings, method, lowered, text)


def _signed_by_app(settings: Settings, signature: bytes, body: bytes) -> bool:
    """The SDK's acceptance rule over raw bytes (see `_verify_body_hmac`): constant-time
    comparison against the current secret, then the previous one when set."""
    for secret in (settings.shopify_api_secret, settings.shopify_api_secret_previous):
        if secret and hmac.compare_digest(
                signature, base64.b64encode(hmac.digest(_secret_bytes(secret), body, "sha256"))):
            return True
    return False


@functools.lru_cache(maxsize=8)
def _secret_bytes(secret: str) -> bytes:
    return secret.encode("utf-8")


def _sdk_body_hmac_verdict(verify: Any, settings: Settings, method: str, lowered: dict[str, str],
                           text: str) -> Verdict:
    """The SDK's own verdict (every rejection, and the reference the fast path is tested against)."""
    result = verify(
        {"method": method, "headers": dict(lowered), "url": "", "body": text}, app_config(settings)
    )
    if not result.ok:
        return Verdict(False, result.response.status, result.log.code)
    return Verdict(True, 200, "verified")


def verify_webhook(settings: Settings, method: str, headers: Mapping[str, str], body: bytes) -> Verdict:
    """HMAC-SHA256 (base64) of the raw body against the current and previous secret, in constant
    time. 405 for non-POST, 400 without a signature header, 401 when it does not match.
    Both header families (`X-Shopify-Hmac-Sha256` and `shopify-hmac-sha256`) are accepted."""
    return _verify_body_hmac(_verify_webhook_req, settings, method, headers, body,
                             ("x-shopify-hmac-sha256", "shopify-hmac-sha256"))


def verify_flow_action(settings: Settings, method: str, headers: Mapping[str, str], body: bytes) -> Verdict:
    """A Shopify Flow action request: the same body HMAC as webhooks (`X-Shopify-Hmac-Sha256`)."""
    return _verify_body_hmac(_verify_flow_action_req, settings, method, headers, body,
                             ("x-shopify-hmac-sha256", "shopify-hmac-sha256"))


# --------------------------------------------------------------------------- session tokens


def verify_app_home(settings: Settings, method: str, url: str, headers: Mapping[str, str],
                    patch_id_token_path: str) -> Verdict:
    """Verify an embedded request: a document (`?id_token=`) or a fetch (`Authorization: Bearer`).

    Failures of a document request answer 302 to the patch-ID-token (bounce) page; failures of a
    fetch answer 401 with `X-Shopify-Retry-Invalid-Session-Request: 1` so App Bridge retries with
    a fresh token. On success `shop` is taken from the token's `dest` claim."""
    lowered = {k.lower(): v for k, v in headers.items()}
    is_fetch = bool(lowered.get("authorization"))
    result = _verify_app_home_req(
        {"method": method, "headers": lowered, "url": url, "body": ""},
        app_config(settings),
        patch_id_token_path,
    )
    if not result.ok:
        headers_out = dict(result.response.headers)
        return Verdict(False, result.response.status, result.log.code, headers=headers_out)

    claims: dict[str, Any] = dict(result.id_token.claims)
    problem = _extra_claim_problem(claims, url)
    if problem is not None:
        if is_fetch:
            return Verdict(False, 401, problem,
                           headers={"X-Shopify-Retry-Invalid-Session-Request": "1"})
        bounce = result.invalid_token_response
        return Verdict(False, bounce.status, problem, headers=dict(bounce.headers))

    shop = sanitize_shop(urlsplit(claims["dest"]).hostname)
    assert shop is not None  # checked by _extra_claim_problem
    out_headers: dict[str, str] = {}
    if not is_fetch:
        out_headers = dict(result.response.headers)
        out_headers["Content-Security-Policy"] = frame_ancestors(shop)
    return Verdict(True, 200, "verified", shop=shop, headers=out_headers, claims=claims,
                   id_token=result.id_token.token)


def _extra_claim_problem(claims: Mapping[str, Any], url: str) -> str | None:
    """What the SDK does not check: required time claims, iss/dest agreement, a valid shop."""
    for claim in ("exp", "nbf", "iss", "dest"):
        if claim not in claims:
            return f"missing_{claim}"
    dest, iss = claims.get("dest"), claims.get("iss")
    if not isinstance(dest, str) or not isinstance(iss, str):
        return "invalid_dest"
    dest_parts, iss_parts = urlsplit(dest), urlsplit(iss)
    if dest_parts.scheme != "https" or iss_parts.scheme != "https":
        return "invalid_dest"
    dest_shop = sanitize_shop(dest_parts.hostname)
    if dest_shop is None or dest_parts.hostname != dest_shop or dest_parts.port is not None:
        return "invalid_dest"
    if iss_parts.hostname != dest_shop or iss_parts.port is not None:
        return "iss_dest_mismatch"
    query_shop = _query_values(url, "shop")
    if query_shop and any(sanitize_shop(v) != dest_shop for v in query_shop):
        return "shop_mismatch"
    return None


def _query_values(url: str, name: str) -> list[str]:
    from urllib.parse import parse_qs

    return parse_qs(urlsplit(url).query, keep_blank_values=True).get(name, [])


def patch_id_token_page(settings: Settings, url: str) -> Verdict:
    """The bounce page: only App Bridge, which reloads `shopify-reload` with a fresh id_token."""
    shops = _query_values(url, "shop")
    shop = sanitize_shop(shops[0]) if len(shops) == 1 else None
    if shop is None:
        return Verdict(False, 400, "invalid_shop")
    reload = _query_values(url, "shopify-reload")
    # App Bridge navigates to this value: only a same-origin path may be reloaded.
    if len(reload) != 1 or not _is_relative_path(reload[0], url):
        return Verdict(False, 400, "invalid_shopify_reload")
    result = _app_home_patch_id_token(
        {"method": "GET", "headers": {}, "url": url, "body": ""}, app_config(settings)
    )
    if not result.ok:
        return Verdict(False, result.response.status, result.log.code)
    headers = dict(result.response.headers)
    headers["Content-Security-Policy"] = frame_ancestors(shop)  # never the raw parameter
    return Verdict(True, 200, "patch_id_token_page", shop=shop, headers=headers,
                   body=result.response.body)


def _is_relative_path(value: str, request_url: str) -> bool:
    # Browsers read `\` as `/` and drop tabs and newlines, so `/\evil.com` or `/\t/evil.com`
    # would navigate off-site although it looks like a path here.
    if any(c == "\\" or ord(c) < 0x20 or c == "\x7f" for c in value):
        return False
    parts = urlsplit(value)
    if not parts.scheme and not parts.netloc:
        return value.startswith("/") and not value.startswith("//")
    here = urlsplit(request_url)
    return parts.scheme == here.scheme and parts.netloc == here.netloc


# --------------------------------------------------------------------------- tokens


def exchange_id_token(settings: Settings, id_token: str, claims: Mapping[str, Any],
                      http_client: httpx.Client) -> TokenGrant:
    """Exchange a verified session token for an expiring offline access token (`expiring=1`)."""
    result = _token_exchange(
        "offline",
        app_config(settings),
        id_token={"exchangeable": True, "token": id_token, "claims": dict(claims)},
        expiring=True,
        http_client=http_client,
    )
    if not result.ok or result.access_token is None:
        raise TokenRequestError(result.log.code, result.response.status, _error_detail(result))
    return _grant(sanitize_shop(urlsplit(str(claims["dest"])).hostname) or "", result.access_token)


def refresh_access_token(settings: Settings, shop: str, refresh_token: str,
                         refresh_token_expires_at: dt.datetime | None,
                         http_client: httpx.Client) -> TokenGrant:
    """Trade a refresh token for a new access/refresh pair (the refresh token rotates)."""
    domain = sanitize_shop(shop)
    if domain is None:
        raise TokenRequestError("invalid_shop", 400)
    result = _refresh_access_token(
        {
            "access_mode": "offline",
            "shop": shop_handle(domain),
            "refresh_token": refresh_token,
            # Empty `expires` makes the SDK refresh now: *we* decide when a token is due.
            "expires": "",
            "refresh_token_expires": _iso(refresh_token_expires_at),
            "user": None,
        },
        app_config(settings),
        http_client,
    )
    if not result.ok or result.access_token is None:
        raise TokenRequestError(result.log.code, result.response.status, _error_detail(result))
    return _grant(domain, result.access_token)


def grant_from_token_response(shop: str, data: Mapping[str, Any]) -> TokenGrant:
    """A TokenGrant from the JSON of Shopify's `/admin/oauth/access_token` (authorization-code
    grant), with the same expiry rules as the SDK's exchange and refresh results."""
    now = dt.datetime.now(dt.UTC)

    def after(seconds: object) -> str | None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            return None
        return _iso(now + dt.timedelta(seconds=seconds))

    class _Answer:
        token = str(data.get("access_token") or "")
        scope = str(data.get("scope") or "")
        expires = after(data.get("expires_in"))
        refresh_token = data.get("refresh_token") if isinstance(data.get("refresh_token"), str) else None
        refresh_token_expires = after(data.get("refresh_token_expires_in"))

    return _grant(shop, _Answer)


def _grant(shop: str, token: Any) -> TokenGrant:
    now = dt.datetime.now(dt.UTC)
    expires_at = _parse_iso(token.expires)
    if expires_at is not None and expires_at - now < _MIN_TOKEN_LIFETIME:
        log.warning("token answer for %s has no usable expires_in; assuming %s", shop,
                    _FALLBACK_TOKEN_LIFETIME)
        expires_at = now + _FALLBACK_TOKEN_LIFETIME
    refresh_expires_at = _parse_iso(token.refresh_token_expires)
    if token.refresh_token and refresh_expires_at is not None and refresh_expires_at <= now:
        refresh_expires_at = None  # unknown rather than "already expired"
    return TokenGrant(
        shop=shop,
        access_token=token.token,
        scope=token.scope or "",
        expires_at=expires_at,
        refresh_token=token.refresh_token or None,
        refresh_token_expires_at=refresh_expires_at,
    )


def _error_detail(result: Any) -> str:
    for entry in reversed(getattr(result, "http_logs", []) or []):
        res = getattr(entry, "res", None)
        if res is not None and getattr(res, "status", 0):
            return f"HTTP {res.status}"
    return result.log.detail.split(". ")[0]


def _iso(value: dt.datetime | None) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _parse_iso(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


# --------------------------------------------------------------------------- OAuth (legacy)


@functools.lru_cache(maxsize=8)
def _legacy_session_class(api_key: str, secret: str) -> type:
    """ShopifyAPI keeps credentials as class attributes (global state, issues #705/#733); a
    subclass per credential pair keeps them out of the shared base class."""
    import shopify

    return type("_StudioOAuthSession", (shopify.Session,), {"api_key": api_key, "secret": secret})


def oauth_permission_url(settings: Settings, shop: str, redirect_uri: str, state: str) -> str:
    """The authorization-code grant's authorize URL (ShopifyAPI's `create_permission_url`)."""
    cls = _legacy_session_class(settings.shopify_api_key, settings.shopify_api_secret)
    session = cls(shop, settings.shopify_api_version)
    return session.create_permission_url(list(settings.shopify_scopes), redirect_uri, state)


def oauth_query_hmac_valid(settings: Settings, params: Mapping[str, Any]) -> bool:
    """The hex HMAC of an OAuth/admin redirect's query (ShopifyAPI's `validate_hmac`), against
    the current and the previous secret. The timestamp window is the caller's to check."""
    signature = params.get("hmac")
    if not isinstance(signature, str) or not signature.isascii():
        return False
    for secret in settings.webhook_secrets:
        cls = _legacy_session_class(settings.shopify_api_key, secret)
        if cls.validate_hmac(dict(params)):
            return True
    return False


__all__ = [
    "ALIAS", "SDK_VERSION", "TokenGrant", "TokenRequestError", "Verdict", "app_config",
    "exchange_id_token", "frame_ancestors", "grant_from_token_response", "oauth_permission_url", "oauth_query_hmac_valid",
    "patch_id_token_page", "refresh_access_token", "sanitize_shop", "sdk_module", "shop_handle",
    "verify_app_home", "verify_flow_action", "verify_webhook",
]
