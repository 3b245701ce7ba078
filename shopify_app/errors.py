"""Error responses: JSON for API and JSON requests, never a 500 for the caller's own mistake."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def wants_json() -> bool:
    if request.path.startswith(("/v1", "/api/", "/app/api", "/webhooks", "/healthz", "/readyz")):
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def init_app(app: Flask) -> None:
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
