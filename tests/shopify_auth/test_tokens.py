"""Expiring offline tokens: refresh before expiry, one refresh under a race, atomic pairs."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select

from shopify_app import db
from shopify_app.models import Shop, utcnow
from shopify_app.shopify import tokens
from shopify_app.shopify.tokens import ReauthorizationRequired, access_token_for, force_refresh
from tests.support.shopify import fixture


def _expiring_soon(session, shop: Shop) -> Shop:  # noqa: ANN001
    shop.access_token_expires_at = utcnow() + dt.timedelta(minutes=1)
    session.commit()
    return shop


def test_fresh_token_is_returned_without_calling_shopify(session, installed_shop, token_endpoint) -> None:
    assert access_token_for(session, installed_shop) == "shpat_installed000000000000000000"
    assert token_endpoint.calls == []


def test_token_near_expiry_is_refreshed_and_the_pair_stored(session, settings, installed_shop, token_endpoint) -> None:
    _expiring_soon(session, installed_shop)
    new = access_token_for(session, installed_shop)
    [body] = token_endpoint.grants("refresh_token")
    assert body == {
        "client_id": settings.shopify_api_key,
        "client_secret": settings.shopify_api_secret,
        "grant_type": "refresh_token",
        "refresh_token": "shprt_installed000000000000000000",
    }
    assert new != "shpat_installed000000000000000000"
    # Committed in its own transaction: visible from a fresh session, both halves of the pair.
    other = db.get_database().sessionmaker()
    stored = other.scalar(select(Shop).where(Shop.id == installed_shop.id))
    assert stored.access_token == new
    assert stored.refresh_token != "shprt_installed000000000000000000"
    assert stored.access_token_expires_at > utcnow() + dt.timedelta(minutes=58)
    other.close()
    # The caller's object shows the new pair and is not dirty.
    assert installed_shop.access_token == new
    assert installed_shop not in session.dirty


def test_refresh_survives_a_rollback_of_the_callers_work(session, installed_shop, token_endpoint) -> None:
    _expiring_soon(session, installed_shop)
    installed_shop.auto_shoot = True  # the caller's own unfinished change
    new = access_token_for(session, installed_shop)
    session.rollback()
    stored = session.scalar(select(Shop).where(Shop.id == installed_shop.id))
    assert stored.access_token == new
    assert stored.auto_shoot is False


def test_refresh_race_makes_one_call_and_leaves_one_pair(app, session, installed_shop, token_endpoint) -> None:
    _expiring_soon(session, installed_shop)
    token_endpoint.delay = 0.3  # widen the window: both workers see an expiring token
    shop_id = installed_shop.id
    barrier = threading.Barrier(2)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with app.app_context():
                own = db.session()
                shop = own.get(Shop, shop_id)
                barrier.wait()
                results.append(access_token_for(own, shop))
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(token_endpoint.grants("refresh_token")) == 1
    assert len(set(results)) == 1
    session.expire_all()
    assert session.get(Shop, shop_id).access_token == results[0]


def test_force_refresh_after_401_refreshes_once(session, installed_shop, token_endpoint) -> None:
    first = force_refresh(session, installed_shop)
    assert len(token_endpoint.calls) == 1
    assert first != "shpat_installed000000000000000000"


def test_force_refresh_reuses_a_token_another_worker_already_replaced(session, installed_shop, token_endpoint) -> None:
    # Worker A saw the old token rejected; worker B refreshed meanwhile.
    other = db.get_database().sessionmaker()
    row = other.get(Shop, installed_shop.id)
    row.access_token = "shpat_from_worker_b_0000000000000"
    other.commit()
    other.close()
    assert force_refresh(session, installed_shop) == "shpat_from_worker_b_0000000000000"
    assert token_endpoint.calls == []


def test_refused_refresh_token_requires_reauthorisation(session, installed_shop, token_endpoint) -> None:
    _expiring_soon(session, installed_shop)
    token_endpoint.answer = lambda body: (400, fixture("shopify_auth", "invalid_refresh_token"))
    with pytest.raises(ReauthorizationRequired):
        access_token_for(session, installed_shop)
    session.expire_all()
    stored = session.get(Shop, installed_shop.id)
    assert stored.access_token is None and stored.refresh_token is None
    assert not tokens.has_usable_token(stored)


def test_expired_refresh_token_requires_reauthorisation_without_a_call(session, installed_shop, token_endpoint) -> None:
    installed_shop.access_token_expires_at = utcnow() - dt.timedelta(minutes=1)
    installed_shop.refresh_token_expires_at = utcnow() - dt.timedelta(minutes=1)
    session.commit()
    with pytest.raises(ReauthorizationRequired):
        access_token_for(session, installed_shop)
    assert token_endpoint.calls == []


def test_refresh_answer_without_expires_in_is_not_taken_as_expired(session, installed_shop, token_endpoint) -> None:
    _expiring_soon(session, installed_shop)
    answer = fixture("shopify_auth", "refresh_token")
    del answer["expires_in"]
    token_endpoint.answer = lambda body: (200, answer)
    access_token_for(session, installed_shop)
    assert installed_shop.access_token_expires_at > utcnow() + dt.timedelta(minutes=5)
    access_token_for(session, installed_shop)
    assert len(token_endpoint.calls) == 1


def test_uninstalled_shop_has_no_token(session, installed_shop, token_endpoint) -> None:
    installed_shop.uninstalled_at = utcnow()
    session.commit()
    with pytest.raises(ReauthorizationRequired):
        access_token_for(session, installed_shop)
