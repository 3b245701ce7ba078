"""The dev shop outside GraphQL: OAuth grants, staged uploads, media processing, pages,
webhooks, and its refusal to run in production."""

from __future__ import annotations

import io
import time
from collections.abc import Callable

import jwt
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image

from shopify_app import create_app
from shopify_app.devshop import control
from shopify_app.models import WebhookDelivery
from shopify_app.settings import Settings, SettingsError
from shopify_app.shopify.transport import httpx_client_for, requests_session_for, routes_to_dev_shop
from tests.conftest import CLIENT_ID, CLIENT_SECRET

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _id_token(settings: Settings, **overrides: object) -> str:
    now = int(time.time())
    claims = {"iss": f"https://{settings.dev_shop_domain}/admin", "dest": f"https://{settings.dev_shop_domain}",
              "aud": CLIENT_ID, "sub": "42", "exp": now + 60, "nbf": now - 5, "iat": now - 5,
              "jti": "f8912129-1af6-4cad-9ca3-76b0f7621087", "sid": "aaea182f-1b48-44fb-9c9f-6ec1b4a2c6c8"}
    claims.update(overrides)
    return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256")


def _exchange_body(settings: Settings, subject_token: str) -> dict[str, object]:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token, "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
            "requested_token_type": "urn:shopify:params:oauth:token-type:offline-access-token", "expiring": 1}


def test_token_exchange_and_rotating_refresh(app: Flask) -> None:
    settings = app.config["STUDIO_SETTINGS"]
    url = f"https://{settings.dev_shop_domain}/admin/oauth/access_token"
    with httpx_client_for(settings.dev_shop_domain, settings) as client:
        issued = client.post(url, json=_exchange_body(settings, _id_token(settings)))
        assert issued.status_code == 200
        pair = issued.json()
        assert pair["access_token"].startswith("shpat_") and len(pair["access_token"]) == 38
        assert pair["expires_in"] == 3600 and pair["refresh_token"].startswith("shprt_")
        assert pair["scope"] == "read_products,write_products,read_files,write_files"

        refresh = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "refresh_token",
                   "refresh_token": pair["refresh_token"]}
        rotated = client.post(url, json=refresh)
        assert rotated.status_code == 200
        assert rotated.json()["refresh_token"] != pair["refresh_token"]
        reused = client.post(url, json=refresh)
        assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

        forged = client.post(url, json=_exchange_body(settings, jwt.encode({"dest": "x"}, "wrong-secret-" * 3, algorithm="HS256")))
        assert forged.status_code == 400 and forged.json()["error"] == "invalid_subject_token"
        other_shop = client.post(url, json=_exchange_body(settings, _id_token(settings, dest="https://other.myshopify.com")))
        assert other_shop.status_code == 400
        bad_client = client.post(url, json=dict(_exchange_body(settings, _id_token(settings)), client_secret="nope"))
        assert bad_client.status_code == 401


def test_staged_upload_media_processing_and_a_failed_image(app: Flask, gql: Callable[..., requests.Response],
                                                          dev_settings: Settings) -> None:
    product = control.products(dev_settings)[3]
    product_gid = f"gid://shopify/Product/{product['id']}"
    staged = gql("""mutation S($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) {
                     stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }""",
                 {"input": [{"resource": "IMAGE", "filename": "a.jpg", "mimeType": "image/jpeg", "httpMethod": "PUT"},
                            {"resource": "IMAGE", "filename": "b.jpg", "mimeType": "image/jpeg", "httpMethod": "POST"}]}).json()
    put_target, post_target = staged["data"]["stagedUploadsCreate"]["stagedTargets"]
    image = io.BytesIO()
    Image.new("RGB", (800, 1000), (10, 120, 200)).save(image, "JPEG")
    http = requests_session_for(dev_settings.dev_shop_domain, dev_settings)
    assert http.put(put_target["url"].split("?")[0] + "?X-Goog-Signature=forged", data=image.getvalue()).status_code == 403
    assert http.put(put_target["url"], data=image.getvalue(), headers={"Content-Type": "image/jpeg"}).status_code == 200
    fields = [(p["name"], (None, p["value"])) for p in post_target["parameters"]] + [("file", ("b.jpg", image.getvalue(), "image/jpeg"))]
    posted = http.post(post_target["url"], files=fields)
    assert posted.status_code == 201 and b"<PostResponse>" in posted.content

    control.inject_fault("MEDIA_FAILED", settings=dev_settings)  # the next image created fails processing
    attach = gql("""mutation A($p: ProductUpdateInput!, $m: [CreateMediaInput!]!) { productUpdate(product: $p, media: $m) {
                     product { media(last: 2) { nodes { id alt status } } } userErrors { field message } } }""",
                 {"p": {"id": product_gid}, "m": [
                     {"originalSource": put_target["resourceUrl"], "alt": "front", "mediaContentType": "IMAGE"},
                     {"originalSource": post_target["resourceUrl"], "alt": "back", "mediaContentType": "IMAGE"}]}).json()
    nodes = attach["data"]["productUpdate"]["product"]["media"]["nodes"]
    assert [(n["alt"], n["status"]) for n in nodes] == [("front", "UPLOADED"), ("back", "UPLOADED")]
    poll = "query N($ids: [ID!]!) { nodes(ids: $ids) { id ... on MediaImage { status mediaErrors { code } image { width height url } } } }"
    ids = [n["id"] for n in nodes]
    states = []
    for _ in range(3):
        states.append([n["status"] for n in gql(poll, {"ids": ids}).json()["data"]["nodes"]])
    assert states == [["PROCESSING", "PROCESSING"], ["FAILED", "READY"], ["FAILED", "READY"]]
    final = gql(poll, {"ids": ids}).json()["data"]["nodes"]
    assert final[1]["image"]["width"] == 800 and final[1]["image"]["height"] == 1000
    assert final[0]["mediaErrors"][0]["code"] == "IMAGE_PROCESSING_FAILURE" and final[0]["image"] is None


