"""`POST /webhooks`: verify, record, enqueue, answer. Nothing else happens here.

Shopify waits about 5 s and retries failures for hours, so the endpoint only does what makes a
delivery safe to acknowledge: read the body (capped, before any parsing), check the HMAC over
those raw bytes, INSERT one `WebhookDelivery` row keyed by the webhook id, and enqueue its
processing once that row is committed. A duplicate delivery (Shopify delivers at least once, and
may deliver the same id ten times at once) hits the unique webhook id, is caught as an
IntegrityError, and is acknowledged with 200 and nothing more.

Statuses, as Shopify and App Review expect: 405 for other methods (routing), 413 over
`settings.webhook_max_bytes`, 400 when a required header is missing, 401 when the HMAC does not
match the current or the previous client secret.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from flask import Blueprint, Response, current_app, request
from sqlalchemy import Insert, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from shopify_app import db
from shopify_app.models import DeliveryOutcome, Shop, WebhookDelivery, utcnow
from shopify_app.queues import get_broker
from shopify_app.settings import Settings
from shopify_app.shopify import sdk

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

PROCESS_DELIVERY = "jobs.webhooks.process_delivery"
# Both header families: the classic `X-Shopify-…` and the newer unprefixed `shopify-…`
# (Shopify Events). Werkzeug's header lookup is case-insensitive.
_PREFIXES = ("X-Shopify-", "Shopify-")
_REQUIRED = ("Hmac-Sha256", "Topic", "Shop-Domain", "Webhook-Id", "API-Version")

# Pre-built answers: the endpoint is hot, and these never change.
_JSON = "application/json"
_OK = b'{"status":"received"}'
_DUPLICATE = b'{"status":"duplicate"}'


def _answer(status: int, body: bytes | str) -> Response:
    if isinstance(body, str):
        body = json.dumps({"detail": body}).encode()
    return Response(body, status=status, content_type=_JSON)


@functools.cache
def _insert_delivery() -> Insert:
    table = WebhookDelivery.__table__
    shops = Shop.__table__
    return (
        insert(table)
        .values(
            webhook_id=bindparam("webhook_id"),
            topic=bindparam("topic"),
            shop_domain=bindparam("shop_domain"),
            # The shop's id when we know the shop, in the same statement (no extra round trip).
            shop_id=select(shops.c.id).where(shops.c.domain == bindparam("shop_domain"))
            .scalar_subquery(),
            api_version=bindparam("api_version"),
            triggered_at=bindparam("triggered_at"),
            payload=bindparam("payload"),
            outcome=bindparam("outcome"),
            attempts=bindparam("attempts"),
            received_at=bindparam("received_at"),
        )
        .returning(table.c.id)
    )


def enqueue_delivery(delivery_id: int) -> bool:
    """Queue `process_delivery(delivery_id)` in one Redis round trip; False when Redis failed
    (the reconciler will find the row)."""
    broker = get_broker()
    try:
        with broker.redis.pipeline() as pipe:
            broker.queue("webhooks").enqueue(PROCESS_DELIVERY, delivery_id,
                                             job_id=f"webhook-delivery-{delivery_id}", pipeline=pipe)
            pipe.execute()
    except Exception:
        log.exception("could not enqueue webhook delivery %s; the reconciler will retry", delivery_id)
        return False
    return True


def _header(name: str) -> str | None:
    headers = request.headers
    for prefix in _PREFIXES:
        value = headers.get(prefix + name)
        if value:
            return value
    return None


def _read_capped_body(limit: int) -> bytes | None:
    """The raw body, or None when it is larger than `limit` (read at most limit + 1 bytes)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        return None
    body = request.stream.read(limit + 1)
    return None if len(body) > limit else body


@bp.post("/webhooks")
def receive() -> Response:
    settings: Settings = current_app.config["STUDIO_SETTINGS"]
    body = _read_capped_body(settings.webhook_max_bytes)
    if body is None:
        return _answer(413, "webhook body too large")

    values = {name: _header(name) for name in _REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if missing:
        return _answer(400, "missing headers: " + ", ".join(f"X-Shopify-{m}" for m in missing))

    verdict = sdk.verify_webhook(settings, "POST", {"X-Shopify-Hmac-Sha256": values["Hmac-Sha256"]}, body)
    if not verdict.ok:
        # 401 for a wrong signature (App Review checks this on the compliance topics).
        return _answer(verdict.status, "invalid webhook signature" if verdict.status == 401
                       else "malformed webhook")

    shop_domain = sdk.sanitize_shop(values["Shop-Domain"])
    webhook_id = values["Webhook-Id"] or ""
    topic = (values["Topic"] or "").strip().lower()
    if shop_domain is None or len(webhook_id) > 255 or len(topic) > 80:
        return _answer(400, "malformed webhook headers")

    payload: Any
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None  # signed but not JSON: recorded, and the handler will say so

    session = db.session()
    params = {
        "webhook_id": webhook_id,
        "topic": topic,
        "shop_domain": shop_domain,
        "api_version": (values["API-Version"] or "")[:20],
        "triggered_at": (_header("Triggered-At") or "")[:64] or None,
        "payload": payload,
        "outcome": DeliveryOutcome.RECEIVED,
        "attempts": 0,
        "received_at": utcnow(),
    }
    try:
        # Core, on the session's own connection and transaction: this statement is compiled
        # once per process, not rebuilt by the ORM on every delivery.
        delivery_id = session.connection().execute(_insert_delivery(), params).scalar_one()
        session.commit()
    except IntegrityError:
        # The unique webhook id: this delivery is already recorded (and enqueued by whoever
        # recorded it). Acknowledge and do nothing more.
        session.rollback()
        return _answer(200, _DUPLICATE)
    # After the commit, never before: a job must not run ahead of its row. If Redis fails here
    # the row stays `received` and `jobs.webhooks.requeue_stale_deliveries` enqueues it again.
    enqueue_delivery(delivery_id)
    return _answer(200, _OK)
