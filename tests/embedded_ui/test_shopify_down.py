"""When Shopify does not answer, the picker and the review page give up quickly (a merchant is
waiting, and a web thread with them) instead of retrying like a background job."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import responses
from flask.testing import FlaskClient

from shopify_app.models import Shop
from shopify_app.settings import Settings
from tests.embedded_ui.conftest import SHOP_A
from tests.embedded_ui.helpers import ready_model, shoot_job

Auth = Callable[[str], dict[str, str]]
GRAPHQL = f"https://{SHOP_A}/admin/api/2026-10/graphql.json"
PRODUCT = "gid://shopify/Product/8840000000004"


def test_product_search_gives_up_after_one_retry(client: FlaskClient, shop_a: Shop, auth: Auth,
                                                  mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(GRAPHQL, status=503)
    started = time.monotonic()
    response = client.get("/app/api/products?query=linen", headers=auth(SHOP_A))
    assert response.status_code == 502
    assert len(mocked_responses.calls) == 2
    assert time.monotonic() - started < 3


def test_review_still_renders_when_shopify_is_down(client: FlaskClient, session: Any, settings: Settings,
                                                   shop_a: Shop, auth: Auth,
                                                   mocked_responses: responses.RequestsMock) -> None:
    mocked_responses.post(GRAPHQL, status=503)
    job = shoot_job(session, shop_a, ready_model(session, shop_a), [PRODUCT])
    response = client.get(f"/app/api/jobs/{job.id}/review", headers=auth(SHOP_A))
    assert response.status_code == 200
    assert response.get_json()["variants_available"] is False
    assert len(mocked_responses.calls) == 2