def test_an_upload_that_never_happened_fails_processing(gql: Callable[..., requests.Response], dev_settings: Settings) -> None:
    product_gid = f"gid://shopify/Product/{control.products(dev_settings)[0]['id']}"
    target = gql('mutation { stagedUploadsCreate(input: [{resource: IMAGE, filename: "x.jpg", mimeType: "image/jpeg"}]) { stagedTargets { resourceUrl } } }'
                 ).json()["data"]["stagedUploadsCreate"]["stagedTargets"][0]
    media = gql("mutation A($m: [CreateMediaInput!]!) { productUpdate(product: {id: \"%s\"}, media: $m) { product { media(last: 1) { nodes { id } } } } }" % product_gid,
                {"m": [{"originalSource": target["resourceUrl"], "mediaContentType": "IMAGE"}]}).json()
    media_id = media["data"]["productUpdate"]["product"]["media"]["nodes"][0]["id"]
    for _ in range(2):
        node = gql('query { node(id: "%s") { ... on MediaImage { status mediaErrors { code } } } }' % media_id).json()["data"]["node"]
    assert node == {"status": "FAILED", "mediaErrors": [{"code": "IMAGE_DOWNLOAD_FAILURE"}]}


def test_the_browse_page_and_product_photos(client: FlaskClient, dev_settings: Settings) -> None:
    page = client.get("/_devshop/")
    assert page.status_code == 200
    assert b"Wrap Midi Dress" in page.data and b"Quilted Puffer Jacket" in page.data
    media = control.product_media(f"gid://shopify/Product/{control.products(dev_settings)[0]['id']}", dev_settings)
    photo = client.get(f"/_devshop/files/{media[0]['id']}.jpg")
    assert photo.status_code == 200 and photo.mimetype == "image/jpeg"
    with Image.open(io.BytesIO(photo.data)) as image:
        assert image.size == (1200, 1500) and image.format == "JPEG"
    assert client.get("/_devshop/files/1.jpg").status_code == 404


def test_control_api_validates_input(client: FlaskClient) -> None:
    assert client.post("/_devshop/api/faults", json={"kind": "NOPE"}).status_code == 422
    assert client.post("/_devshop/api/faults", data="x").status_code == 400
    assert client.post("/_devshop/api/faults", json={"kind": "HTTP_5XX", "status": 404}).status_code == 422
    created = client.post("/_devshop/api/faults", json={"kind": "THROTTLED", "count": 2})
    assert created.status_code == 201 and created.json["faults"][0]["remaining"] == 2
    assert client.delete("/_devshop/api/faults").json == {"faults": []}
    assert client.post("/_devshop/api/bucket", json={"maximum": -1}).status_code == 422


@pytest.mark.parametrize("family", ["X-Shopify-", "shopify-"])
def test_a_new_product_sends_a_signed_products_create_webhook(app: Flask, client: FlaskClient, session, family: str) -> None:  # noqa: ANN001
    from tests.support.devshop import install_dev_shop

    install_dev_shop(session, app.config["STUDIO_SETTINGS"])
    product_gid = control.create_product("pleated-midi-skirt", "Pleated Midi Skirt — Sage")
    payload = control.product_payload(product_gid)
    assert payload["admin_graphql_api_id"] == product_gid and payload["title"] == "Pleated Midi Skirt — Sage"
    assert payload["variants"][0]["admin_graphql_api_id"].startswith("gid://shopify/ProductVariant/")
    assert payload["images"][0]["width"] == 1200 and payload["status"] == "active"
    status = control.send_webhook("products/create", payload, app=app, header_family=family, webhook_id="dev-1")
    assert status == 200
    session.expire_all()
    deliveries = session.query(WebhookDelivery).all()
    assert [(d.webhook_id, d.topic) for d in deliveries] == [("dev-1", "products/create")]
    # The same delivery again is a duplicate: answered 200, recorded once.
    assert control.send_webhook("products/create", payload, app=app, header_family=family, webhook_id="dev-1") == 200
    assert session.query(WebhookDelivery).count() == 1


def test_production_refuses_the_dev_shop(settings: Settings) -> None:
    production = settings.replace(env="production", allow_dev_defaults=True, dev_shop=True)
    with pytest.raises(SettingsError, match="dev shop"):
        create_app(production)
    # Even if something asked, the transport never routes a production call in-process.
    assert not routes_to_dev_shop(settings.dev_shop_domain, production)
    assert routes_to_dev_shop(settings.dev_shop_domain, settings)
    assert not routes_to_dev_shop("someone-else.myshopify.com", settings)


def test_the_pages_are_absent_when_the_dev_shop_is_off(settings: Settings) -> None:
    app = create_app(settings.replace(dev_shop=False))
    try:
        assert app.test_client().get("/_devshop/").status_code == 404
    finally:
        from shopify_app import db

        db.get_database(app).engine.dispose()
