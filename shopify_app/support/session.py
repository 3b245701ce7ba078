"""The console's own session: a signed, expiring cookie naming the staff user, their session
version and a CSRF token. Shopify's session tokens and the app's Flask session play no part.

The cookie is `Secure; HttpOnly; SameSite=Lax`, scoped to /support, and expires after
LIFETIME (its signature carries the time it was issued, checked on every request). Signing
out bumps the user's session version, which revokes every cookie and bearer token they hold.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Any

from flask import Response, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shopify_app import db
from shopify_app.models import StaffUser
from shopify_app.staff.accounts import is_active

COOKIE = "studio_support"
LOGIN_COOKIE = "studio_support_login"  # CSRF token of the sign-in form, before any session
LIFETIME = dt.timedelta(hours=8)
LOGIN_FORM_LIFETIME = dt.timedelta(minutes=30)
PATH = "/support"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    secret = current_app.config["STUDIO_SETTINGS"].secret_key
    return URLSafeTimedSerializer(secret, salt=f"catalog-studio support {purpose}")


def _set_cookie(response: Response, name: str, value: str, max_age: dt.timedelta) -> None:
    response.set_cookie(
        name, value, max_age=int(max_age.total_seconds()), path=PATH,
        secure=True, httponly=True, samesite="Lax",
    )


# ----------------------------------------------------------------------------- staff session

def start(response: Response, user: StaffUser) -> None:
    payload = {"uid": user.id, "ver": user.session_version, "csrf": secrets.token_urlsafe(32)}
    _set_cookie(response, COOKIE, _serializer("session").dumps(payload), LIFETIME)
    response.delete_cookie(LOGIN_COOKIE, path=PATH, secure=True, httponly=True, samesite="Lax")


def end(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH, secure=True, httponly=True, samesite="Lax")


def _payload() -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        payload = _serializer("session").loads(raw, max_age=int(LIFETIME.total_seconds()))
    except BadSignature:  # includes SignatureExpired
        return None
    return payload if isinstance(payload, dict) else None


_G_KEYS = ("support_staff", "support_csrf", "login_csrf", "login_csrf_new")


def load_staff() -> StaffUser | None:
    """The signed-in staff user of this request (kept on `g`), or None.

    Called once at the start of each console request. It clears what an earlier request left
    on `g` first: an app context (and its `g`) can outlive a request, as under the test client.
    """
    for key in _G_KEYS:
        g.pop(key, None)
    payload = _payload()
    user = None
    if payload is not None and isinstance(payload.get("uid"), int):
        candidate = db.session().get(StaffUser, payload["uid"])
        if is_active(candidate, payload.get("ver")):
            user = candidate
            g.support_csrf = str(payload.get("csrf", ""))
    g.support_staff = user
    return user


# ----------------------------------------------------------------------------- CSRF

def csrf_token() -> str:
    """The token forms must echo: the session's, or before sign-in the login form's."""
    if g.get("support_csrf"):
        return g.support_csrf
    if "login_csrf" not in g:
        raw = request.cookies.get(LOGIN_COOKIE)
        token = None
        if raw:
            try:
                token = _serializer("login").loads(raw, max_age=int(LOGIN_FORM_LIFETIME.total_seconds()))
            except BadSignature:
                token = None
        g.login_csrf = token or secrets.token_urlsafe(32)
        g.login_csrf_new = token is None
    return g.login_csrf


def remember_login_csrf(response: Response) -> None:
    if g.get("login_csrf_new"):
        _set_cookie(response, LOGIN_COOKIE, _serializer("login").dumps(g.login_csrf), LOGIN_FORM_LIFETIME)


def csrf_valid() -> bool:
    sent = request.form.get("csrf_token", "")
    expected = csrf_token() if g.get("support_csrf") or request.cookies.get(LOGIN_COOKIE) else ""
    if g.get("login_csrf_new"):
        expected = ""  # a token we just minted was never sent to the browser
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())
