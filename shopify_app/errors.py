"""Error responses: JSON for API and JSON requests, never a 500 for the caller's own mistake."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, abort, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

NUL_REFUSED = "text containing NUL characters (\\u0000) is not accepted"


def nul_location(value: Any) -> list[str | int] | None:
    """Where in a parsed JSON document a string (key or value) holds a NUL, or None.

    PostgreSQL text cannot store NUL, so such a string reaching a query is a 500; the JSON
    endpoints call this on their parsed bodies and answer 422 at that location instead."""
    if isinstance(value, str):
        return [] if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                return [key]
            inner = nul_location(item)
            if inner is not None:
                return [key, *inner]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            inner = nul_location(item)
            if inner is not None:
                return [index, *inner]
    return None


def _refuse_malformed_text() -> None:
    # Werkzeug decodes the raw query string strictly, so bytes that are not UTF-8 would fail
    # every handler that reads `request.args` with a 500.
    try:
        request.query_string.decode()
    except UnicodeDecodeError:
        abort(400, description="the query string is not UTF-8")
    # Path segments, query arguments and form fields all end up as query parameters somewhere
    # (ids, filters, cursors, reasons); refuse the one character PostgreSQL cannot take before
    # any handler runs. JSON bodies are checked where they are parsed (`nul_location`).
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)):
        abort(400, description=NUL_REFUSED)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and any(
        "\x00" in k or "\x00" in v for k, v in request.form.items(multi=True)
    ):
        abort(400, description=NUL_REFUSED)


def wants_json() -> bool:
    if request.path.startswith(("/v1", "/api/", "/app/api", "/webhooks", "/healthz", "/readyz")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def init_app(app: Flask) -> None:
    app.before_request(_refuse_malformed_text)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response | HTTPException:
        if exc.response is not None or not wants_json():
            return exc.response or exc
        response = jsonify({"detail": exc.description or exc.name})
        response.status_code = exc.code or 500
        for key, value in exc.get_headers():
            if key.lower() != "content-type":  # keep Allow, Retry-After, WWW-Authenticate
                response.headers[key] = value
        return response

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response | tuple[str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            response = jsonify({"detail": "Internal server error"})
            response.status_code = 500
            return response
        return "Internal server error", 500
