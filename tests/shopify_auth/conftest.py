"""Fixtures for the Shopify auth tests: a fake token endpoint and installed shops."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from flask import Flask, g, jsonify

from shopify_app.models import Shop, utcnow
from shopify_app.shopify import tokens
from shopify_app.shopify.embedded import embedded_page, session_token_required
from tests.support.shopify import TEST_SHOP, FakeTokenEndpoint


@pytest.fixture
def token_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTokenEndpoint]:
    endpoint = FakeTokenEndpoint()
    monkeypatch.setattr(tokens, "_client_factory", endpoint.client_factory)
    yield endpoint


@pytest.fixture
def installed_shop(app: Flask, session) -> Shop:  # noqa: ANN001
    shop = Shop(
        domain=TEST_SHOP,
        access_token="shpat_installed000000000000000000",
        access_token_expires_at=utcnow() + dt.timedelta(minutes=55),
        refresh_token="shprt_installed000000000000000000",
        refresh_token_expires_at=utcnow() + dt.timedelta(days=89),
        scopes="read_products,write_products,read_files,write_files",
    )
    session.add(shop)
    session.commit()
    return shop


@pytest.fixture
def probe_routes(app: Flask) -> Flask:
    """Two routes behind the decorators, as the UI will use them."""

    @app.get("/app/probe")
    @embedded_page
    def probe_page() -> str:
        return f"<!doctype html><p>hello {g.shop.domain}</p>"

    @app.post("/app/api/probe")
    @session_token_required
    def probe_json():  # noqa: ANN202
        return jsonify({"shop": g.shop.domain})

    return app
