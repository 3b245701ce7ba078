"""Malformed ids, filters and cursors are the caller's mistake: 400 or an ordinary page, never a
500 (PostgreSQL refuses NUL in text and comparisons across types, where SQLite shrugs)."""

from __future__ import annotations

import base64
import json

import pytest
from flask import Flask

from shopify_app.models import StaffUser
from shopify_app.support import paging
from tests.staff.helpers import ConsoleActions
from tests.support_console.factories import make_delivery, make_failed_job, make_shop


@pytest.fixture
def signed_in(console: ConsoleActions, admin: StaffUser) -> ConsoleActions:
    console.login()
    return console


def _cursor(ts: str | None, key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([ts, key]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("path", [
    "/support/shops/a%00b", "/support/shops/a%00b/ledger", "/support/jobs/%00", "/support/requests/x%00",
    "/support/assets/%00", "/support/shops?q=a%00b", "/support/audit?target_type=a%00&target_id=b",
    "/support/jobs?shop=%00", "/support/deliveries?topic=%00",
])
def test_nul_in_a_path_or_query_is_a_400(signed_in: ConsoleActions, path: str) -> None:
    assert signed_in.client.get(path).status_code == 400


@pytest.mark.parametrize("action", ["/support/shops/a%00b/credits", "/support/jobs/a%00b/retry",
                                    "/support/api-clients/%00/disable"])
def test_nul_in_an_action_path_is_a_400(signed_in: ConsoleActions, action: str) -> None:
    response = signed_in.post(action, {"reason": "checking", "amount": "1"})
    assert response.status_code == 400


def test_nul_in_a_form_field_is_a_400_and_changes_nothing(signed_in: ConsoleActions, app: Flask) -> None:
    shop = make_shop()
    response = signed_in.post(f"/support/shops/{shop.id}/credits", {"reason": "goodwill\x00", "amount": "5"})
    assert response.status_code == 400
    ledger = signed_in.client.get(f"/support/shops/{shop.id}/ledger").get_data(as_text=True)
    assert "goodwill" not in ledger


@pytest.mark.parametrize("path", ["/support/jobs", "/support/deliveries", "/support/shops", "/support/requests",
                                  "/support/audit"])
@pytest.mark.parametrize("key", ["not-a-number", 7, "a\x00b", 10**30, True])
def test_a_cursor_with_a_key_of_the_wrong_kind_starts_from_the_first_page(
    signed_in: ConsoleActions, app: Flask, path: str, key: object
) -> None:
    shop = make_shop()
    make_failed_job(shop)
    make_delivery(shop)
    response = signed_in.client.get(path, query_string={"cursor": _cursor("2020-01-01T00:00:00+00:00", key)})
    assert response.status_code == 200


def test_decode_cursor_keeps_keys_of_the_column_type() -> None:
    assert paging.decode_cursor(_cursor("2020-01-01T00:00:00+00:00", 5), int) is not None
    assert paging.decode_cursor(_cursor("2020-01-01T00:00:00+00:00", "5"), int) is None
    assert paging.decode_cursor(_cursor(None, "shop.myshopify.com"), str) == (None, "shop.myshopify.com")
    assert paging.decode_cursor(_cursor(None, 5), str) is None
