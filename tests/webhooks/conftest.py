"""Fixtures for the webhook tests: an installed shop and a way to post signed deliveries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shopify_app.models import Shop, utcnow
from shopify_app.queues import get_broker
from tests.support.shopify import TEST_SHOP, fixture_bytes, webhook_headers


@pytest.fixture
def shop(app: Flask, session) -> Shop:  # noqa: ANN001
    row = Shop(
        domain=TEST_SHOP,
        access_token="shpat_webhooks00000000000000000000",
        access_token_expires_at=utcnow() + dt.timedelta(minutes=55),
        refresh_token="shprt_webhooks00000000000000000000",
        refresh_token_expires_at=utcnow() + dt.timedelta(days=89),
        scopes="read_products,write_products,read_files,write_files",
        installed_at=utcnow() - dt.timedelta(days=3),
    )
    session.add(row)
    session.commit()
    return row


Deliver = Callable[..., object]


@pytest.fixture
def deliver(client: FlaskClient) -> Deliver:
    """POST a fixture payload to /webhooks, signed as Shopify would."""

    def post(topic: str, fixture_name: str | None = None, body: bytes | None = None, **header_args):  # noqa: ANN003, ANN202
        if body is None:
            body = fixture_bytes("webhooks", fixture_name or topic.replace("/", "_"))
        return client.post("/webhooks", data=body, headers=webhook_headers(topic, body, **header_args))

    return post


def queued_webhook_jobs(app: Flask) -> list:
    queue = get_broker(app).queue("webhooks")
    return [queue.fetch_job(job_id) for job_id in queue.get_job_ids()]
