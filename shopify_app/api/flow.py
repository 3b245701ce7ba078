"""Shopify Flow action requests: verified by `X-Shopify-Hmac-Sha256`, unwrapped to a workflow body.

Flow POSTs the action's runtime URL (one of our `POST /v1/{workflow}` routes) with a body like

    {"shop_id": "1", "shopify_domain": "x.myshopify.com", "action_run_id": "…",
     "action_definition_id": "…", "handle": "…", "properties": {…the action's fields…}}

signed with the app's client secret (Shopify's own `verify_flow_action_req`, through
`shopify_app.shopify.sdk`). The shop is the verified body's `shopify_domain`; `properties` is the
workflow request. Flow re-sends an action it saw no answer for, so `action_run_id` serves as the
idempotency key: a retried run replays the first answer and is never charged twice.

Each shop's Flow calls run as one `ApiClient` row ("Shopify Flow"), created on first use, with no
usable key (an empty hash that no SHA-256 matches). That gives Flow the same per-client rate
limit, request log and idempotency scope as an API key, and lets support switch Flow off for a
shop by disabling that client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shopify_app.models import ApiClient, Shop
from shopify_app.settings import Settings
from shopify_app.shopify import sdk

FLOW_CLIENT_NAME = "Shopify Flow"
FLOW_PREFIX = "flow:"  # never a valid API-key prefix (those are 12 hex characters)
HMAC_HEADER = "X-Shopify-Hmac-Sha256"


@dataclass(frozen=True)
class FlowAction:
    shop_domain: str
    action_run_id: str
    handle: str | None
    properties: dict[str, Any]


class FlowRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def is_flow_request(headers: Mapping[str, str]) -> bool:
    return bool(headers.get(HMAC_HEADER)) and not headers.get("Authorization")


def verify(settings: Settings, method: str, headers: Mapping[str, str], body: bytes) -> FlowAction:
    """The verified action, or FlowRefused (401 bad signature, 405 not a POST, 400 bad envelope)."""
    verdict = sdk.verify_flow_action(settings, method, dict(headers), body)
    if not verdict.ok:
        if verdict.status == 405:
            raise FlowRefused(405, "Shopify Flow action requests must be POSTs")
        if verdict.status == 400 and verdict.reason == "body_not_utf8":
            raise FlowRefused(400, "the Flow action body is not UTF-8 JSON")
        raise FlowRefused(401, "invalid X-Shopify-Hmac-Sha256: the body is not signed by Shopify for this app")
    try:
        envelope = json.loads(body)
    except ValueError:
        raise FlowRefused(400, "the Flow action body is not JSON") from None
    if not isinstance(envelope, dict):
        raise FlowRefused(400, "the Flow action body must be a JSON object")
    domain = sdk.sanitize_shop(envelope.get("shopify_domain"))
    if domain is None:
        raise FlowRefused(400, "the Flow action body has no valid shopify_domain")
    header_shop = headers.get("X-Shopify-Shop-Domain")
    if header_shop and sdk.sanitize_shop(header_shop) != domain:
        raise FlowRefused(401, "X-Shopify-Shop-Domain does not match the body's shopify_domain")
    run_id = envelope.get("action_run_id")
    if not isinstance(run_id, str) or not run_id.strip() or len(run_id) > 200:
        raise FlowRefused(400, "the Flow action body has no action_run_id")
    properties = envelope.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise FlowRefused(400, "the Flow action's properties must be an object")
    handle = envelope.get("handle")
    return FlowAction(
        shop_domain=domain,
        action_run_id=run_id.strip(),
        handle=handle if isinstance(handle, str) else None,
        properties=properties,
    )


def workflow_body(workflow: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow request inside a Flow action's properties.

    Flow's commerce-object fields arrive as `product_id` (one product): a catalog shoot
    started from a product trigger shoots that product."""
    body = dict(properties)
    if workflow == "catalog-shoot" and "product_ids" not in body and body.get("product_id") is not None:
        body["product_ids"] = [body.pop("product_id")]
    return body


def flow_client(session: Session, shop: Shop) -> ApiClient:
    """The shop's Flow client, created on first use and committed at once.

    Committed on its own (this runs before anything else in the request): the request log
    written for a refused request must be able to point at it after the rest rolls back. A
    concurrent first use loses the unique key_prefix race and reads the winner's row."""
    prefix = flow_prefix(shop)
    client = session.scalar(select(ApiClient).where(ApiClient.key_prefix == prefix))
    if client is not None:
        return client
    try:
        client = ApiClient(shop_id=shop.id, name=FLOW_CLIENT_NAME, key_prefix=prefix, key_hash="")
        session.add(client)
        session.commit()
    except IntegrityError:
        session.rollback()
        client = session.scalar(select(ApiClient).where(ApiClient.key_prefix == prefix))
        if client is None:
            raise
    return client


def flow_prefix(shop: Shop) -> str:
    # key_prefix is 16 characters: "flow:" and the 11 random-ish last characters of the ULID.
    return FLOW_PREFIX + shop.id[-11:]
