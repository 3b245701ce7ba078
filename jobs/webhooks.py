"""Webhook processing: one job per recorded `WebhookDelivery`, on the `webhooks` queue.

`process_delivery(delivery_id)` may run more than once for one delivery (a lost message put
back, support's "run again"); the topic handlers are idempotent, so that is safe.
"""

from __future__ import annotations

import datetime as dt
import logging

from flask import current_app
from sqlalchemy import select

from jobs.runtime import studio_job
from shopify_app import db
from shopify_app.models import DeliveryOutcome, Shop, WebhookDelivery, utcnow
from shopify_app.queues import enqueue_after_commit
from shopify_app.webhooks.handlers import HANDLERS, skipped

log = logging.getLogger(__name__)

# A delivery still `received` this long after it arrived lost its message (Redis flushed).
STALE_AFTER = dt.timedelta(minutes=2)
# A delivery whose handler fails this many times is marked failed (support can re-run it).
MAX_ATTEMPTS = 5


@studio_job
def process_delivery(delivery_id: int) -> str:
    """Run the topic's handler for a recorded delivery; returns the outcome."""
    session = db.session()
    delivery = session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )
    if delivery is None:
        log.info("webhook delivery %s no longer exists (shop redacted?)", delivery_id)
        return "missing"
    shop = None
    if delivery.shop_id is not None:
        shop = session.get(Shop, delivery.shop_id)
    if shop is None:
        shop = session.scalar(select(Shop).where(Shop.domain == delivery.shop_domain))
        if shop is not None and delivery.topic != "shop/redact":
            delivery.shop_id = shop.id
    delivery.attempts += 1
    handler = HANDLERS.get(delivery.topic)
    try:
        # A savepoint: a handler that raises loses its own writes, not the attempt count.
        with session.begin_nested():
            result = (handler(session, delivery, shop) if handler is not None
                      else skipped(f"no handler for topic {delivery.topic}"))
    except Exception as exc:
        give_up = delivery.attempts >= MAX_ATTEMPTS
        delivery.note = f"attempt {delivery.attempts} failed: {type(exc).__name__}: {exc}"[:1000]
        if give_up:
            # Stop here: the reconciler only sends `received` deliveries again.
            delivery.outcome = DeliveryOutcome.FAILED
            delivery.processed_at = utcnow()
        session.commit()
        if give_up:
            log.exception("webhook %s %s failed %d times; giving up", delivery.topic,
                          delivery.webhook_id, delivery.attempts)
            return str(DeliveryOutcome.FAILED)
        raise  # RQ records the failure; the reconciler sends it again later
    delivery.outcome = result.outcome
    delivery.note = result.note
    delivery.processed_at = utcnow()
    log.info("webhook %s %s: %s (%s)", delivery.topic, delivery.webhook_id, result.outcome,
             result.note)
    return str(result.outcome)


def requeue_stale_deliveries(now: dt.datetime | None = None, limit: int = 500) -> int:
    """Enqueue again deliveries recorded but never processed (for the reconciler); returns how many.

    Call inside an app context with a session the caller commits (the enqueue fires on commit)."""
    session = db.session()
    cutoff = (now or utcnow()) - STALE_AFTER
    ids = session.scalars(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.outcome == DeliveryOutcome.RECEIVED,
               WebhookDelivery.received_at < cutoff)
        .order_by(WebhookDelivery.id)
        .limit(limit)
    ).all()
    from jobs.maintenance import rq_job_lost

    stale_after = dt.timedelta(seconds=3 * current_app.config["STUDIO_SETTINGS"].worker_heartbeat_seconds)
    requeued = 0
    for delivery_id in ids:
        rq_job_id = f"webhook-delivery-{delivery_id}"
        # A backlog is not a loss: only deliveries whose message is gone (or died) go again.
        if rq_job_lost(rq_job_id, stale_after):
            enqueue_after_commit(session, "webhooks", "jobs.webhooks.process_delivery", delivery_id,
                                 job_id=rq_job_id)
            requeued += 1
    return requeued
