"""Product details for the review page stay under Shopify's per-query cost cap."""

from __future__ import annotations

from typing import Any

from shopify_app.devshop import control
from shopify_app.embedded_ui.products import NODES_PER_QUERY, describe
from shopify_app.models import Shop
from shopify_app.settings import Settings


def test_describing_many_products_splits_queries_under_the_cost_cap(
    session: Any, settings: Settings, dev_shop: Shop
) -> None:
    product_ids = [control.create_product("linen-camp-shirt", f"Shirt {i}", settings=settings)
                   for i in range(20)]
    control.clear_calls(settings)

    found = describe(session, dev_shop, product_ids)

    # The dev shop, like Shopify, refuses a query costing over 1,000 points: a single query for
    # 20 products with their variants would be refused and the review page would lose them.
    assert set(found) == set(product_ids)
    assert all(info.variants for info in found.values())
    graphql_calls = control.calls(settings)
    assert len(graphql_calls) == -(-len(product_ids) // NODES_PER_QUERY) == 3
