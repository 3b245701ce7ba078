"""What staff see: every page renders, secrets never show, lists page and lookups find."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from shopify_app import db
from shopify_app.models import GenerationJob, JobStatus, RequestLog, StaffUser, new_ulid, utcnow
from shopify_app.seed import seed_defaults
from shopify_app.support import paging
from tests.staff.helpers import ConsoleActions
from tests.support_console.factories import (
    ACCESS_TOKEN,
    make_asset,
    make_delivery,
    make_failed_job,
    make_shop,
    make_skipped_product,
)


@pytest.fixture
def signed_in(console: ConsoleActions, admin: StaffUser) -> ConsoleActions:
    console.login()
    return console


def test_shop_page_shows_the_case_but_never_the_token(signed_in: ConsoleActions, app: Flask) -> None:
    shop = make_shop()
    job = make_failed_job(shop)
    make_delivery(shop)
    make_skipped_product(shop)
    page = signed_in.client.get(f"/support/shops/{shop.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert ACCESS_TOKEN not in html and "held (never shown)" in html
    for text in (shop.domain, "read_products", job.id, "products/create", "no product image",
                 "starter credits", "Balance"):
        assert text in html, text


def test_job_page_tells_the_story_with_secrets_redacted(signed_in: ConsoleActions, app: Flask) -> None:
    shop = make_shop()
    job = make_failed_job(shop)
    asset = make_asset(job)
    html = signed_in.client.get(f"/support/jobs/{job.id}").get_data(as_text=True)
    assert "fal-secret-0123456789" not in html and "[REDACTED]" in html
    for text in ("primary provider task submitted", "fallback provider task submitted",
                 "503 from upstream", "renderer crashed", "provider_failed", "gid://shopify/MediaImage/77",
                 f"/support/assets/{asset.id}", "Retry job", "refunded 2"):
        assert text in html, text
    image = signed_in.client.get(f"/support/assets/{asset.id}")
    try:
        assert image.status_code == 200 and image.mimetype == "image/png"
        assert image.headers["Cache-Control"] == "private, no-store"
        assert image.get_data()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        image.close()


def test_asset_outside_the_media_root_is_not_served(signed_in: ConsoleActions, app: Flask) -> None:
    shop = make_shop()
    asset = make_asset(make_failed_job(shop))
    asset.storage_key = "../../etc/passwd"
    db.session().commit()
    assert signed_in.client.get(f"/support/assets/{asset.id}").status_code == 404


def test_every_list_page_renders(signed_in: ConsoleActions, app: Flask) -> None:
    list(seed_defaults())
    shop = make_shop()
    make_failed_job(shop)
    make_delivery(shop)
    for path in ("/support/", "/support/shops", "/support/shops?q=acme", f"/support/shops/{shop.id}/ledger",
                 f"/support/shops/{shop.id}/catalog-models", f"/support/shops/{shop.id}/auto-shoot",
                 "/support/jobs", "/support/jobs?status=FAILURE", f"/support/jobs?shop={shop.id}",
                 "/support/requests", f"/support/requests?shop={shop.id}", "/support/deliveries",
                 "/support/deliveries?topic=products/create", f"/support/deliveries?shop={shop.domain}",
                 "/support/queues", "/support/queues/generation/failed", "/support/queues/media/scheduled",
                 "/support/generation-models", "/support/audit", "/support/api/queues"):
        response = signed_in.client.get(path)
        assert response.status_code == 200, path


def test_jobs_list_pages_by_keyset(signed_in: ConsoleActions, app: Flask) -> None:
    shop = make_shop()
    session = db.session()
    start = utcnow()
    ids = []
    for i in range(paging.PAGE_SIZE + 5):
        job = GenerationJob(shop_id=shop.id, workflow="try-on", status=JobStatus.SUCCESS,
                            created_at=start + dt.timedelta(seconds=i // 2))  # ties on purpose
        session.add(job)
        ids.append(job)
    session.commit()
    first = signed_in.client.get("/support/jobs").get_data(as_text=True)
    assert "Next →" in first
    cursor = first.split("cursor=")[1].split('"')[0]
    second = signed_in.client.get(f"/support/jobs?cursor={cursor}").get_data(as_text=True)
    seen_first = {j.id for j in ids if j.id in first}
    seen_second = {j.id for j in ids if j.id in second}
    assert len(seen_first) == paging.PAGE_SIZE and len(seen_second) == 5
    assert not seen_first & seen_second
    assert signed_in.client.get("/support/jobs?cursor=garbage").status_code == 200


def test_request_log_lookup(signed_in: ConsoleActions, app: Flask) -> None:
    shop = make_shop()
    request_id = new_ulid()
    db.session().add(RequestLog(request_id=request_id, shop_id=shop.id, method="POST",
                                path="/v1/try-on", status_code=202, auth_kind="api_key",
                                response_body={"request_id": request_id, "access_token": "shpat_abcdefabcdef12"}))
    db.session().commit()
    found = signed_in.client.get(f"/support/requests?request_id={request_id.lower()}")
    assert found.status_code == 302 and found.headers["Location"].endswith(f"/support/requests/{request_id}")
    detail = signed_in.client.get(found.headers["Location"]).get_data(as_text=True)
    assert "/v1/try-on" in detail and "shpat_abcdefabcdef12" not in detail
    assert signed_in.client.get(f"/support/requests?request_id={new_ulid()}").status_code == 404


def test_delivery_lookup_by_id_or_webhook_id(signed_in: ConsoleActions, app: Flask) -> None:
    delivery = make_delivery(make_shop())
    for lookup in (str(delivery.id), delivery.webhook_id):
        response = signed_in.client.get(f"/support/deliveries?id={lookup}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/support/deliveries/{delivery.id}")
    assert signed_in.client.get("/support/deliveries?id=nope").status_code == 404
    assert signed_in.client.get("/support/deliveries/99999999999999999999").status_code == 404


def test_shop_search_by_prefix_and_id(signed_in: ConsoleActions, app: Flask) -> None:
    acme = make_shop("acme-apparel.myshopify.com")
    make_shop("zebra-goods.myshopify.com")
    html = signed_in.client.get("/support/shops?q=ACME").get_data(as_text=True)
    assert "acme-apparel" in html and "zebra-goods" not in html
    assert "acme-apparel" in signed_in.client.get(f"/support/shops?q={acme.id}").get_data(as_text=True)
    assert db.session().scalar(select(GenerationJob)) is None


def test_viewer_sees_pages_without_action_forms(console: ConsoleActions, viewer: StaffUser, app: Flask) -> None:
    from tests.staff.helpers import VIEWER_EMAIL

    console.login(VIEWER_EMAIL)
    shop = make_shop()
    job = make_failed_job(shop)
    html = console.client.get(f"/support/jobs/{job.id}").get_data(as_text=True)
    assert "Retry job" not in html
    assert "Change credits" not in console.client.get(f"/support/shops/{shop.id}").get_data(as_text=True)
