"""NUL characters in the embedded UI's JSON bodies: 422 under the field, never a 500
(PostgreSQL text cannot store them), and nothing changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from shopify_app import credits
from shopify_app.models import Asset, Shop
from shopify_app.settings import Settings
from tests.embedded_ui.conftest import SHOP_A
from tests.embedded_ui.helpers import image_asset, ready_model, shoot_job

Auth = Callable[[str], dict[str, str]]
PRODUCT = "gid://shopify/Product/8840000000004"
SPEC = {"gender": "FEMALE", "ethnicity": "East Asian", "body_type": "Athletic", "age_range": "25-34"}


def test_nul_in_a_json_field_is_a_422_under_that_field(client: FlaskClient, session: Any, settings: Settings,
                                                        shop_a: Shop, auth: Auth) -> None:
    model = ready_model(session, shop_a)
    asset = image_asset(session, settings, shop_a, job=shoot_job(session, shop_a, model, [PRODUCT]),
                        product_id=PRODUCT)
    headers = auth(SHOP_A)
    cases = [
        (client.post("/app/api/catalog-models", json={**SPEC, "image_model": "x\x00"}, headers=headers),
         ["body", "image_model"]),
        (client.post("/app/api/quote", json={"image_model": "x\x00", "product_count": 1}, headers=headers),
         ["body", "image_model"]),
        (client.patch(f"/app/api/assets/{asset.id}", json={"alt_text": "Front\x00"}, headers=headers),
         ["body", "alt_text"]),
    ]
    for response, loc in cases:
        assert response.status_code == 422, response.get_json()
        assert response.get_json()["detail"][0]["loc"] == loc
    session.expire_all()
    assert session.get(Asset, asset.id).alt_text == ""
    assert credits.balance(session, shop_a.id) == 100
