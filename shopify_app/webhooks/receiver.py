"""`POST /webhooks`: verify, record, enqueue, answer. Nothing else happens here.

Shopify waits about 5 s and retries failures for hours, so the endpoint only does what makes a
delivery safe to acknowledge: read the body (capped, before any parsing), check the HMAC over
those raw bytes, and hand the delivery to the process's group-commit writer
(`shopify_app.webhooks.writer`), which INSERTs one `WebhookDelivery` row per webhook id — many
deliveries per statement and commit under load — and enqueues their processing once committed.
A duplicate delivery (Shopify delivers at least once, and may deliver the same id ten times at
once) conflicts on the unique webhook id and is acknowledged with 200 and nothing more.

Statuses, as Shopify and App Review expect: 405 for other methods (routing), 413 over
`settings.webhook_max_bytes`, 400 when a required header is missing, 401 when the HMAC does not
match the current or the previous client secret, 503 when the delivery could not be recorded
(Shopify retries; a 200 always means the row is committed).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, current_app, request

from shopify_app.models import utcnow
from shopify_app.settings import Settings
from shopify_app.shopify import sdk
from shopify_app.webhooks.writer import Delivery, DeliveryNotRecorded, get_writer

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

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

    return _record(Delivery(
        webhook_id=webhook_id,
        topic=topic,
        shop_domain=shop_domain,
        api_version=(values["API-Version"] or "")[:20],
        triggered_at=(_header("Triggered-At") or "")[:64] or None,
        payload=_json_text(body),
        received_at=utcnow(),
    ))


def _record(delivery: Delivery) -> Response:
    try:
        delivery_id = get_writer(current_app._get_current_object()).record(delivery)  # type: ignore[attr-defined]
    except DeliveryNotRecorded as exc:
        log.warning("webhook %s %s not recorded: %s", delivery.topic, delivery.webhook_id, exc)
        return _answer(503, "delivery not recorded; retry later")
    return _answer(200, _DUPLICATE if delivery_id is None else _OK)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_text(body: bytes) -> str | None:
    """The body as the JSON text to store, or None when it is not JSON (the handler job will
    say so). The text is stored as received — parsed here only to check it, never re-encoded —
    and NaN/Infinity, which Python accepts but JSON (and PostgreSQL) do not, count as not JSON."""
    try:
        text = body.decode("utf-8")  # verified UTF-8 already (a non-UTF-8 body is a 400)
        json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None
    return text
