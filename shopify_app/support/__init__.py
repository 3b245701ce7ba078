"""`/support`: the internal console where staff find a merchant's problem and fix it.

Separate from Shopify auth: staff sign in with their own accounts (`shopify_app.staff`), the
session is the console's own cookie, every form carries a CSRF token, every action is admin
only and written to the audit log with a reason.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request

bp = Blueprint("support", __name__, url_prefix="/support")

# Clickjacking: the console never renders inside a frame, the Shopify admin's included.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def _security_headers(response: Response) -> Response:
    if request.path == "/support" or request.path.startswith("/support/"):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Register the console, the staff token endpoint, the registry API and `create-staff`."""
    import shopify_app.staff.cli  # noqa: F401 - registers `flask studio create-staff`
    from shopify_app.registry.api import bp as registry_api_bp
    from shopify_app.staff.api import bp as staff_api_bp
    from shopify_app.support import (  # noqa: F401 - each module adds its routes to `bp`
        actions,
        auth,
        jobs,
        lookups,
        queues,
        registry,
        views,
    )

    app.register_blueprint(bp)
    app.register_blueprint(staff_api_bp)
    app.register_blueprint(registry_api_bp)
    app.after_request(_security_headers)
