"""OAuth2 password-flow bearer tokens for staff (the registry API).

HS256 JWTs signed with a key derived from the app's SECRET_KEY, with an audience of their own:
a Shopify session token (signed with the Shopify app secret, audience = the app's client id)
can never pass for one, and a token names the user's session version so signing out or
disabling the account revokes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import jwt
from sqlalchemy.orm import Session

from shopify_app.models import StaffUser, utcnow
from shopify_app.staff.accounts import is_active

AUDIENCE = "catalog-studio:staff-api"
ISSUER = "catalog-studio"
ALGORITHM = "HS256"
LIFETIME = dt.timedelta(hours=1)


def _signing_key(secret_key: str) -> bytes:
    # A key of its own, so nothing else signed with SECRET_KEY can be replayed as a token.
    return hmac.new(secret_key.encode(), b"catalog-studio staff api tokens", hashlib.sha256).digest()


def issue(user: StaffUser, secret_key: str, now: dt.datetime | None = None) -> str:
    now = now or utcnow()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user.id),
        "ver": user.session_version,
        "iat": int(now.timestamp()),
        "exp": int((now + LIFETIME).timestamp()),
    }
    return jwt.encode(claims, _signing_key(secret_key), algorithm=ALGORITHM)


def authenticate(session: Session, token: str, secret_key: str) -> StaffUser | None:
    """The active staff user a token stands for, or None (bad, expired or revoked token)."""
    try:
        claims = jwt.decode(
            token,
            _signing_key(secret_key),
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
        user_id = int(claims["sub"])
    except (jwt.InvalidTokenError, ValueError, TypeError):
        return None
    user = session.get(StaffUser, user_id)
    return user if is_active(user, claims.get("ver")) else None
