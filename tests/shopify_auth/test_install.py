"""Shopify-managed install: the first verified request of a shop exchanges its session token."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text

from shopify_app import credits
from shopify_app.models import CreditLedger, Shop, utcnow
from shopify_app.shopify.session_tokens import mint_session_token
from tests.support.shopify import TEST_SHOP


def _call(client, settings, shop=TEST_SHOP):  # noqa: ANN001, ANN202
    token = mint_session_token(settings, shop)
    return client.get("/app/api/session", headers={"Authorization": f"Bearer {token}"}), token


def test_first_request_installs_with_an_expiring_offline_token(client, settings, session, token_endpoint) -> None:
    response, token = _call(client, settings)
    assert response.status_code == 200
    assert response.json["shop"] == TEST_SHOP

    [(host, body)] = token_endpoint.calls
    assert host == TEST_SHOP
    assert body["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert body["subject_token"] == token
    assert body["subject_token_type"] == "urn:ietf:params:oauth:token-type:id_token"
    assert body["requested_token_type"] == "urn:shopify:params:oauth:token-type:offline-access-token"
    assert body["expiring"] == 1
    assert body["client_id"] == settings.shopify_api_key

    shop = session.scalar(select(Shop).where(Shop.domain == TEST_SHOP))
    assert shop.access_token.startswith("shpat_")
    assert shop.refresh_token.startswith("shprt_")
    now = utcnow()
    assert now + dt.timedelta(minutes=58) < shop.access_token_expires_at <= now + dt.timedelta(minutes=61)
    assert shop.refresh_token_expires_at > now + dt.timedelta(days=89)
    assert shop.scope_set == {"read_products", "write_products", "read_files", "write_files"}
    assert credits.balance(session, shop.id) == settings.starter_credits

    # Encrypted at rest: the stored column is not the token.
    raw = session.execute(text("SELECT access_token, refresh_token FROM shops")).one()
    assert shop.access_token not in raw[0] and shop.refresh_token not in raw[1]


def test_later_requests_do_not_exchange_again(client, settings, token_endpoint) -> None:
    assert _call(client, settings)[0].status_code == 200
    assert _call(client, settings)[0].status_code == 200
    assert len(token_endpoint.calls) == 1


def test_reinstall_clears_uninstalled_at_without_new_starter_credits(
    client, settings, session, token_endpoint
) -> None:
    assert _call(client, settings)[0].status_code == 200
    shop = session.scalar(select(Shop).where(Shop.domain == TEST_SHOP))
    shop.uninstalled_at = utcnow()
    shop.access_token = shop.refresh_token = None
    session.commit()

    response, _ = _call(client, settings)
    assert response.status_code == 200
    session.expire_all()
    shop = session.scalar(select(Shop).where(Shop.domain == TEST_SHOP))
    assert shop.uninstalled_at is None and shop.access_token
    assert len(token_endpoint.calls) == 2
    grants = session.scalars(select(CreditLedger).where(CreditLedger.shop_id == shop.id)).all()
    assert len(grants) == 1


def test_stale_subject_token_asks_app_bridge_to_retry(client, settings, session, token_endpoint) -> None:
    token_endpoint.answer = lambda body: (400, {"error": "invalid_subject_token"})
    response, _ = _call(client, settings)
    assert response.status_code == 401
    assert response.headers["X-Shopify-Retry-Invalid-Session-Request"] == "1"
    assert session.scalar(select(Shop)) is None


def test_token_endpoint_down_is_503_not_500(client, settings, session, token_endpoint) -> None:
    token_endpoint.answer = lambda body: (503, {"errors": "unavailable"})
    response, _ = _call(client, settings)
    assert response.status_code == 503
    assert session.scalar(select(Shop)) is None
