"""One `RequestLog` row per /v1 call, keyed by the request's ULID (`g.request_id`), 4xx included.

Runs as an app-level after-request hook (so unmatched /v1 paths are logged too), before the
request's own commit. A success adds the row to the request's transaction; an error answer
first rolls the request's work back (no half-created job survives a 4xx or 5xx) and then commits
the row on its own, because the request commit only happens below 400.
"""

from __future__ import annotations

import json
import logging
import time

from flask import Response, g, request

from shopify_app import db
from shopify_app.api.context import current_call
from shopify_app.models import RequestLog

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 2000


def is_api_path(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


def write_request_log(response: Response) -> Response:
    if not is_api_path(request.path) or g.get("api_logged") or not g.get("request_id"):
        return response
    g.api_logged = True
    call = current_call()
    session = db.session()
    failed = response.status_code >= 400
    try:
        if failed:
            session.rollback()
        caller = call.caller
        # Read everything first: after a rollback these attribute reads reload rows, and a
        # half-filled log row must not be autoflushed meanwhile.
        values = {
            "shop_id": caller.shop.id if caller else call.shop_id,
            "api_client_id": caller.client.id if caller else None,
            "auth_kind": call.auth_kind,
            "method": request.method[:8],
            "path": _storable(request.path)[:255],
            "status_code": response.status_code,
            "job_id": call.job_id,
            "duration_ms": _duration_ms(),
        }
        if call.store_body and not failed:
            values["response_body"] = response.get_json(silent=True)
        if failed:
            values["error"] = _error_text(response)
        elif call.note:
            values["error"] = call.note
        row = None if failed else call.claimed_row
        if row is None:
            row = RequestLog(request_id=g.request_id, body_sha256=call.body_sha256)
            session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        if failed:
            session.commit()
        else:
            session.flush()
    except Exception:
        # The log must never turn an answer into a 500; the line below is the trace left.
        log.exception("could not write the request log for %s %s", request.method, request.path)
        session.rollback()
    return response


def _duration_ms() -> int | None:
    started = g.get("request_started")
    return None if started is None else int((time.perf_counter() - started) * 1000)


def _error_text(response: Response) -> str | None:
    body = response.get_json(silent=True)
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        text = detail if isinstance(detail, str) else json.dumps(detail, separators=(",", ":"))
    else:
        text = response.status
    return _storable(text)[:MAX_ERROR_CHARS]


def _storable(text: str) -> str:
    # A refused path or an echoed input may hold NUL, which PostgreSQL text cannot store; the
    # row is the evidence of the refused call, so keep it with the character replaced.
    return text.replace("\x00", "\ufffd")
