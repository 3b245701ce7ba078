"""Fixtures for the Admin API client and media publishing tests."""

from __future__ import annotations

from collections.abc import Callable
import time
from typing import Any

import pytest
import requests
from flask import Flask

from shopify_app.queues import get_broker
from shopify_app.shopify.admin import AdminClient, CostBudget
from tests.support.shopify import TEST_SHOP, fixture

ENDPOINT = f"https://{TEST_SHOP}/admin/api/2026-10/graphql.json"


class Sleeps(list[float]):
    """time.sleep that records each wait (and takes it: the shared budget runs on Redis' clock)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_client(app: Flask, sleeps: Sleeps) -> Callable[..., AdminClient]:
    """An AdminClient for TEST_SHOP over a plain requests session (answered by `responses`)."""

    def make(token: str = "shpat_test", budget: bool = True, **options: Any) -> AdminClient:
        options.setdefault("sleep", sleeps)
        return AdminClient(
            TEST_SHOP, lambda: token, api_version="2026-10", http=requests.Session(),
            budget=CostBudget(get_broker(app).redis, TEST_SHOP) if budget else None, **options,
        )

    return make


def admin_fixture(name: str) -> dict[str, Any]:
    return fixture("shopify_admin", name)
