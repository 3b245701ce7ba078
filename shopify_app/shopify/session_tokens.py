"""Minting session tokens shaped exactly like Shopify's, for the dev shop and for tests.

Shopify signs App Bridge session tokens (HS256, the app's client secret, 1 minute). In dev mode
the app plays that part for the dev shop, and the token is then checked by the very same
verification path as a real one (`sdk.verify_app_home`), so there is no second way in.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from shopify_app.settings import Settings

SESSION_TOKEN_LIFETIME_SECONDS = 60


def mint_session_token(
    settings: Settings,
    shop_domain: str,
    *,
    user_id: str = "1",
    lifetime: int = SESSION_TOKEN_LIFETIME_SECONDS,
    secret: str | None = None,
    now: float | None = None,
    **overrides: Any,
) -> str:
    """A session token for `shop_domain` with Shopify's claims; `overrides` replace claims
    (None removes one), so tests can forge every variation."""
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {
        "iss": f"https://{shop_domain}/admin",
        "dest": f"https://{shop_domain}",
        "aud": settings.shopify_api_key,
        "sub": user_id,
        "exp": issued + lifetime,
        "nbf": issued,
        "iat": issued,
        "jti": str(uuid.uuid4()),
        "sid": uuid.uuid4().hex,
    }
    for key, value in overrides.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return jwt.encode(claims, secret or settings.shopify_api_secret, algorithm="HS256")


__all__ = ["SESSION_TOKEN_LIFETIME_SECONDS", "mint_session_token"]
