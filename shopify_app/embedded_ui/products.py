"""The shop's products, read through the Admin GraphQL client: search and paging for the app's
own product picker (used when App Bridge's resource picker is not there), and titles, images and
variants of the products a job shot (for the review page)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from shopify_app.models import Shop
from shopify_app.shopify.admin import admin_client_for

PAGE_SIZE = 10
# Shopify refuses any single query above 1,000 cost points. Each product here costs about 106
# (its node, featured media, and `variants(first: 100)` at one point a variant), so nodes are
# asked for eight at a time (~850 points), not the 250 ids `nodes` would accept.
NODES_PER_QUERY = 8
# A merchant is waiting on these calls and a request slot is held meanwhile: one quick retry and
# a short wait for Shopify's throttle, then the page says Shopify did not answer. (Jobs keep the
# client's patient defaults: several retries and up to 10 s of waiting.)
INTERACTIVE_RETRIES = {"max_retries": 1, "max_wait": 3.0}
# Shopify's search syntax treats these as operators; a merchant typing a title means the words.
_SEARCH_SPECIALS = re.compile(r"[\\:()\"'*<>=]")

SEARCH_QUERY = """
query PickerProducts($first: Int, $last: Int, $after: String, $before: String, $query: String) {
  products(first: $first, last: $last, after: $after, before: $before, query: $query, sortKey: TITLE) {
    nodes {
      id
      title
      status
      featuredMedia { preview { image { url(transform: {maxWidth: 240, maxHeight: 240}) altText } } }
      variantsCount { count }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

NODES_QUERY = """
query ReviewProducts($ids: [ID!]!) {
  nodes(ids: $ids) {
    ... on Product {
      id
      title
      featuredMedia { preview { image { url(transform: {maxWidth: 240, maxHeight: 240}) } } }
      variants(first: 100) { nodes { id title } }
    }
  }
}
"""


@dataclass
class ProductPage:
    products: list[dict[str, Any]]
    has_next: bool
    has_previous: bool
    start_cursor: str | None
    end_cursor: str | None


@dataclass
class ProductInfo:
    id: str
    title: str
    image_url: str | None
    variants: list[dict[str, str]] = field(default_factory=list)


def search_terms(text: str) -> str | None:
    """A merchant's search box text as a Shopify product query (title words, no operators)."""
    words = _SEARCH_SPECIALS.sub(" ", text or "").split()
    return " ".join(f"title:{w}*" for w in words[:8]) or None


def _image(node: dict[str, Any]) -> str | None:
    media = node.get("featuredMedia") or {}
    image = (media.get("preview") or {}).get("image") or {}
    url = image.get("url")
    return url if isinstance(url, str) and url.startswith(("https://", "http://", "/")) else None


def search(session: Session, shop: Shop, text: str = "", after: str | None = None,
           before: str | None = None, page_size: int = PAGE_SIZE) -> ProductPage:
    variables: dict[str, Any] = {"query": search_terms(text)}
    if before:
        variables.update(last=page_size, before=before)
    else:
        variables.update(first=page_size, after=after)
    data = admin_client_for(session, shop, **INTERACTIVE_RETRIES).query(SEARCH_QUERY, variables)
    connection = data["products"]
    info = connection["pageInfo"]
    return ProductPage(
        products=[
            {"id": n["id"], "title": n["title"], "status": n.get("status"), "image_url": _image(n),
             "variants_count": (n.get("variantsCount") or {}).get("count")}
            for n in connection["nodes"]
        ],
        has_next=bool(info["hasNextPage"]), has_previous=bool(info["hasPreviousPage"]),
        start_cursor=info.get("startCursor"), end_cursor=info.get("endCursor"),
    )


def describe(session: Session, shop: Shop, product_ids: list[str]) -> dict[str, ProductInfo]:
    """Title, image and variants of each product that still exists (one query per 8)."""
    found: dict[str, ProductInfo] = {}
    ids = list(dict.fromkeys(product_ids))
    client = admin_client_for(session, shop, **INTERACTIVE_RETRIES) if ids else None
    for start in range(0, len(ids), NODES_PER_QUERY):
        assert client is not None
        data = client.query(NODES_QUERY, {"ids": ids[start:start + NODES_PER_QUERY]})
        for node in data.get("nodes") or []:
            if not node or "id" not in node:
                continue  # deleted since, or not a product
            variants = [{"id": v["id"], "title": v["title"]}
                        for v in ((node.get("variants") or {}).get("nodes") or [])]
            found[node["id"]] = ProductInfo(node["id"], node.get("title") or "", _image(node), variants)
    return found
