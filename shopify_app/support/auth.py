"""Signing in and out of the console, and the guard every console request passes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Response, g, jsonify, redirect, render_template, request, url_for

from shopify_app import db
from shopify_app.errors import wants_json
from shopify_app.models import StaffUser
from shopify_app.queues import get_broker
from shopify_app.staff import accounts
from shopify_app.support import bp, session

F = TypeVar("F", bound=Callable[..., Any])
PUBLIC_ENDPOINTS = frozenset({"support.login", "support.login_submit"})


def current_staff() -> StaffUser:
    return g.support_staff


@bp.app_context_processor
def _template_globals() -> dict[str, Any]:
    if not request.path.startswith("/support"):
        return {}
    return {"csrf_token": session.csrf_token, "staff": g.get("support_staff"), "page_url": page_url}


def page_url(**changes: Any) -> str:
    """This page's URL with some query arguments changed (paging links keep the filters)."""
    args = {**request.args.to_dict(), **{k: v for k, v in changes.items() if v is not None}}
    args.pop("audit", None)
    return url_for(request.endpoint or "support.dashboard", **(request.view_args or {}), **args)


@bp.before_request
def _require_staff() -> Response | tuple[Response, int] | tuple[str, int] | None:
    user = session.load_staff()
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if user is None:
        if request.path.startswith("/support/api/") or wants_json():
            return jsonify({"detail": "Not signed in to the support console"}), 401
        return redirect(url_for("support.login", next=request.full_path.rstrip("?")))
    if request.method not in ("GET", "HEAD", "OPTIONS") and not session.csrf_valid():
        return render_template("support/error.html", title="Form expired",
                               message="The form's security token is missing or invalid. "
                                       "Reload the page and try again."), 400
    return None


def admin_required(view: F) -> F:
    """Only admins act; a viewer gets 403 (after the guard above has signed them in)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_staff().is_admin:
            return render_template("support/error.html", title="Not allowed",
                                   message="Only admins can do this."), 403
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    # Only console paths: `next` must never become an open redirect.
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/support") \
                and not target.startswith("//"):
            return target
    return url_for("support.dashboard")


@bp.get("/login")
def login() -> Response | str:
    if g.get("support_staff") is not None:
        return redirect(_safe_next(request.args.get("next")))
    response = Response(render_template("support/login.html", next=request.args.get("next", ""),
                                        error=None))
    session.remember_login_csrf(response)
    return response


@bp.post("/login")
def login_submit() -> Response | tuple[Response, int]:
    def page(error: str, status: int) -> tuple[Response, int]:
        response = Response(render_template("support/login.html", next=request.form.get("next", ""),
                                            error=error))
        session.remember_login_csrf(response)
        return response, status

    if not session.csrf_valid():
        return page("The sign-in form expired. Please try again.", 400)
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    if not email or not password:
        return page("Enter your email and password.", 400)
    db_session = db.session()
    try:
        user = accounts.authenticate(db_session, get_broker().redis, email, password,
                                     request.remote_addr or "unknown")
    except accounts.SignInRefused as refused:
        db_session.commit()  # keep the failure counters although we answer 4xx
        status = 429 if refused.reason == "locked" else 401
        response, status = page(refused.message, status)
        if refused.retry_after:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response, status
    response = redirect(_safe_next(request.form.get("next")))
    session.start(response, user)
    return response


@bp.post("/logout")
def logout() -> Response:
    accounts.revoke_sessions(current_staff())
    response = redirect(url_for("support.login"))
    session.end(response)
    return response
