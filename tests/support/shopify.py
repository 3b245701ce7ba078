"""Playing Shopify in tests: signed webhooks, signed OAuth callbacks, a fake token endpoint."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.conftest import CLIENT_SECRET

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TEST_SHOP = "studio-test-shop.myshopify.com"


def fixture(area: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / area / f"{name}.json").read_text())


def fixture_bytes(area: str, name: str) -> bytes:
    return (FIXTURES / area / f"{name}.json").read_bytes()


def webhook_signature(body: bytes, secret: str = CLIENT_SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def webhook_headers(
    topic: str,
    body: bytes,
    shop: str = TEST_SHOP,
    webhook_id: str | None = None,
    secret: str = CLIENT_SECRET,
    family: str = "X-Shopify-",
    api_version: str = "2026-10",
    triggered_at: str | None = None,
) -> dict[str, str]:
    """Headers exactly as Shopify sends them (`family` "X-Shopify-" or the newer "shopify-")."""
    headers = {
        "Content-Type": "application/json",
        f"{family}Topic": topic,
        f"{family}Hmac-Sha256": webhook_signature(body, secret),
        f"{family}Shop-Domain": shop,
        f"{family}API-Version": api_version,
        f"{family}Webhook-Id": webhook_id or str(uuid.uuid4()),
        f"{family}Triggered-At": triggered_at or time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        f"{family}Event-Id": str(uuid.uuid4()),
    }
    return headers


def oauth_query(params: dict[str, str], secret: str = CLIENT_SECRET) -> str:
    """A query string signed the way Shopify signs OAuth redirects (hex HMAC of sorted k=v)."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    signed = dict(params, hmac=hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest())
    return urlencode(signed)


class FakeTokenEndpoint:
    """`POST https://{shop}/admin/oauth/access_token` answering like Shopify, counting calls.

    `answer(body) -> (status, json)` decides each response; the default issues fresh expiring
    offline pairs, with `delay` seconds of latency to widen race windows."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]] | None = None,
                 delay: float = 0.0):
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answer = answer or self.issue_pair
        self.delay = delay
        self._lock = threading.Lock()
        self._serial = 0

    def issue_pair(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._serial += 1
            serial = self._serial
        answer = fixture("shopify_auth", "refresh_token" if body.get("grant_type") == "refresh_token"
                         else "token_exchange_offline_expiring")
        answer["access_token"] = f"shpat_{serial:04d}{uuid.uuid4().hex}"
        answer["refresh_token"] = f"shprt_{serial:04d}{uuid.uuid4().hex}"
        return 200, answer

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/admin/oauth/access_token", request.url
        assert request.url.host.endswith(".myshopify.com")
        body = json.loads(request.content)
        with self._lock:
            self.calls.append((request.url.host, body))
        if self.delay:
            time.sleep(self.delay)
        status, answer = self.answer(body)
        return httpx.Response(status, json=answer)

    def client_factory(self, shop_domain: str) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), timeout=5)

    def grants(self, grant_type: str) -> list[dict[str, Any]]:
        return [body for _host, body in self.calls if body.get("grant_type") == grant_type]
