"""The dev shop's Admin GraphQL: schema validation, queries, paging, costs and the bucket."""

from __future__ import annotations

from collections.abc import Callable

import requests

from shopify_app.devshop import control
from shopify_app.settings import Settings


def test_a_misspelled_field_fails_validation_like_shopify(gql: Callable[..., requests.Response]) -> None:
    response = gql('{ products(first: 1) { nodes { id titel } } }')
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "Field 'titel' doesn't exist on type 'Product'"
    assert body["errors"][0]["extensions"] == {"code": "undefinedField", "typeName": "Product", "fieldName": "titel"}


def test_an_unknown_argument_and_a_bad_variable_are_rejected(gql: Callable[..., requests.Response]) -> None:
    unknown = gql('{ product(id: "gid://shopify/Product/1", handle: "x") { id } }').json()
    assert unknown["errors"][0]["message"] == "Field 'product' doesn't accept argument 'handle'"
    bad = gql("mutation M($m: [CreateMediaInput!]!) { productUpdate(product: {id: \"x\"}, media: $m) { userErrors { message } } }",
              {"m": [{"originalSource": "https://x/y.jpg", "alt": "a"}]}).json()  # mediaContentType missing
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_VARIABLE"


def test_deprecated_mutations_stay_out_of_the_app_but_exist_in_the_schema() -> None:
    from shopify_app.devshop.admin_graphql import SCHEMA

    mutation = SCHEMA.mutation_type
    assert mutation is not None
    assert mutation.fields["productDeleteMedia"].deprecation_reason
    assert "productCreateMedia" not in mutation.fields  # deprecated; the app must not use it
    assert "productSet" not in mutation.fields  # deletes media it isn't given


def test_products_page_with_cursors(gql: Callable[..., requests.Response]) -> None:
    query = "query P($after: String) { products(first: 5, after: $after) { nodes { id title } pageInfo { hasNextPage endCursor } } }"
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = gql(query, {"after": after}).json()["data"]["products"]
        seen.extend(n["id"] for n in page["nodes"])
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 13
    assert all(s.startswith("gid://shopify/Product/") for s in seen)


def test_products_search_and_variants(gql: Callable[..., requests.Response]) -> None:
    body = gql('{ products(first: 10, query: "product_type:Dresses") { nodes { title variants(first: 10) { nodes { title selectedOptions { name value } } } } } }').json()
    titles = [n["title"] for n in body["data"]["products"]["nodes"]]
    assert titles == ["Wrap Midi Dress", "Satin Slip Dress"]
    slip = body["data"]["products"]["nodes"][1]["variants"]["nodes"]
    assert slip[0]["selectedOptions"] == [{"name": "Color", "value": "Black"}, {"name": "Size", "value": "XS"}]
    free = gql('{ products(first: 10, query: "hoodie") { nodes { title } } }').json()
    assert len(free["data"]["products"]["nodes"]) == 2


def test_a_connection_without_first_or_last_is_an_error(gql: Callable[..., requests.Response]) -> None:
    body = gql("{ products { nodes { id } } }").json()
    assert body["errors"][0]["message"] == "you must provide one of first or last"


def test_cost_extensions_and_the_leaky_bucket(gql: Callable[..., requests.Response], dev_settings: Settings) -> None:
    control.set_bucket(maximum=100, restore_rate=1, available=100, settings=dev_settings)
    body = gql("{ products(first: 10) { nodes { id title } } }").json()
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 12  # 2 + 10 x 1
    assert cost["actualQueryCost"] == 12
    assert cost["throttleStatus"]["maximumAvailable"] == 100.0
    assert cost["throttleStatus"]["restoreRate"] == 1.0
    assert 87 <= cost["throttleStatus"]["currentlyAvailable"] <= 89

    control.set_bucket(available=5, settings=dev_settings)
    throttled = gql("{ products(first: 10) { nodes { id title } } }").json()
    assert throttled["errors"] == [{"message": "Throttled", "extensions": {
        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}]
    assert throttled["extensions"]["cost"]["actualQueryCost"] is None
    assert throttled["extensions"]["cost"]["requestedQueryCost"] == 12
    assert "data" not in throttled


def test_a_query_over_the_single_query_limit_is_refused(gql: Callable[..., requests.Response]) -> None:
    body = gql("{ products(first: 250) { nodes { variants(first: 250) { nodes { id } } } } }").json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_an_unknown_or_expired_token_is_401(gql: Callable[..., requests.Response], dev_settings: Settings, token: str) -> None:
    response = gql("{ shop { name } }", access_token="shpat_" + "0" * 32)
    assert response.status_code == 401
    assert response.json() == {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    assert gql("{ shop { myshopifyDomain } }").json()["data"]["shop"]["myshopifyDomain"] == dev_settings.dev_shop_domain
    control.expire_token(token, settings=dev_settings)
    assert gql("{ shop { name } }").status_code == 401


def test_injected_http_faults(gql: Callable[..., requests.Response], dev_settings: Settings) -> None:
    control.inject_fault("HTTP_429", retry_after=2.5, settings=dev_settings)
    control.inject_fault("HTTP_5XX", status=502, settings=dev_settings)
    first = gql("{ shop { name } }")
    assert first.status_code == 429 and first.headers["Retry-After"] == "2.5"
    assert gql("{ shop { name } }").status_code == 502
    assert gql("{ shop { name } }").status_code == 200
    outcomes = [c["outcome"] for c in control.calls(dev_settings)]
    assert outcomes == ["http_429", "http_5xx", "ok"]
