"""Where a try-on's garment comes from: a product's featured image, or an image URL.

`lookup_products` asks Shopify about many products in one Admin call per 250 (`nodes(ids:)`),
so a catalog shoot of 500 products spends two calls on it, not 500. `garment_bytes` downloads
the image with the SSRF-safe fetcher; the dev shop's images (served by this app under
`/_devshop/files/`) are read from the dev shop in-process instead, just as
`shopify/transport.py` routes its Admin calls, so dev and tests need no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shopify_app.models import Shop
from shopify_app.settings import Settings

NODES_PER_CALL = 250

PRODUCTS_QUERY = """
query CatalogShootProducts($ids: [ID!]!) {
  nodes(ids: $ids) {
    id
    ... on Product {
      title
      featuredMedia { ... on MediaImage { image { url width height } } }
    }
  }
}"""

_DEV_FILE = re.compile(r"/_devshop/files/(?P<id>\d+)\.jpg$")


@dataclass(frozen=True)
class ProductInfo:
    product_id: str
    title: str
    image_url: str | None


class ProductLookupError(Exception):
    """Shopify could not be asked (auth, outage), or not yet: `retry_in` seconds when the shop's
    rate limit stands in the way (its bucket refills; that is no failed attempt)."""

    def __init__(self, message: str, retry_in: float | None = None):
        super().__init__(message)
        self.retry_in = retry_in


def lookup_products(session: Session, shop: Shop, product_ids: list[str]) -> dict[str, ProductInfo]:
    """The products of `product_ids` that exist in the shop, by id. Missing ids are absent."""
    from shopify_app.shopify.admin import AdminError, AdminRetryLater, admin_client_for
    from shopify_app.shopify.tokens import ReauthorizationRequired

    found: dict[str, ProductInfo] = {}
    if not product_ids:
        return found
    try:
        client = admin_client_for(session, shop)
        for start in range(0, len(product_ids), NODES_PER_CALL):
            data = client.query(PRODUCTS_QUERY, {"ids": product_ids[start:start + NODES_PER_CALL]})
            for node in data.get("nodes") or []:
                if not node or "title" not in node:
                    continue  # deleted, or not a product
                image = ((node.get("featuredMedia") or {}).get("image") or {})
                found[node["id"]] = ProductInfo(node["id"], node["title"] or "", image.get("url"))
    except AdminRetryLater as exc:
        raise ProductLookupError(str(exc), retry_in=exc.delay if exc.throttled else None) from exc
    except (AdminError, ReauthorizationRequired) as exc:
        raise ProductLookupError(str(exc)) from exc
    return found


def garment_bytes(settings: Settings, url: str) -> bytes:
    """The image at `url` (raises images.errors.ImageIntakeError when it cannot be had)."""
    dev = _dev_shop_media_id(settings, url)
    if dev is not None:
        from shopify_app.devshop.store import store_for
        from shopify_app.images.errors import FetchFailed

        data = store_for(settings).media_bytes(dev)
        if data is None:
            raise FetchFailed("the dev shop has no such image", code="not_found")
        return data
    from shopify_app.images.fetch import fetch_image

    return fetch_image(url, settings).content


def _dev_shop_media_id(settings: Settings, url: str) -> int | None:
    if not settings.dev_shop or settings.is_production:
        return None
    base = settings.app_url.rstrip("/")
    if not url.startswith(base + "/_devshop/files/"):
        return None
    match = _DEV_FILE.search(url)
    return int(match["id"]) if match else None
