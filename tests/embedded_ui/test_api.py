"""The embedded UI's JSON endpoints and documents: session tokens, tenancy, validation, shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shopify_app import credits
from shopify_app.models import (
    Asset,
    CatalogModel,
    CatalogModelStatus,
    GenerationJob,
    JobStatus,
    PublishMode,
    ReviewState,
    Shop,
)
from shopify_app.settings import Settings
from shopify_app.shopify.session_tokens import mint_session_token
from tests.conftest import CLIENT_SECRET
from tests.embedded_ui.conftest import SHOP_A, SHOP_B
from tests.embedded_ui.helpers import image_asset, ready_model, shoot_job
from tests.support.devshop import first_product

Auth = Callable[[str], dict[str, str]]
PRODUCT = "gid://shopify/Product/8840000000004"
ENDPOINTS_GET = ["/app/api/overview", "/app/api/generation-models", "/app/api/catalog-models",
                 "/app/api/jobs", "/app/api/settings", "/app/api/jobs/progress?ids="]


# ----------------------------------------------------------------------------- session tokens


@pytest.mark.parametrize("path", ENDPOINTS_GET)
def test_json_endpoints_need_a_session_token(client: FlaskClient, shop_a: Shop, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"


def test_forged_and_expired_tokens_are_refused(client: FlaskClient, shop_a: Shop, settings: Settings) -> None:
    forged = mint_session_token(settings, SHOP_A, secret="not-the-secret-" + "x" * 20)
    expired = mint_session_token(settings, SHOP_A, now=1_000_000)
    for token in (forged, expired, "garbage"):
        response = client.get("/app/api/overview", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert client.get("/app/api/overview", headers={"Authorization": "Bearer " + mint_session_token(
        settings, SHOP_A, secret=CLIENT_SECRET)}).status_code == 200


def test_documents_carry_frame_ancestors_and_bounce_without_a_token(client: FlaskClient, shop_a: Shop,
                                                                     settings: Settings) -> None:
    token = mint_session_token(settings, SHOP_A)
    for path in ("/app", "/app/models", "/app/shoot", "/app/jobs", "/app/settings"):
        response = client.get(f"{path}?shop={SHOP_A}&host=YWRtaW4&embedded=1&id_token={token}")
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"] == \
            f"frame-ancestors https://{SHOP_A} https://admin.shopify.com;"
        html = response.get_data(as_text=True)
        assert '<meta name="shopify-api-key" content="test-client-id">' in html
        assert '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>' in html
        assert "Dev mode" in html  # the test configuration runs the dev shop
        assert "data-dev-token" not in html  # ...but shop A is not the dev shop
    # Not the dev shop and no token: the bounce page fetches one (Shopify's patch-ID-token flow).
    response = client.get(f"/app/jobs?shop={SHOP_A}&host=YWRtaW4&embedded=1")
    assert response.status_code == 302
    assert "/auth/patch-id-token" in response.headers["Location"]


def test_root_keeps_shopify_parameters(client: FlaskClient) -> None:
    response = client.get("/?shop=x.myshopify.com&host=abc&embedded=1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/app?shop=x.myshopify.com&host=abc&embedded=1"


def test_outside_dev_mode_there_is_no_minted_token(app: Flask, settings: Settings, tmp_path: Any,
                                                   database_url: str, redis_url: str) -> None:
    from shopify_app import create_app
    from tests.conftest import make_settings

    production_like = create_app(make_settings(tmp_path, database_url, redis_url, dev_shop=False))
    client = production_like.test_client()
    assert client.get("/app/api/dev/session-token").status_code == 404
    response = client.get("/app")
    assert response.status_code in (302, 400)
    assert "data-dev-token" not in response.get_data(as_text=True)


# ----------------------------------------------------------------------------- tenancy


def test_shop_a_never_reads_or_changes_shop_b(client: FlaskClient, session: Any, settings: Settings,
                                             shop_a: Shop, shop_b: Shop, auth: Auth) -> None:
    """Every id of shop B answers 404 to shop A (not 403: ids do not leak), and nothing changes."""
    model_b = ready_model(session, shop_b, "B's model", settings=settings, portrait=True)
    job_b = shoot_job(session, shop_b, model_b, [PRODUCT])
    asset_b = image_asset(session, settings, shop_b, job=job_b, product_id=PRODUCT)
    shop_b.default_catalog_model_id = model_b.id
    session.commit()
    a = auth(SHOP_A)

    checks = [
        client.get(f"/app/api/catalog-models/{model_b.id}", headers=a),
        client.get(f"/app/api/jobs/{job_b.id}", headers=a),
        client.get(f"/app/api/jobs/{job_b.id}/review", headers=a),
        client.patch(f"/app/api/assets/{asset_b.id}", json={"alt_text": "mine now"}, headers=a),
        client.post(f"/app/api/assets/{asset_b.id}/review", json={"state": "approved"}, headers=a),
        client.post(f"/app/api/assets/{asset_b.id}/regenerate", headers=a),
        client.post(f"/app/api/jobs/{job_b.id}/publish", json={}, headers=a),
        client.post(f"/app/api/jobs/{job_b.id}/undo", json={}, headers=a),
        client.post(f"/app/api/jobs/{job_b.id}/cancel", headers=a),
        client.put("/app/api/settings", json={"auto_shoot": True, "default_catalog_model_id": model_b.id,
                                              "publish_mode": "direct"}, headers=a),
        client.post("/app/api/shoots", json={"catalog_model_id": model_b.id, "product_ids": [PRODUCT]}, headers=a),
    ]
    assert [r.status_code for r in checks] == [404] * len(checks), [r.get_json() for r in checks]
    assert all(model_b.id not in r.get_data(as_text=True) or r.status_code == 404 for r in checks)

    # Lists and the polled endpoint show only A's rows, even when asked for B's ids.
    assert client.get("/app/api/catalog-models", headers=a).get_json() == {"catalog_models": []}
    assert client.get("/app/api/jobs", headers=a).get_json()["jobs"] == []
    assert client.get(f"/app/api/jobs/progress?ids={job_b.id}", headers=a).get_json()["jobs"] == []
    assert client.get("/app/api/settings", headers=a).get_json()["catalog_models"] == []
    # B's review page is not found for A either (the document).
    token = mint_session_token(settings, SHOP_A)
    assert client.get(f"/app/review/{job_b.id}?shop={SHOP_A}&host=YWRtaW4&id_token={token}").status_code == 404

    session.expire_all()
    asset = session.get(Asset, asset_b.id)
    assert (asset.alt_text, asset.review_state) == ("", ReviewState.PENDING)
    b = session.get(Shop, shop_b.id)
    assert (b.auto_shoot, b.default_catalog_model_id, b.publish_mode) == (False, model_b.id, PublishMode.REVIEW)
    a_row = session.get(Shop, shop_a.id)
    assert (a_row.auto_shoot, a_row.default_catalog_model_id) == (False, None)
    assert session.get(GenerationJob, job_b.id).status == JobStatus.SUCCESS
    assert credits.balance(session, shop_a.id) == 100
    # And B sees its own.
    assert client.get(f"/app/api/jobs/{job_b.id}", headers=auth(SHOP_B)).status_code == 200


def test_malformed_ids_are_not_found(client: FlaskClient, shop_a: Shop, auth: Auth) -> None:
    for path in ("/app/api/jobs/not-a-ulid", "/app/api/catalog-models/../../etc"):
        assert client.get(path, headers=auth(SHOP_A)).status_code == 404
    # NUL is refused before routing (PostgreSQL cannot compare it): a malformed request.
    assert client.get("/app/api/jobs/%00/review", headers=auth(SHOP_A)).status_code == 400


# ----------------------------------------------------------------------------- catalog models


def test_create_catalog_model_validates_inline(client: FlaskClient, shop_a: Shop, auth: Auth) -> None:
    response = client.post("/app/api/catalog-models", json={"gender": "OTHER", "seed": -1, "ethnicity": ""},
                           headers=auth(SHOP_A))
    assert response.status_code == 422
    fields = {e["loc"][-1]: e["msg"] for e in response.get_json()["detail"]}
    assert set(fields) == {"gender", "seed", "ethnicity", "body_type", "age_range"}
    assert fields["ethnicity"] == "This field is required."
    assert client.post("/app/api/catalog-models", data="nope", headers=auth(SHOP_A)).status_code == 422


def test_create_catalog_model_charges_and_coins_a_name(client: FlaskClient, session: Any, shop_a: Shop,
                                                       auth: Auth) -> None:
    response = client.post("/app/api/catalog-models", json={
        "gender": "MALE", "ethnicity": "Mixed", "body_type": "Tall", "age_range": "35-44",
        "resolution": "2K", "aspect_ratio": "3:4", "seed": 7}, headers=auth(SHOP_A))
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["display_name"] and body["credits_cost"] == 4
    model = session.scalar(select(CatalogModel).where(CatalogModel.id == body["catalog_model_id"]))
    assert (model.shop_id, model.seed, model.resolution, model.aspect_ratio) == (shop_a.id, 7, "2K", "3:4")
    listed = client.get("/app/api/catalog-models", headers=auth(SHOP_A)).get_json()["catalog_models"]
    assert [m["id"] for m in listed] == [model.id] and listed[0]["status"] == "pending"
    assert listed[0]["preview_renderer"] is True


def test_too_few_credits_is_402_and_charges_nothing(client: FlaskClient, session: Any, seeded: None,
                                                    auth: Auth) -> None:
    from tests.embedded_ui.helpers import installed_shop

    installed_shop(session, "poor.myshopify.com", credits_=2)
    response = client.post("/app/api/catalog-models", json={
        "gender": "FEMALE", "ethnicity": "x", "body_type": "Slim", "age_range": "18-24"},
        headers=auth("poor.myshopify.com"))
    assert response.status_code == 402
    assert response.get_json() == {"detail": "This needs 4 credits and your balance is 2. Nothing was charged.",
                                   "credits_needed": 4, "credits_balance": 2}
    assert session.scalar(select(CatalogModel.id)) is None


def test_generation_models_label_the_preview_renderer(client: FlaskClient, shop_a: Shop, auth: Auth) -> None:
    models = client.get("/app/api/generation-models", headers=auth(SHOP_A)).get_json()["generation_models"]
    local = [m for m in models if m["preview_renderer"]]
    assert local and all("not AI" in m["label"] for m in local)


# ----------------------------------------------------------------------------- shoot


def test_quote_and_shoot(client: FlaskClient, app: Flask, session: Any, settings: Settings, dev_shop: Shop,
                         auth: Auth) -> None:
    model = ready_model(session, dev_shop)
    headers = auth(dev_shop.domain)
    quote = client.post("/app/api/quote", json={"product_count": 3, "num_images": 2}, headers=headers).get_json()
    assert quote["credits_cost"] == 6 and quote["affordable"] is True
    assert client.post("/app/api/quote", json={"product_count": 51}, headers=headers).status_code == 422
    bad = client.post("/app/api/shoots", json={"catalog_model_id": model.id, "product_ids": []}, headers=headers)
    assert bad.status_code == 422 and bad.get_json()["detail"][0]["loc"] == ["body", "product_ids"]
    product = first_product(app)
    response = client.post("/app/api/shoots", json={"catalog_model_id": model.id, "product_ids": [product],
                                                    "num_images": 2}, headers=headers)
    assert response.status_code == 202
    job = response.get_json()
    assert (job["workflow"], job["credits_cost"], job["product_count"], job["status"]) == \
        ("catalog-shoot", 2, 1, "NOT_STARTED")
    row = session.get(GenerationJob, job["id"])
    assert row.inputs["publish"] == "review" and row.shop_id == dev_shop.id
    progress = client.get(f"/app/api/jobs/progress?ids={job['id']},junk", headers=headers).get_json()
    assert [j["id"] for j in progress["jobs"]] == [job["id"]]


def test_not_ready_model_cannot_shoot(client: FlaskClient, session: Any, shop_a: Shop, auth: Auth) -> None:
    model = ready_model(session, shop_a)
    model.status = CatalogModelStatus.TRAINING
    session.commit()
    response = client.post("/app/api/shoots", json={"catalog_model_id": model.id, "product_ids": [PRODUCT]},
                           headers=auth(SHOP_A))
    assert response.status_code == 409


def test_product_search_pages_through_the_dev_shop(client: FlaskClient, dev_shop: Shop, auth: Auth) -> None:
    headers = auth(dev_shop.domain)
    first = client.get("/app/api/products", headers=headers).get_json()
    assert len(first["products"]) == 10 and first["page_info"]["has_next"] is True
    second = client.get(f"/app/api/products?after={first['page_info']['end_cursor']}", headers=headers).get_json()
    assert second["products"] and not {p["id"] for p in second["products"]} & {p["id"] for p in first["products"]}
    back = client.get(f"/app/api/products?before={second['page_info']['start_cursor']}", headers=headers).get_json()
    assert [p["id"] for p in back["products"]] == [p["id"] for p in first["products"]]
    found = client.get("/app/api/products?query=camp%20shirt", headers=headers).get_json()["products"]
    assert [p["title"] for p in found] == ["Linen Camp Shirt"]
    odd = client.get('/app/api/products?query=title:"x" OR (1)', headers=headers)
    assert odd.status_code == 200


# ----------------------------------------------------------------------------- jobs and review


def test_jobs_list_pages_and_explains_failures(client: FlaskClient, session: Any, shop_a: Shop, auth: Auth) -> None:
    for _ in range(3):
        shoot_job(session, shop_a, None, [PRODUCT])
    failed = shoot_job(session, shop_a, None, [PRODUCT], status=JobStatus.FAILURE,
                       error_code="provider_timeout_weird", error_message="upstream said 0xDEAD",
                       credits_cost=1, credits_refunded=1)
    page = client.get("/app/api/jobs?limit=2", headers=auth(SHOP_A)).get_json()
    assert len(page["jobs"]) == 2 and page["next_before"]
    assert page["jobs"][0]["id"] == failed.id
    assert page["jobs"][0]["failure"] == "The image generator had a technical problem and could not finish."
    assert "0xDEAD" not in str(page)
    assert page["jobs"][0]["credits_refunded"] == 1
    rest = client.get(f"/app/api/jobs?limit=2&before={page['next_before']}", headers=auth(SHOP_A)).get_json()
    assert len(rest["jobs"]) == 2 and rest["next_before"] is None
    assert client.get("/app/api/jobs?limit=x", headers=auth(SHOP_A)).status_code == 422


def test_review_and_edits(client: FlaskClient, app: Flask, session: Any, settings: Settings, dev_shop: Shop,
                          auth: Auth) -> None:
    from shopify_app.devshop import control

    product = first_product(app)
    model = ready_model(session, dev_shop)
    job = shoot_job(session, dev_shop, model, [product])
    asset = image_asset(session, settings, dev_shop, job=job, product_id=product)
    headers = auth(dev_shop.domain)
    review = client.get(f"/app/api/jobs/{job.id}/review", headers=headers).get_json()
    [row] = review["products"]
    assert row["title"] == "Linen Camp Shirt" and len(row["variants"]) == 3
    assert row["images"][0]["url"].startswith("/app/images/")
    image = client.get(row["images"][0]["url"])
    assert image.status_code == 200 and image.mimetype == "image/jpeg"

    variant = control.variants(product, settings)[1]["gid"]
    assert client.patch(f"/app/api/assets/{asset.id}", json={"variant_id": variant, "alt_text": "  Front  view "},
                        headers=headers).status_code == 200
    other = "gid://shopify/ProductVariant/1"
    wrong = client.patch(f"/app/api/assets/{asset.id}", json={"variant_id": other}, headers=headers)
    assert wrong.status_code == 422 and wrong.get_json()["detail"][0]["loc"] == ["body", "variant_id"]
    assert client.patch(f"/app/api/assets/{asset.id}", json={"alt_text": "x" * 513}, headers=headers).status_code == 422
    approved = client.post(f"/app/api/assets/{asset.id}/review", json={"state": "approved"}, headers=headers)
    assert approved.status_code == 200 and approved.get_json()["review_state"] == "approved"
    assert client.post(f"/app/api/assets/{asset.id}/review", json={"state": "maybe"}, headers=headers).status_code == 422
    session.expire_all()
    row_asset = session.get(Asset, asset.id)
    assert (row_asset.alt_text, row_asset.shopify_variant_id) == ("Front view", variant)

    publish = client.post(f"/app/api/jobs/{job.id}/publish", json={}, headers=headers)
    assert publish.status_code == 202 and publish.get_json()["workflow"] == "push-media"
    again = client.post(f"/app/api/jobs/{job.id}/publish", json={}, headers=headers)
    assert again.status_code == 409 and again.get_json()["detail"].endswith(".")
    review = client.get(f"/app/api/jobs/{job.id}/review", headers=headers).get_json()
    assert review["publish_jobs"][0]["id"] == publish.get_json()["id"]


def test_image_links_are_signed(client: FlaskClient, session: Any, settings: Settings, shop_a: Shop) -> None:
    from shopify_app.embedded_ui.images import image_url

    asset = image_asset(session, settings, shop_a)
    url = image_url(asset)
    assert client.get(url).status_code == 200
    assert client.get(url[:-3] + "abc").status_code == 404
    assert client.get(image_url(asset, now=1_000_000)).status_code == 410


# ----------------------------------------------------------------------------- settings


def test_settings_validate_and_save(client: FlaskClient, session: Any, shop_a: Shop, auth: Auth) -> None:
    headers = auth(SHOP_A)
    model = ready_model(session, shop_a)
    needs_model = client.put("/app/api/settings", json={"auto_shoot": True, "publish_mode": "review"}, headers=headers)
    assert needs_model.status_code == 422
    assert needs_model.get_json()["detail"][0]["loc"] == ["body", "default_catalog_model_id"]
    generation = client.get("/app/api/generation-models", headers=headers).get_json()["generation_models"][0]
    saved = client.put("/app/api/settings", json={
        "auto_shoot": True, "default_catalog_model_id": model.id,
        "default_generation_model_id": generation["id"], "publish_mode": "direct"}, headers=headers)
    assert saved.status_code == 200
    session.expire_all()
    shop = session.get(Shop, shop_a.id)
    assert (shop.auto_shoot, shop.default_catalog_model_id, str(shop.default_generation_model_id),
            shop.publish_mode) == (True, model.id, generation["id"], PublishMode.DIRECT)
    unknown = client.put("/app/api/settings", json={"auto_shoot": False, "default_generation_model_id": "nope",
                                                    "publish_mode": "review"}, headers=headers)
    assert unknown.status_code == 422


def test_cancel_a_running_job_refunds_it(client: FlaskClient, session: Any, shop_a: Shop, auth: Auth) -> None:
    response = client.post("/app/api/shoots", json={"catalog_model_id": ready_model(session, shop_a).id,
                                                    "product_ids": [PRODUCT, "123"]}, headers=auth(SHOP_A))
    job_id = response.get_json()["id"]
    assert credits.balance(session, shop_a.id) == 98
    cancelled = client.post(f"/app/api/jobs/{job_id}/cancel", headers=auth(SHOP_A))
    assert cancelled.status_code == 200
    body = cancelled.get_json()
    assert (body["status"], body["failure"], body["credits_refunded"]) == ("FAILURE", "Cancelled.", 2)
    assert client.post(f"/app/api/jobs/{job_id}/cancel", headers=auth(SHOP_A)).status_code == 409
    session.expire_all()
    assert credits.balance(session, shop_a.id) == 100
