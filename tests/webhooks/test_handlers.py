"""What each topic does once its delivery is processed, and that re-running it changes nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from jobs.webhooks import process_delivery, requeue_stale_deliveries
from shopify_app import credits
from shopify_app.models import (
    CreditLedger,
    DeliveryOutcome,
    GenerationJob,
    JobStatus,
    LedgerKind,
    Product,
    Shop,
    WebhookDelivery,
    utcnow,
)
from shopify_app.webhooks import handlers
from tests.support.shopify import TEST_SHOP, fixture_bytes
from tests.support.worker import drain

GID = "gid://shopify/Product/788032119674292922"


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unless a test hands in an engine, behave as if the auto-shoot engine were not there."""
    monkeypatch.setattr(handlers, "_autoshoot_entry", lambda: None)


def _delivery(session, topic: str) -> WebhookDelivery:  # noqa: ANN001
    session.expire_all()
    return session.scalar(select(WebhookDelivery).where(WebhookDelivery.topic == topic)
                          .order_by(WebhookDelivery.id.desc()))


def _pending_job(session, shop: Shop, product_id: str | None = GID, cost: int = 3) -> GenerationJob:  # noqa: ANN001
    job = GenerationJob(shop_id=shop.id, workflow="try-on", shopify_product_id=product_id,
                        status=JobStatus.IN_PROGRESS)
    session.add(job)
    session.flush()
    credits.charge(session, job, cost)
    session.commit()
    return job


def _balance(session, shop: Shop) -> int:  # noqa: ANN001
    return credits.balance(session, shop.id)


def test_products_create_records_the_product_pending_the_engine(app, session, shop, deliver) -> None:
    assert deliver("products/create").status_code == 200
    drain(app)
    product = session.scalar(select(Product))
    assert product.shop_id == shop.id and product.shopify_product_id == GID
    assert product.title == "Linen Camp Shirt"
    assert product.image_url.startswith("https://cdn.shopify.com/")
    assert product.auto_shoot_status == "pending_engine"
    delivery = _delivery(session, "products/create")
    assert delivery.outcome == DeliveryOutcome.PROCESSED and delivery.processed_at


def test_products_create_hands_the_product_to_the_engine_once(app, session, shop, deliver, monkeypatch) -> None:
    calls = []

    def on_product_created(session_, shop_, product) -> None:  # noqa: ANN001
        calls.append((shop_.id, product.shopify_product_id))
        product.auto_shoot_status = "queued"

    monkeypatch.setattr(handlers, "_autoshoot_entry", lambda: on_product_created)
    deliver("products/create")
    drain(app)
    process_delivery(_delivery(session, "products/create").id)  # support's "run again"
    assert calls == [(shop.id, GID)]
    assert session.scalar(select(func.count()).select_from(Product)) == 1


def test_products_update_updates_the_record(app, session, shop, deliver) -> None:
    deliver("products/create")
    payload = json.loads(fixture_bytes("webhooks", "products_create"))
    payload["title"] = "Linen Camp Shirt (Sand)"
    deliver("products/update", body=json.dumps(payload).encode())
    drain(app)
    assert session.scalar(select(Product.title)) == "Linen Camp Shirt (Sand)"
    assert session.scalar(select(func.count()).select_from(Product)) == 1


def test_products_delete_marks_deleted_and_cancels_pending_work_with_refunds(app, session, shop, deliver) -> None:
    credits.grant(session, shop.id, 10, "test credits")
    session.commit()
    deliver("products/create")
    drain(app)
    pending = _pending_job(session, shop)
    other_product = _pending_job(session, shop, product_id="gid://shopify/Product/1")
    assert _balance(session, shop) == 4

    deliver("products/delete")
    drain(app)
    session.expire_all()
    assert session.scalar(select(Product.deleted_at)) is not None
    pending = session.get(GenerationJob, pending.id)
    assert pending.status == JobStatus.FAILURE and pending.error_code == "product_deleted"
    assert session.get(GenerationJob, other_product.id).status == JobStatus.IN_PROGRESS
    assert _balance(session, shop) == 7

    process_delivery(_delivery(session, "products/delete").id)  # re-run: no second refund
    assert _balance(session, shop) == 7
    refunds = session.scalar(select(func.count()).select_from(CreditLedger)
                             .where(CreditLedger.kind == LedgerKind.REFUND))
    assert refunds == 1


