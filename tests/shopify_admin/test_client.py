"""The Admin GraphQL client against answers shaped exactly like Shopify's."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import responses
from flask import Flask

from shopify_app.queues import get_broker
from shopify_app.shopify.admin import (
    AdminAmbiguousError,
    AdminAuthError,
    AdminClient,
    AdminGraphQLError,
    AdminRetryLater,
    AdminTransientError,
    AdminUserError,
    CostBudget,
)
from tests.shopify_admin.conftest import ENDPOINT, Sleeps, admin_fixture
from tests.support.shopify import TEST_SHOP

QUERY = "query Products { products(first: 2) { nodes { id title } pageInfo { hasNextPage endCursor } } }"
MUTATION = "mutation P($p: ProductUpdateInput!) { productUpdate(product: $p) { product { id } userErrors { field message } } }"


def test_pinned_version_token_header_and_data(mocked_responses: responses.RequestsMock,
                                              make_client: Callable[..., AdminClient]) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    client = make_client(token="shpat_abc")
    data = client.query(QUERY)
    assert data["products"]["nodes"][1]["title"] == "Boots"
    request = mocked_responses.calls[0].request
    assert request.url == ENDPOINT
    assert request.headers["X-Shopify-Access-Token"] == "shpat_abc"
    assert json.loads(request.body)["query"] == QUERY
    assert client.stats.requests == 1 and client.stats.cost == 4


def test_throttled_waits_for_the_points_the_query_needs(mocked_responses: responses.RequestsMock,
                                                       make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("throttled"))
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    client = make_client(budget=False)
    assert client.query(QUERY)["products"]["pageInfo"]["hasNextPage"] is True
    # (requested 4 - available 1) / restoreRate 100 = 0.03 s, floored at 0.05 s.
    assert sleeps == [pytest.approx(0.05)]
    assert client.stats.throttled == 1 and client.stats.requests == 2


def test_throttled_with_the_shared_budget_waits_on_the_mirrored_bucket(
        mocked_responses: responses.RequestsMock, make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("throttled"))
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    client = make_client()
    client.query(QUERY)
    # The mirror holds Shopify's 1 point; 4 are needed at 100/s: about 0.03 s in all.
    assert 0.02 <= sum(sleeps) <= 0.06
    assert client.budget is not None and client.budget.state()["max"] == 2000.0


def test_429_honours_retry_after(mocked_responses: responses.RequestsMock,
                                 make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("rate_limited_429"), status=429, headers={"Retry-After": "1.5"})
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    make_client(budget=False).query(QUERY)
    assert sleeps == [1.5]


def test_5xx_on_a_query_backs_off_and_retries(mocked_responses: responses.RequestsMock,
                                              make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    mocked_responses.post(ENDPOINT, body="<html>502 Bad Gateway</html>", status=502)
    mocked_responses.post(ENDPOINT, body="", status=503)
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    client = make_client(budget=False, backoff_base=0.05)
    client.query(QUERY)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential
    assert client.stats.retries == 2


def test_5xx_exhausted_is_transient(mocked_responses: responses.RequestsMock,
                                   make_client: Callable[..., AdminClient]) -> None:
    for _ in range(3):
        mocked_responses.post(ENDPOINT, body="", status=500)
    with pytest.raises(AdminTransientError):
        make_client(max_retries=2, backoff_base=0.01).query(QUERY)


def test_5xx_on_a_mutation_is_ambiguous_and_not_resent(mocked_responses: responses.RequestsMock,
                                                       make_client: Callable[..., AdminClient]) -> None:
    mocked_responses.post(ENDPOINT, body="", status=502)
    with pytest.raises(AdminAmbiguousError):
        make_client().mutate(MUTATION, {"p": {"id": "gid://shopify/Product/1"}}, payload="productUpdate")
    assert len(mocked_responses.calls) == 1


def test_user_errors_raise_typed_errors(mocked_responses: responses.RequestsMock,
                                        make_client: Callable[..., AdminClient]) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("product_update_user_errors"))
    with pytest.raises(AdminUserError) as raised:
        make_client().mutate(MUTATION, {"p": {"id": "gid://shopify/Product/1"}}, payload="productUpdate")
    assert raised.value.errors == [{"field": ["id"], "message": "Product does not exist"}]
    assert "id: Product does not exist" in str(raised.value)


def test_graphql_errors_are_not_retried(mocked_responses: responses.RequestsMock,
                                        make_client: Callable[..., AdminClient]) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("undefined_field"))
    with pytest.raises(AdminGraphQLError) as raised:
        make_client().query("{ products(first: 1) { nodes { titel } } }")
    assert raised.value.codes == {"undefinedField"}
    assert len(mocked_responses.calls) == 1


def test_one_token_refresh_on_401(mocked_responses: responses.RequestsMock,
                                  make_client: Callable[..., AdminClient]) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("invalid_token"), status=401)
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    refreshed: list[str] = []

    def refresh() -> str:
        refreshed.append("x")
        return "shpat_new"

    make_client(token="shpat_old", on_unauthorized=refresh).query(QUERY)
    assert refreshed == ["x"]
    assert [c.request.headers["X-Shopify-Access-Token"] for c in mocked_responses.calls] == ["shpat_old", "shpat_new"]


def test_a_second_401_is_final(mocked_responses: responses.RequestsMock,
                               make_client: Callable[..., AdminClient]) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("invalid_token"), status=401)
    mocked_responses.post(ENDPOINT, json=admin_fixture("invalid_token"), status=401)
    with pytest.raises(AdminAuthError):
        make_client(on_unauthorized=lambda: "shpat_new").query(QUERY)
    assert len(mocked_responses.calls) == 2


def test_a_long_wait_is_handed_back_to_the_scheduler(mocked_responses: responses.RequestsMock,
                                                     make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    mocked_responses.post(ENDPOINT, json=admin_fixture("rate_limited_429"), status=429, headers={"Retry-After": "45"})
    with pytest.raises(AdminRetryLater) as raised:
        make_client(max_wait=10).query(QUERY)
    assert raised.value.delay == 45 and sleeps == []


def test_the_budget_is_shared_by_workers_through_redis(app: Flask) -> None:
    redis = get_broker(app).redis
    worker_a, worker_b = CostBudget(redis, TEST_SHOP), CostBudget(redis, TEST_SHOP)
    # Shopify said: 30 points left of 1000, restoring 50/s.
    worker_a.sync({"maximumAvailable": 1000.0, "currentlyAvailable": 30, "restoreRate": 50.0})
    assert worker_a.reserve(20) == 0.0
    wait = worker_b.reserve(20)  # only ~10 left: worker B must wait for A's spending too
    assert 0.15 < wait <= 0.2
    assert CostBudget(redis, "another-shop.myshopify.com").reserve(20) == 0.0  # per shop


def test_the_client_waits_on_the_shared_budget_before_calling(app: Flask, mocked_responses: responses.RequestsMock,
                                                              make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    CostBudget(get_broker(app).redis, TEST_SHOP).sync(
        {"maximumAvailable": 1000.0, "currentlyAvailable": 0, "restoreRate": 100.0})
    mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    client = make_client()
    client.query(QUERY)
    assert len(sleeps) >= 1 and sum(sleeps) == pytest.approx(0.5, abs=0.06)  # 50 default points / 100 per s
    assert len(mocked_responses.calls) == 1  # waited instead of drawing a THROTTLED answer


def test_max_wait_bounds_a_client_over_all_of_its_calls(mocked_responses: responses.RequestsMock,
                                                        make_client: Callable[..., AdminClient], sleeps: Sleeps) -> None:
    for _ in range(2):
        mocked_responses.post(ENDPOINT, json=admin_fixture("rate_limited_429"), status=429, headers={"Retry-After": "0.2"})
        mocked_responses.post(ENDPOINT, json=admin_fixture("products_page"))
    client = make_client(budget=False, max_wait=0.3)
    client.query(QUERY)
    # Each wait alone fits in 0.3 s; the second would take the client's waits to 0.4 s in all.
    with pytest.raises(AdminRetryLater) as raised:
        client.query(QUERY)
    assert sleeps == [0.2]
    assert raised.value.throttled  # Shopify's rate limit: it clears, no failed attempt
    assert raised.value.delay == 0.5  # handed back with at least half a second


def test_a_backoff_after_errors_handed_back_is_not_throttling(mocked_responses: responses.RequestsMock,
                                                              make_client: Callable[..., AdminClient],
                                                              sleeps: Sleeps) -> None:
    mocked_responses.post(ENDPOINT, body="", status=503)
    mocked_responses.post(ENDPOINT, body="", status=503)
    with pytest.raises(AdminRetryLater) as raised:
        make_client(budget=False, backoff_base=0.2, max_wait=0.5).query(QUERY)
    assert len(sleeps) == 1  # 0.2-0.25 s, then 0.4-0.5 s more would pass 0.5 s in all
    assert not raised.value.throttled


def test_a_job_steps_client_hands_a_spent_budget_back_instead_of_sleeping(app: Flask, session,  # noqa: ANN001
                                                                          mocked_responses: responses.RequestsMock) -> None:
    from shopify_app.models import Shop
    from shopify_app.shopify.admin import STEP_MAX_WAIT, admin_client_for

    shop = Shop(domain=TEST_SHOP, access_token="shpat_test", scopes="write_products")
    session.add(shop)
    session.commit()
    # A drained bucket: the 10 points of a mutation are back in 2 s at 5 points/s.
    CostBudget(get_broker(app).redis, TEST_SHOP).sync(
        {"maximumAvailable": 1000.0, "currentlyAvailable": 0, "restoreRate": 5.0})
    slept: list[float] = []
    client = admin_client_for(session, shop, sleep=slept.append)
    assert client.max_wait == STEP_MAX_WAIT < 2
    with pytest.raises(AdminRetryLater) as raised:
        client.mutate(MUTATION, {"p": {"id": "gid://shopify/Product/1"}}, payload="productUpdate")
    assert raised.value.throttled and raised.value.delay == pytest.approx(2, abs=0.1)
    assert slept == [] and len(mocked_responses.calls) == 0  # neither slept nor sent
