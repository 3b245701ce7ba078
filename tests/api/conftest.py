"""Fixtures for the /v1 API: shops with credits, API keys, a generation model, ready catalog models."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from shopify_app import credits
from shopify_app.api.keys import create_api_key
from shopify_app.models import (
    ApiClient,
    CatalogModel,
    CatalogModelStatus,
    Gender,
    GenerationModel,
    LedgerKind,
    Shop,
)
from tests.conftest import CLIENT_SECRET

SPEC = {"gender": "FEMALE", "ethnicity": "East African", "body_type": "athletic", "age_range": "25-34"}


@dataclass
class ApiUser:
    """A shop and its API key, with helpers to call the API as it."""

    client: FlaskClient
    shop: Shop
    api_client: ApiClient
    key: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def post(self, path: str, body: Any, **headers: str) -> TestResponse:
        return self.client.post(path, json=body, headers=self.headers(**headers))

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.client.get(path, headers=self.headers(), **kwargs)


def make_shop(session: Session, domain: str, balance: int = 100) -> Shop:
    shop = Shop(domain=domain, scopes="read_products,write_products")
    session.add(shop)
    session.flush()
    if balance:
        credits.grant(session, shop.id, balance, "test credits", LedgerKind.GRANT)
    return shop


@pytest.fixture
def generation_model(session: Session) -> GenerationModel:
    model = GenerationModel(
        name="Preview renderer (built in)", provider="local", provider_config={},
        provider_capabilities=["model_generation", "try_on"], tool_types=["BASE_GENERATION", "TRY_ON"],
        recommended=True,
    )
    session.add(model)
    session.commit()
    return model


def make_user(client: FlaskClient, session: Session, domain: str, balance: int = 100) -> ApiUser:
    shop = make_shop(session, domain, balance)
    new = create_api_key(session, shop, name="tests")
    session.commit()
    return ApiUser(client=client, shop=shop, api_client=new.client, key=new.key)


@pytest.fixture
def user(client: FlaskClient, session: Session, generation_model: GenerationModel) -> ApiUser:
    return make_user(client, session, "alpha-apparel.myshopify.com")


@pytest.fixture
def other_user(client: FlaskClient, session: Session, generation_model: GenerationModel) -> ApiUser:
    return make_user(client, session, "beta-boutique.myshopify.com")


def ready_catalog_model(session: Session, shop: Shop, name: str = "Amara in Linen") -> CatalogModel:
    model = CatalogModel(
        shop_id=shop.id, display_name=name, gender=Gender.FEMALE, ethnicity="East African",
        body_type="athletic", age_range="25-34", status=CatalogModelStatus.READY,
    )
    session.add(model)
    session.commit()
    return model


def flow_signature(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def flow_body(shop_domain: str, properties: dict[str, Any], run_id: str = "6a1b2c3d-0000-4000-8000-000000000001") -> bytes:
    """A Flow action execution request body, shaped like Shopify's (tests/fixtures/api)."""
    with open("tests/fixtures/api/flow_action.json") as fh:
        envelope = json.load(fh)
    envelope["shopify_domain"] = shop_domain
    envelope["action_run_id"] = run_id
    envelope["properties"] = properties
    return json.dumps(envelope).encode()


@pytest.fixture
def app_settings(app: Flask):  # noqa: ANN201
    return app.config["STUDIO_SETTINGS"]
