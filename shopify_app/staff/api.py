"""`POST /api/v1/login/access-token`: OAuth2 password grant for staff (form fields
`username`, `password`, as FastAPI's OAuth2PasswordRequestForm)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from shopify_app import db
from shopify_app.queues import get_broker
from shopify_app.registry.validation import error
from shopify_app.staff import accounts, tokens

bp = Blueprint("staff_api", __name__, url_prefix="/api/v1/login")


@bp.post("/access-token")
def access_token() -> Response | tuple[Response, int]:
    missing = [
        error(("body", name), "Field required", "missing", None)
        for name in ("username", "password")
        if name not in request.form
    ]
    if missing:
        return jsonify({"detail": missing}), 422
    session = db.session()
    try:
        user = accounts.authenticate(
            session, get_broker().redis, request.form["username"], request.form["password"],
            request.remote_addr or "unknown",
        )
    except accounts.SignInRefused as refused:
        session.commit()  # the failure counters must stick although we answer 4xx
        if refused.reason == "locked":
            response = jsonify({"detail": refused.message})
            response.headers["Retry-After"] = str(refused.retry_after)
            return response, 429
        return jsonify({"detail": refused.message}), 400
    token = tokens.issue(user, current_app.config["STUDIO_SETTINGS"].secret_key)
    response = jsonify({"access_token": token, "token_type": "bearer"})
    response.headers["Cache-Control"] = "no-store"
    return response
