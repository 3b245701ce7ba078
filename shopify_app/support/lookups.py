"""Request-log lookup by request id, and webhook deliveries by id, topic or shop."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from shopify_app import db
from shopify_app.models import DeliveryOutcome, RequestLog, Shop, WebhookDelivery
from shopify_app.requestctx import valid_request_id
from shopify_app.support import bp, paging
from shopify_app.support.redact import redact_value


@bp.get("/requests")
def request_logs() -> ResponseReturnValue:
    session = db.session()
    request_id = request.args.get("request_id", "").strip().upper()
    if request_id:
        if valid_request_id(request_id) and session.get(RequestLog, request_id) is not None:
            return redirect(url_for("support.request_log_detail", request_id=request_id))
        return render_template("support/requests.html", page=None, request_id=request_id,
                               shop_id="", not_found=True), 404
    shop_id = request.args.get("shop", "").strip()
    stmt = select(RequestLog)
    cursor = request.args.get("cursor") or None
    if shop_id:
        page = paging.keyset(session, stmt.where(RequestLog.shop_id == shop_id),
                             RequestLog.created_at, RequestLog.request_id, cursor)
    else:
        # The request id is a ULID: its primary-key order is time order.
        page = paging.by_key(session, stmt, RequestLog.request_id, cursor)
    return render_template("support/requests.html", page=page, request_id="", shop_id=shop_id,
                           not_found=False)


@bp.get("/requests/<request_id>")
def request_log_detail(request_id: str) -> str:
    log = db.session().get(RequestLog, request_id.upper())
    if log is None:
        abort(404)
    return render_template("support/request.html", log=log,
                           response_body=redact_value(log.response_body or {}),
                           shop=db.session().get(Shop, log.shop_id) if log.shop_id else None)


@bp.get("/deliveries")
def deliveries() -> ResponseReturnValue:
    session = db.session()
    lookup = request.args.get("id", "").strip()
    if lookup:
        # Our row id or Shopify's X-Shopify-Webhook-Id.
        delivery = None
        if lookup.isdigit() and len(lookup) < 19:
            delivery = session.get(WebhookDelivery, int(lookup))
        if delivery is None:
            delivery = session.scalar(select(WebhookDelivery).where(WebhookDelivery.webhook_id == lookup))
        if delivery is not None:
            return redirect(url_for("support.delivery_detail", delivery_id=delivery.id))
        return render_template("support/deliveries.html", page=None, topic="", shop="", outcome="",
                               lookup=lookup, outcomes=list(DeliveryOutcome), not_found=True), 404
    topic = request.args.get("topic", "").strip()
    shop = request.args.get("shop", "").strip().lower()
    outcome = request.args.get("outcome", "").strip()
    stmt = select(WebhookDelivery)
    if topic:
        stmt = stmt.where(WebhookDelivery.topic == topic)
    if shop:
        stmt = stmt.where(WebhookDelivery.shop_domain == shop)
    if outcome in {o.value for o in DeliveryOutcome}:
        stmt = stmt.where(WebhookDelivery.outcome == DeliveryOutcome(outcome))
    else:
        outcome = ""
    page = paging.keyset(session, stmt, WebhookDelivery.received_at, WebhookDelivery.id,
                         request.args.get("cursor") or None)
    return render_template("support/deliveries.html", page=page, topic=topic, shop=shop,
                           outcome=outcome, lookup="", outcomes=list(DeliveryOutcome), not_found=False)


@bp.get("/deliveries/<int:delivery_id>")
def delivery_detail(delivery_id: int) -> str:
    delivery = db.session().get(WebhookDelivery, delivery_id) if delivery_id < 2**63 else None
    if delivery is None:
        abort(404)
    return render_template("support/delivery.html", delivery=delivery,
                           payload=redact_value(delivery.payload or {}))
