"""Ten concurrent copies of one delivery: one row, one job, ten 200s.

Each thread is its own request against the real WSGI app with its own database connection, so
the unique webhook id is what decides (run with TEST_DATABASE_URL for PostgreSQL; SQLite by
default)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from shopify_app.models import WebhookDelivery
from tests.support.shopify import fixture_bytes, webhook_headers
from tests.webhooks.conftest import queued_webhook_jobs

COPIES = 10


def test_ten_concurrent_duplicates_make_one_row_and_one_job(app, session, shop) -> None:
    body = fixture_bytes("webhooks", "products_create")
    headers = webhook_headers("products/create", body, webhook_id="c0ffee00-0000-4000-8000-000000000001")
    barrier = threading.Barrier(COPIES)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post("/webhooks", data=body, headers=headers).status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert statuses == [200] * COPIES
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    [job] = queued_webhook_jobs(app)
    assert job.args == (session.scalar(select(WebhookDelivery.id)),)


def test_distinct_deliveries_in_parallel_are_all_recorded(app, session, shop) -> None:
    body = fixture_bytes("webhooks", "products_create")
    barrier = threading.Barrier(COPIES)
    statuses: list[int] = []

    def post(i: int) -> None:
        client = app.test_client()
        headers = webhook_headers("products/update", body, webhook_id=f"distinct-{i}")
        barrier.wait()
        statuses.append(client.post("/webhooks", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(COPIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [200] * COPIES
    assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == COPIES
    assert len(queued_webhook_jobs(app)) == COPIES
