"""Fixtures for the embedded UI: installed shops (the dev shop, and two plain shops for tenancy),
the built-in generation model, credits, and session-token headers minted like Shopify's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from shopify_app.models import Shop
from shopify_app.seed import seed_defaults
from shopify_app.settings import Settings
from shopify_app.shopify.session_tokens import mint_session_token
from tests.embedded_ui.helpers import install_dev_shop_tokens, installed_shop

SHOP_A = "shop-a.myshopify.com"
SHOP_B = "shop-b.myshopify.com"


@pytest.fixture
def seeded(app: Flask, session: Any) -> None:
    """The recommended built-in generation model (the "preview renderer")."""
    list(seed_defaults())


@pytest.fixture
def dev_shop(app: Flask, session: Any, settings: Settings, seeded: None) -> Shop:
    """The dev shop as `make run` has it (seeded, starter credits), installed with a token the
    dev shop really issued, so Admin calls reach it."""
    return install_dev_shop_tokens(session, settings, extra_credits=500)


@pytest.fixture
def shop_a(session: Any, seeded: None) -> Shop:
    return installed_shop(session, SHOP_A, credits_=100)


@pytest.fixture
def shop_b(session: Any, seeded: None) -> Shop:
    return installed_shop(session, SHOP_B, credits_=100)


@pytest.fixture
def auth(settings: Settings) -> Callable[[str], dict[str, str]]:
    """Headers of a JSON call from the embedded page of `shop_domain`."""
    def headers(shop_domain: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_session_token(settings, shop_domain)}"}
    return headers
