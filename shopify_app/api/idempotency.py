"""`Idempotency-Key`: the same key and body answer what the first request answered, once charged.

The first request with a key inserts its RequestLog row (status 0, "in flight") *before* it
creates anything, in the same transaction as the job and the charge. The unique constraint
(api_client_id, idempotency_key) then settles races: a concurrent duplicate's insert waits on
the first transaction and fails once it commits, and the duplicate replays the committed answer.
Only a success binds a key: a 402, 422 or 429 rolls the row back with everything else, so a
corrected retry may reuse the key.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopify_app.api.context import ApiCall, ApiError, Caller, validation_error
from shopify_app.models import RequestLog

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def key_from_request(call: ApiCall) -> str | None:
    """The header's key; for a Flow action, its action_run_id (Flow re-sends unanswered runs)."""
    key = request.headers.get(HEADER)
    if key is not None:
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
            raise validation_error(
                ["header", HEADER], f"must be 1 to {MAX_KEY_LENGTH} printable ASCII characters",
                "value_error",
            )
        return key
    if call.flow_action is not None:
        return f"flow:{call.flow_action.action_run_id}"[:MAX_KEY_LENGTH]
    return None


def body_fingerprint(parsed: Any) -> str:
    """SHA-256 of the body as canonical JSON: key order and whitespace do not make it another body."""
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_or_replay(session: Session, call: ApiCall, caller: Caller, key: str) -> Response | None:
    """None when this request now owns the key; otherwise the answer to give instead."""
    existing = _find(session, caller, key)
    if existing is None:
        row = RequestLog(
            request_id=g.request_id,
            shop_id=caller.shop.id,
            api_client_id=caller.client.id,
            auth_kind=caller.kind,
            method=request.method[:8],
            path=request.path[:255],
            status_code=0,
            idempotency_key=key,
            body_sha256=call.body_sha256,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            # A concurrent request with the same key committed first (its insert held ours).
            session.rollback()
            existing = _find(session, caller, key)
            if existing is None:
                raise ApiError(409, "a request with this Idempotency-Key is in progress; retry shortly",
                               headers={"Retry-After": "1"}) from None
        else:
            call.claimed_row = row
            return None
    return _answer_from(call, existing)


def _find(session: Session, caller: Caller, key: str) -> RequestLog | None:
    return session.scalar(
        select(RequestLog).where(
            RequestLog.api_client_id == caller.client.id, RequestLog.idempotency_key == key
        )
    )


def _answer_from(call: ApiCall, existing: RequestLog) -> Response:
    if existing.body_sha256 != call.body_sha256:
        raise validation_error(
            ["header", HEADER],
            "this Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        )
    if existing.status_code == 0 or existing.response_body is None:
        raise ApiError(409, "a request with this Idempotency-Key is in progress; retry shortly",
                       headers={"Retry-After": "1"})
    call.job_id = existing.job_id
    call.note = f"replay of request {existing.request_id}"
    response = jsonify(existing.response_body)
    response.status_code = existing.status_code
    response.headers[REPLAYED_HEADER] = "true"
    return response