def test_late_create_after_delete_does_not_shoot(app, session, shop, deliver, monkeypatch) -> None:
    monkeypatch.setattr(handlers, "_autoshoot_entry", lambda: pytest.fail("engine called"))
    deliver("products/delete")
    drain(app)
    deliver("products/create")
    drain(app)
    assert _delivery(session, "products/create").outcome == DeliveryOutcome.SKIPPED


def test_app_uninstalled_wipes_tokens_and_stops_jobs(app, session, shop, deliver) -> None:
    credits.grant(session, shop.id, 10, "test credits")
    session.commit()
    job = _pending_job(session, shop, product_id=None)
    assert deliver("app/uninstalled").status_code == 200
    drain(app)
    session.expire_all()
    shop = session.get(Shop, shop.id)
    assert shop.uninstalled_at is not None
    assert shop.access_token is None and shop.refresh_token is None
    assert shop.access_token_expires_at is None
    job = session.get(GenerationJob, job.id)
    assert job.status == JobStatus.FAILURE and job.error_code == "app_uninstalled"
    assert _balance(session, shop) == 10


def test_stale_uninstall_does_not_touch_a_reinstalled_shop(app, session, shop, deliver) -> None:
    deliver("app/uninstalled", triggered_at="2020-01-01T00:00:00.000Z")
    drain(app)
    session.expire_all()
    assert session.get(Shop, shop.id).access_token == "shpat_webhooks00000000000000000000"
    assert _delivery(session, "app/uninstalled").outcome == DeliveryOutcome.SKIPPED


def test_scopes_update(app, session, shop, deliver) -> None:
    shop.scopes = "read_products"
    session.commit()
    deliver("app/scopes_update")
    drain(app)
    session.expire_all()
    assert session.get(Shop, shop.id).scope_set == {"read_products", "write_products", "read_files", "write_files"}


@pytest.mark.parametrize("topic", ["customers/data_request", "customers/redact"])
def test_customer_topics_are_recorded_and_answered(app, session, shop, deliver, topic: str) -> None:
    assert deliver(topic).status_code == 200
    drain(app)
    delivery = _delivery(session, topic)
    assert delivery.outcome == DeliveryOutcome.PROCESSED
    assert "no customer data" in delivery.note
    if topic == "customers/redact":
        assert delivery.payload is None  # not even the request's customer details are kept


def test_shop_redact_deletes_the_shop_its_files_and_deliveries(app, settings, session, shop, deliver) -> None:
    credits.grant(session, shop.id, 10, "test credits")
    session.commit()
    deliver("products/create")
    deliver("customers/data_request")
    drain(app)
    _pending_job(session, shop)
    media = settings.media_root / shop.id
    (media / "assets").mkdir(parents=True)
    (media / "assets" / "tryon.png").write_bytes(b"\x89PNG fake")
    neighbour = settings.media_root / "01NEIGHBOURSHOP000000000000"
    neighbour.mkdir(parents=True)
    shop.uninstalled_at = utcnow()
    session.commit()
    shop_id = shop.id

    assert deliver("shop/redact").status_code == 200
    drain(app)
    session.expire_all()
    assert session.get(Shop, shop_id) is None
    for model in (Product, GenerationJob, CreditLedger):
        assert session.scalar(select(func.count()).select_from(model)) == 0, model
    assert not media.exists() and neighbour.exists()
    remaining = session.scalars(select(WebhookDelivery)).all()
    assert [d.topic for d in remaining] == ["shop/redact"]
    assert remaining[0].payload is None and remaining[0].shop_id is None
    assert remaining[0].outcome == DeliveryOutcome.PROCESSED

    process_delivery(remaining[0].id)  # idempotent re-run
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_unknown_topic_is_recorded_and_skipped(app, session, deliver) -> None:
    deliver("orders/create", body=b'{"id": 1}')
    drain(app)
    assert _delivery(session, "orders/create").outcome == DeliveryOutcome.SKIPPED


def test_lost_messages_are_requeued_from_the_database(app, session, shop, deliver) -> None:
    import datetime as dt

    from shopify_app.queues import get_broker

    deliver("products/create")
    get_broker(app).redis.flushdb()  # the message is lost; the row is not
    assert requeue_stale_deliveries(now=utcnow() + dt.timedelta(minutes=5)) == 1
    session.commit()
    drain(app)
    assert _delivery(session, "products/create").outcome == DeliveryOutcome.PROCESSED
    assert TEST_SHOP == shop.domain
