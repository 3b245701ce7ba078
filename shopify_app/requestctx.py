"""Per-request context: a request id on every request, in the logs and in a response header."""

from __future__ import annotations

import re
import time

from flask import Flask, Response, g, request

from shopify_app.logs import request_id_var, shop_var
from shopify_app.models import new_ulid

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def init_app(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_id = new_ulid()
        g.request_tokens = [(request_id_var, request_id_var.set(g.request_id))]

    @app.after_request
    def _stamp(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id and REQUEST_ID_HEADER not in response.headers:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        # pop: a test client nested in an outer app context shares `g`, and a token can be
        # reset only once (and only in the context that set it).
        for var, token in reversed(g.pop("request_tokens", [])):
            try:
                var.reset(token)
            except (ValueError, RuntimeError):
                var.set(None)


def bind_shop(domain: str) -> None:
    """Attach the authenticated shop to the request's log lines."""
    g.setdefault("request_tokens", []).append((shop_var, shop_var.set(domain)))


def valid_request_id(value: str) -> bool:
    return bool(_VALID_REQUEST_ID.match(value))


__all__ = ["REQUEST_ID_HEADER", "bind_shop", "init_app", "request", "valid_request_id"]
