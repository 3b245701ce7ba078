"""POST /webhooks: HMAC over raw bytes, statuses, recording and enqueueing."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from sqlalchemy import func, select

from shopify_app.models import DeliveryOutcome, WebhookDelivery
from tests.conftest import CLIENT_SECRET, PREVIOUS_SECRET
from tests.support.shopify import TEST_SHOP, fixture_bytes, webhook_headers
from tests.webhooks.conftest import queued_webhook_jobs

BODY = fixture_bytes("webhooks", "products_create")


def _count(session) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(WebhookDelivery))


def test_valid_delivery_is_recorded_and_enqueued(app, client, session, shop) -> None:
    headers = webhook_headers("products/create", BODY, webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043")
    response = client.post("/webhooks", data=BODY, headers=headers)
    assert response.status_code == 200
    delivery = session.scalar(select(WebhookDelivery))
    assert delivery.webhook_id == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert delivery.topic == "products/create"
    assert delivery.shop_domain == TEST_SHOP
    assert delivery.shop_id == shop.id
    assert delivery.api_version == "2026-10"
    assert delivery.triggered_at == headers["X-Shopify-Triggered-At"]
    assert delivery.payload["admin_graphql_api_id"] == "gid://shopify/Product/788032119674292922"
    assert delivery.outcome == DeliveryOutcome.RECEIVED
    [job] = queued_webhook_jobs(app)
    assert job.func_name == "jobs.webhooks.process_delivery"
    assert job.args == (delivery.id,)


def test_delivery_for_an_unknown_shop_is_still_recorded(client, session) -> None:
    response = client.post("/webhooks", data=BODY, headers=webhook_headers("products/create", BODY))
    assert response.status_code == 200
    assert session.scalar(select(WebhookDelivery.shop_id)) is None


def test_tampered_body_is_401(app, client, session, shop) -> None:
    headers = webhook_headers("products/create", BODY)
    response = client.post("/webhooks", data=BODY.replace(b"Linen", b"Silk!"), headers=headers)
    assert response.status_code == 401
    assert _count(session) == 0 and queued_webhook_jobs(app) == []


def test_reformatted_json_is_401(client, session) -> None:
    # The HMAC is over the raw bytes: the same JSON re-serialised does not verify.
    import json

    headers = webhook_headers("products/create", BODY)
    reformatted = json.dumps(json.loads(BODY)).encode()
    assert client.post("/webhooks", data=reformatted, headers=headers).status_code == 401


def test_previous_secret_is_accepted(client, session) -> None:
    headers = webhook_headers("products/create", BODY, secret=PREVIOUS_SECRET)
    assert client.post("/webhooks", data=BODY, headers=headers).status_code == 200


def test_other_secret_is_401(client) -> None:
    headers = webhook_headers("products/create", BODY, secret="a-third-secret-0123456789abcdef")
    assert client.post("/webhooks", data=BODY, headers=headers).status_code == 401


@pytest.mark.parametrize("encode", [
    lambda digest: digest.hex(),  # hex instead of base64
    lambda digest: base64.urlsafe_b64encode(digest).decode().rstrip("="),
    lambda digest: base64.b64encode(digest).decode().lower(),
    lambda digest: " " + base64.b64encode(digest).decode() + "x",
    lambda digest: "é" + base64.b64encode(digest).decode()[1:],
])
def test_wrong_encoding_is_401(client, encode) -> None:  # noqa: ANN001
    digest = hmac.new(CLIENT_SECRET.encode(), BODY, hashlib.sha256).digest()
    headers = webhook_headers("products/create", BODY)
    headers["X-Shopify-Hmac-Sha256"] = encode(digest)
    assert client.post("/webhooks", data=BODY, headers=headers).status_code == 401


@pytest.mark.parametrize("family", ["X-Shopify-", "shopify-", "x-shopify-", "SHOPIFY-"])
def test_both_header_families(client, session, family: str) -> None:
    headers = webhook_headers("products/create", BODY, family=family)
    assert client.post("/webhooks", data=BODY, headers=headers).status_code == 200
    assert _count(session) == 1


@pytest.mark.parametrize("missing", ["Hmac-Sha256", "Topic", "Shop-Domain", "Webhook-Id", "API-Version"])
def test_missing_required_header_is_400(client, session, missing: str) -> None:
    headers = webhook_headers("products/create", BODY)
    del headers[f"X-Shopify-{missing}"]
    response = client.post("/webhooks", data=BODY, headers=headers)
    assert response.status_code == 400
    assert _count(session) == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(client, method: str) -> None:
    response = client.open("/webhooks", method=method, data=BODY,
                           headers=webhook_headers("products/create", BODY))
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_body_over_the_cap_is_413_before_anything_else(client, settings, session) -> None:
    big = b'{"pad":"' + b"x" * settings.webhook_max_bytes + b'"}'
    response = client.post("/webhooks", data=big, headers=webhook_headers("products/create", big))
    assert response.status_code == 413
    # Without a Content-Length (chunked) the cap still holds.
    import io

    headers = webhook_headers("products/create", big)
    response = client.post("/webhooks", input_stream=io.BytesIO(big),
                           headers={**headers, "Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})  # as gunicorn sets
    assert response.status_code == 413
    assert _count(session) == 0


def test_body_at_the_cap_is_accepted(client, settings) -> None:
    body = b'{"pad":"' + b"x" * (settings.webhook_max_bytes - 10) + b'"}'
    assert len(body) == settings.webhook_max_bytes
    assert client.post("/webhooks", data=body, headers=webhook_headers("products/update", body)).status_code == 200


def test_non_utf8_body_is_refused_not_500(client) -> None:
    body = b'{"title":"\xff\xfe"}'
    response = client.post("/webhooks", data=body, headers=webhook_headers("products/create", body))
    assert response.status_code == 400


@pytest.mark.parametrize("domain", ["evil.com", "studio-test-shop.myshopify.com.evil.com", "a b.myshopify.com"])
def test_invalid_shop_domain_header_is_400(client, session, domain: str) -> None:
    headers = webhook_headers("products/create", BODY, shop=domain)
    assert client.post("/webhooks", data=BODY, headers=headers).status_code == 400
    assert _count(session) == 0


def test_duplicate_delivery_answers_200_and_does_nothing_more(app, client, session, shop) -> None:
    headers = webhook_headers("products/create", BODY, webhook_id="dup-1")
    assert client.post("/webhooks", data=BODY, headers=headers).status_code == 200
    response = client.post("/webhooks", data=BODY, headers=headers)
    assert response.status_code == 200
    assert response.json == {"status": "duplicate"}
    assert _count(session) == 1
    assert len(queued_webhook_jobs(app)) == 1


def test_signed_non_json_body_is_recorded_and_skipped(app, client, session, shop) -> None:
    from tests.support.worker import drain

    body = b"not json"
    assert client.post("/webhooks", data=body, headers=webhook_headers("products/create", body)).status_code == 200
    drain(app)
    delivery = session.scalar(select(WebhookDelivery))
    session.refresh(delivery)
    assert delivery.payload is None
    assert delivery.outcome == DeliveryOutcome.SKIPPED
