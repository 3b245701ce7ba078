"""The legacy authorization-code grant: /auth → Shopify → /auth/callback."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from shopify_app.models import Shop
from tests.conftest import PREVIOUS_SECRET
from tests.support.shopify import TEST_SHOP, fixture, oauth_query


@pytest.fixture
def oauth_endpoint(token_endpoint):  # noqa: ANN001, ANN201
    token_endpoint.answer = lambda body: (200, fixture("shopify_auth", "oauth_access_token"))
    return token_endpoint


def _begin(client) -> str:  # noqa: ANN001
    response = client.get(f"/auth?shop={TEST_SHOP}")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("https", TEST_SHOP, "/admin/oauth/authorize")
    query = parse_qs(location.query)
    assert query["client_id"] == ["test-client-id"]
    assert query["redirect_uri"] == ["https://studio.test/auth/callback"]
    assert query["scope"] == ["read_products,write_products,read_files,write_files"]
    assert "grant_options[]" not in query  # offline token
    cookie = response.headers["Set-Cookie"]
    assert "shopify_app_state=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "SameSite=Lax" in cookie
    return query["state"][0]


def _callback_params(state: str, **changes: str) -> dict[str, str]:
    params = {
        "code": "0907a61c0c8d55e99db179b68161bc00",
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvc3R1ZGlvLXRlc3Qtc2hvcA",
        "shop": TEST_SHOP,
        "state": state,
        "timestamp": str(int(time.time())),
    }
    params.update(changes)
    return params


def test_full_grant_stores_an_expiring_token_and_enters_the_admin(client, session, oauth_endpoint) -> None:
    state = _begin(client)
    response = client.get("/auth/callback?" + oauth_query(_callback_params(state)))
    assert response.status_code == 302, response.json
    assert response.headers["Location"] == "https://admin.shopify.com/store/studio-test-shop/apps/test-client-id"
    [(host, body)] = oauth_endpoint.calls
    assert host == TEST_SHOP
    assert body["code"] == "0907a61c0c8d55e99db179b68161bc00"
    assert body["expiring"] == "1"
    shop = session.scalar(select(Shop).where(Shop.domain == TEST_SHOP))
    assert shop.access_token == fixture("shopify_auth", "oauth_access_token")["access_token"]
    assert shop.refresh_token and shop.access_token_expires_at
    # The nonce is single use.
    assert "shopify_app_state=;" in response.headers["Set-Cookie"]


def test_previous_secret_signs_valid_callbacks(client, oauth_endpoint) -> None:
    state = _begin(client)
    response = client.get("/auth/callback?" + oauth_query(_callback_params(state), secret=PREVIOUS_SECRET))
    assert response.status_code == 302


def test_bad_hmac_is_401(client, oauth_endpoint) -> None:
    state = _begin(client)
    query = oauth_query(_callback_params(state), secret="wrong-secret-0123456789abcdef")
    assert client.get("/auth/callback?" + query).status_code == 401
    tampered = oauth_query(_callback_params(state)).replace("code=0907", "code=0908")
    assert client.get("/auth/callback?" + tampered).status_code == 401
    assert oauth_endpoint.calls == []


@pytest.mark.parametrize("offset", [-91, -3600, -86000, 91])
def test_timestamp_outside_90s_is_401(client, oauth_endpoint, offset: int) -> None:
    state = _begin(client)
    params = _callback_params(state, timestamp=str(int(time.time()) + offset))
    assert client.get("/auth/callback?" + oauth_query(params)).status_code == 401
    assert oauth_endpoint.calls == []


def test_bad_state_is_403(client, oauth_endpoint) -> None:
    _begin(client)
    params = _callback_params("f" * 64)
    assert client.get("/auth/callback?" + oauth_query(params)).status_code == 403


def test_missing_state_cookie_is_403(client, oauth_endpoint) -> None:
    state = _begin(client)
    client.delete_cookie("shopify_app_state", path="/auth", domain="localhost")
    assert client.get("/auth/callback?" + oauth_query(_callback_params(state))).status_code == 403


def test_state_for_another_shop_is_refused(client, oauth_endpoint) -> None:
    state = _begin(client)
    params = _callback_params(state, shop="other-shop.myshopify.com")
    assert client.get("/auth/callback?" + oauth_query(params)).status_code == 403


def test_missing_scopes_are_refused(client, session, oauth_endpoint) -> None:
    oauth_endpoint.answer = lambda body: (200, dict(fixture("shopify_auth", "oauth_access_token"),
                                                    scope="read_products"))
    state = _begin(client)
    response = client.get("/auth/callback?" + oauth_query(_callback_params(state)))
    assert response.status_code == 403
    assert "write_products" in response.text
    assert session.scalar(select(Shop)) is None


@pytest.mark.parametrize("shop", ["evil.com", "x.myshopify.com.evil.com", "", "-x.myshopify.com"])
def test_invalid_shop_is_400(client, shop: str) -> None:
    assert client.get(f"/auth?shop={shop}").status_code == 400
    params = _callback_params("s", shop=shop)
    assert client.get("/auth/callback?" + oauth_query(params)).status_code == 400
