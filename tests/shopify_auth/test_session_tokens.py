"""Session tokens on JSON requests: every forgery answers 401 + the retry header."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from flask.testing import FlaskClient

from shopify_app.models import Shop
from shopify_app.shopify.session_tokens import mint_session_token
from tests.conftest import CLIENT_SECRET, PREVIOUS_SECRET
from tests.support.shopify import TEST_SHOP

RETRY = "X-Shopify-Retry-Invalid-Session-Request"


def _get_session(client: FlaskClient, token: str, query: str = ""):  # noqa: ANN202
    return client.get("/app/api/session" + query, headers={"Authorization": f"Bearer {token}"})


def test_valid_token_returns_shop_and_scopes(client, settings, installed_shop: Shop) -> None:
    response = _get_session(client, mint_session_token(settings, TEST_SHOP))
    assert response.status_code == 200
    assert response.json == {
        "shop": TEST_SHOP,
        "scopes": ["read_files", "read_products", "write_files", "write_products"],
    }


def test_previous_secret_is_accepted_during_rotation(client, settings, installed_shop) -> None:
    token = mint_session_token(settings, TEST_SHOP, secret=PREVIOUS_SECRET)
    assert _get_session(client, token).status_code == 200


def test_clock_skew_within_the_10s_leeway_is_accepted(client, settings, installed_shop) -> None:
    now = time.time()
    expired_just_now = mint_session_token(settings, TEST_SHOP, now=now - 65)  # exp = now - 5
    assert _get_session(client, expired_just_now).status_code == 200
    from_the_near_future = mint_session_token(settings, TEST_SHOP, nbf=int(now) + 5)
    assert _get_session(client, from_the_near_future).status_code == 200


def _unsigned(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _claims(settings, **changes) -> dict:  # noqa: ANN001
    token = mint_session_token(settings, TEST_SHOP, **changes)
    return jwt.decode(token, options={"verify_signature": False})


FORGERIES = {
    "alg none": lambda s: _unsigned(_claims(s)),
    "alg none with empty signature of HS256 header": lambda s: (
        mint_session_token(s, TEST_SHOP).rsplit(".", 1)[0] + "."
    ),
    "HS512 (not HS256)": lambda s: jwt.encode(_claims(s), CLIENT_SECRET + "-long-enough-for-hs512-0123456789", algorithm="HS512"),
    "wrong secret": lambda s: mint_session_token(s, TEST_SHOP, secret="not-the-client-secret-0123456789"),
    "wrong aud": lambda s: mint_session_token(s, TEST_SHOP, aud="another-app-client-id"),
    "no aud": lambda s: mint_session_token(s, TEST_SHOP, aud=None),
    "expired beyond leeway": lambda s: mint_session_token(s, TEST_SHOP, now=time.time() - 75),
    "nbf beyond leeway": lambda s: mint_session_token(s, TEST_SHOP, nbf=int(time.time()) + 30),
    "no exp": lambda s: mint_session_token(s, TEST_SHOP, exp=None),
    "no nbf": lambda s: mint_session_token(s, TEST_SHOP, nbf=None),
    "iss differs from dest": lambda s: mint_session_token(
        s, TEST_SHOP, iss="https://other-shop.myshopify.com/admin"),
    "dest not a shop": lambda s: mint_session_token(
        s, TEST_SHOP, dest="https://evil.example.com", iss="https://evil.example.com/admin"),
    "dest a lookalike": lambda s: mint_session_token(
        s, TEST_SHOP, dest="https://studio-test-shop.myshopify.com.evil.com",
        iss="https://studio-test-shop.myshopify.com.evil.com/admin"),
    "dest over http": lambda s: mint_session_token(
        s, TEST_SHOP, dest="http://studio-test-shop.myshopify.com",
        iss="http://studio-test-shop.myshopify.com/admin"),
    "garbage": lambda s: "not-a-jwt",
}


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_tokens_are_refused(client, settings, installed_shop, name: str) -> None:
    response = _get_session(client, FORGERIES[name](settings))
    assert response.status_code == 401, name
    assert response.headers[RETRY] == "1"
    assert "shop" not in response.json


def test_shop_parameter_must_match_dest(client, settings, installed_shop) -> None:
    token = mint_session_token(settings, TEST_SHOP)
    response = _get_session(client, token, "?shop=other-shop.myshopify.com")
    assert response.status_code == 401
    assert response.headers[RETRY] == "1"
    assert _get_session(client, mint_session_token(settings, TEST_SHOP), f"?shop={TEST_SHOP}").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer ", "Basic abc", "bearer x"])
def test_missing_or_malformed_authorization(client, installed_shop, header) -> None:  # noqa: ANN001
    headers = {} if header is None else {"Authorization": header}
    response = client.get("/app/api/session", headers=headers)
    assert response.status_code == 401
    assert response.headers[RETRY] == "1"


def test_token_for_a_shop_whose_app_is_uninstalled_is_refused(
    client, settings, session, installed_shop, token_endpoint
) -> None:
    from shopify_app.models import utcnow

    installed_shop.uninstalled_at = utcnow()
    installed_shop.access_token = None
    session.commit()
    token_endpoint.answer = lambda body: (400, {"error": "invalid_subject_token"})
    response = _get_session(client, mint_session_token(settings, TEST_SHOP))
    assert response.status_code == 403
    assert len(token_endpoint.calls) == 1
