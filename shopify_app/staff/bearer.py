"""`Authorization: Bearer <staff token>` for JSON endpoints: 401 without a valid token
(with `WWW-Authenticate: Bearer`), 403 for a signed-in viewer where an admin is needed."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, current_app, g, jsonify, request

from shopify_app import db
from shopify_app.models import StaffUser
from shopify_app.staff import tokens

F = TypeVar("F", bound=Callable[..., Any])


def _json(status: int, detail: str, **headers: str) -> Response:
    response = jsonify({"detail": detail})
    response.status_code = status
    response.headers.update(headers)
    return response


def unauthorized(detail: str = "Not authenticated") -> Response:
    return _json(401, detail, **{"WWW-Authenticate": "Bearer"})


def forbidden() -> Response:
    return _json(403, "The user doesn't have enough privileges")


def staff_from_request() -> StaffUser | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    secret = current_app.config["STUDIO_SETTINGS"].secret_key
    return tokens.authenticate(db.session(), token.strip(), secret)


def admin_required(view: F) -> F:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        has_header = bool(request.headers.get("Authorization"))
        user = staff_from_request()
        if user is None:
            return unauthorized("Could not validate credentials" if has_header else "Not authenticated")
        if not user.is_admin:
            return forbidden()
        g.staff_user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
