"""A handler that keeps failing is retried a bounded number of times, then marked failed."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from jobs.webhooks import MAX_ATTEMPTS, process_delivery
from shopify_app.models import DeliveryOutcome, Product, Shop, WebhookDelivery
from shopify_app.webhooks import handlers
from tests.support.shopify import TEST_SHOP


def record(session: Session, topic: str, payload: dict, webhook_id: str = "wh-fail-1") -> int:
    delivery = WebhookDelivery(webhook_id=webhook_id, topic=topic, shop_domain=TEST_SHOP, payload=payload)
    session.add(delivery)
    session.commit()
    return delivery.id


def test_a_failing_handler_keeps_its_attempts_then_gives_up(
    app: Flask, session: Session, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def broken(session, delivery, shop):  # noqa: ANN001, ANN202
        calls.append(delivery.id)
        session.add(Product(shop_id=shop.id, shopify_product_id="gid://shopify/Product/999"))
        session.flush()
        raise RuntimeError("upstream exploded")

    monkeypatch.setitem(handlers.HANDLERS, "products/update", broken)
    delivery_id = record(session, "products/update", {"id": 999, "title": "x"})

    for attempt in range(1, MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            process_delivery(delivery_id)
        session.expire_all()
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery.attempts == attempt  # kept, although the handler's work rolled back
        assert delivery.outcome == DeliveryOutcome.RECEIVED  # so the reconciler sends it again
        assert "upstream exploded" in delivery.note

    assert process_delivery(delivery_id) == "failed"  # the last attempt gives up, without raising
    session.expire_all()
    delivery = session.get(WebhookDelivery, delivery_id)
    assert delivery.outcome == DeliveryOutcome.FAILED and delivery.attempts == MAX_ATTEMPTS
    assert len(calls) == MAX_ATTEMPTS
    assert session.scalars(select(Product)).all() == []  # no half-written product survived


def test_nul_characters_in_a_product_payload_are_dropped(app: Flask, session: Session, shop: Shop) -> None:
    payload = json.loads(json.dumps({
        "id": 4242, "admin_graphql_api_id": "gid://shopify/Product/4242",
        "title": "Linen\u0000 shirt", "image": {"src": "https://cdn.shopify.com/a\u0000.jpg"},
    }))
    delivery_id = record(session, "products/update", payload, webhook_id="wh-nul-1")
    process_delivery(delivery_id)
    session.expire_all()
    product = session.scalar(select(Product))
    assert product.title == "Linen shirt"
    assert product.image_url == "https://cdn.shopify.com/a.jpg"


def test_a_product_gid_must_end_in_digits() -> None:
    assert handlers.product_gid({"admin_graphql_api_id": "gid://shopify/Product/12"}) == "gid://shopify/Product/12"
    assert handlers.product_gid({"admin_graphql_api_id": "gid://shopify/Product/1\u0000"}) is None
