"""Fixtures for the dev shop tests: a token the dev shop issued and a raw GraphQL poster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask

from shopify_app.devshop import control
from shopify_app.settings import Settings
from shopify_app.shopify.transport import requests_session_for


@pytest.fixture
def dev_settings(app: Flask) -> Settings:
    return app.config["STUDIO_SETTINGS"]


@pytest.fixture
def token(dev_settings: Settings) -> str:
    return control.mint_token(dev_settings)["access_token"]


@pytest.fixture
def gql(dev_settings: Settings, token: str) -> Callable[..., requests.Response]:
    """POST a GraphQL body to the dev shop (in-process), as the app's transport would."""
    http = requests_session_for(dev_settings.dev_shop_domain, dev_settings)
    url = f"https://{dev_settings.dev_shop_domain}/admin/api/{dev_settings.shopify_api_version}/graphql.json"

    def post(query: str, variables: dict[str, Any] | None = None, access_token: str | None = None) -> requests.Response:
        return http.post(url, json={"query": query, "variables": variables or {}},
                         headers={"X-Shopify-Access-Token": access_token or token})

    return post
