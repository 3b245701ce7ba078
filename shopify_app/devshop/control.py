"""Driving the dev shop from tests, the `/_devshop` pages and the CLI.

Faults (consumed in order, each `count` times):
- `THROTTLED`: the bucket is drained, so the next operation answers THROTTLED (HTTP 200);
- `HTTP_429`: 429 with `Retry-After` (seconds, default 1);
- `HTTP_5XX`: the status given (default 503) before the operation runs;
- `HTTP_5XX_AFTER`: the operation runs and commits, then the answer is lost as a 502;
- `SLOW`: the operation is delayed `delay` seconds;
- `MEDIA_FAILED`: the next media created ends FAILED instead of READY.
`operation` restricts a fault to a root field (e.g. "productUpdate"); "upload" targets the staged
upload endpoint (HTTP_5XX only).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

from flask import Flask, current_app

from shopify_app.devshop.admin_graphql import gid, parse_gid
from shopify_app.devshop.store import DevShopStore, store_for
from shopify_app.settings import Settings

FAULT_KINDS = ("THROTTLED", "HTTP_429", "HTTP_5XX", "HTTP_5XX_AFTER", "SLOW", "MEDIA_FAILED")


def _settings(settings: Settings | None) -> Settings:
    return settings or current_app.config["STUDIO_SETTINGS"]


def store(settings: Settings | None = None) -> DevShopStore:
    return store_for(_settings(settings))


def inject_fault(kind: str, count: int = 1, operation: str | None = None, status: int | None = None,
                 retry_after: float | None = None, delay: float | None = None,
                 settings: Settings | None = None) -> None:
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
    if not 1 <= count <= 1000:
        raise ValueError("count must be between 1 and 1000")
    if status is not None and not 500 <= status <= 599:
        raise ValueError("status must be a 5xx code")
    store(settings).add_fault(kind, count, operation, status, retry_after, delay)


def clear_faults(settings: Settings | None = None) -> None:
    store(settings).clear_faults()


def set_bucket(maximum: float | None = None, restore_rate: float | None = None,
               available: float | None = None, settings: Settings | None = None) -> None:
    store(settings).configure_bucket(maximum, restore_rate, available)


def calls(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every request the dev shop answered on its GraphQL endpoint, oldest first."""
    return store(settings).calls()


def clear_calls(settings: Settings | None = None) -> None:
    store(settings).clear_calls()


def expire_token(access_token: str, settings: Settings | None = None) -> None:
    store(settings).expire_token(access_token)


def mint_token(settings: Settings | None = None, expiring: bool = True) -> dict[str, Any]:
    """A fresh token pair, as if the app had just been installed (for tests and the CLI)."""
    s = _settings(settings)
    return store(s).mint_tokens(",".join(s.shopify_scopes), expiring=expiring)


def products(settings: Settings | None = None) -> list[dict[str, Any]]:
    with store(settings).read() as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM products ORDER BY id")]


def product_media(product_gid: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The media of a product as the dev shop holds it (status not advanced by reading)."""
    pid = parse_gid(product_gid, "Product")
    with store(settings).read() as conn:
        rows = conn.execute("SELECT * FROM media WHERE product_id = ? ORDER BY position, id", (pid,)).fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["gid"] = gid("MediaImage", int(row["id"]))
            item["variant_ids"] = [gid("ProductVariant", int(v["variant_id"])) for v in conn.execute(
                "SELECT variant_id FROM variant_media WHERE media_id = ?", (row["id"],))]
            out.append(item)
        return out


def variants(product_gid: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    pid = parse_gid(product_gid, "Product")
    with store(settings).read() as conn:
        rows = conn.execute("SELECT * FROM variants WHERE product_id = ? ORDER BY position", (pid,)).fetchall()
        return [dict(r, gid=gid("ProductVariant", int(r["id"]))) for r in rows]


def create_product(base_handle: str, title: str | None = None, settings: Settings | None = None) -> str:
    """A new product from a catalog entry (`base_handle`, e.g. "linen-camp-shirt"); its gid."""
    s = store(settings)
    with s.write() as conn:
        count = conn.execute("SELECT COUNT(*) FROM products WHERE handle LIKE ?", (base_handle + "%",)).fetchone()[0]
        handle = base_handle if count == 0 else f"{base_handle}--{count + 1}"
        return gid("Product", s.insert_product(conn, handle, title))


# ----------------------------------------------------------------------------- webhooks

def _rest_time(iso: str) -> str:
    return dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).isoformat()


def product_payload(product_gid: str, settings: Settings | None = None) -> dict[str, Any]:
    """The REST-shaped product Shopify sends with products/create and products/update."""
    s = store(settings)
    pid = parse_gid(product_gid, "Product")
    with s.read() as conn:
        row = conn.execute("SELECT * FROM products WHERE id = ?", (pid,)).fetchone()
        if row is None:
            raise LookupError(product_gid)
        variant_rows = conn.execute("SELECT * FROM variants WHERE product_id = ? ORDER BY position", (pid,)).fetchall()
        media_rows = conn.execute("SELECT * FROM media WHERE product_id = ? ORDER BY position, id", (pid,)).fetchall()
        links = conn.execute("SELECT vm.* FROM variant_media vm JOIN variants v ON v.id = vm.variant_id "
                             "WHERE v.product_id = ?", (pid,)).fetchall()
    media_variants: dict[int, list[int]] = {}
    for link in links:
        media_variants.setdefault(int(link["media_id"]), []).append(int(link["variant_id"]))
    has_colors = any(v["option2"] for v in variant_rows)
    option_names = ["Color", "Size"] if has_colors else ["Size"]
    options = []
    for index, name in enumerate(option_names):
        values = list(dict.fromkeys(v[f"option{index + 1}"] for v in variant_rows))
        options.append({"name": name, "id": pid * 10 + index, "product_id": pid, "position": index + 1,
                        "values": values})
    created, updated = _rest_time(row["created_at"]), _rest_time(row["updated_at"])
    images, media = [], []
    for position, m in enumerate(media_rows, start=1):
        if m["status"] != "READY":
            continue
        src = s.file_url(int(m["id"]))
        images.append({"id": int(m["id"]), "alt": m["alt"], "position": position, "product_id": pid,
                       "created_at": _rest_time(m["created_at"]), "updated_at": _rest_time(m["updated_at"]),
                       "admin_graphql_api_id": gid("ProductImage", int(m["id"])), "width": m["width"],
                       "height": m["height"], "src": src, "variant_ids": media_variants.get(int(m["id"]), [])})
        media.append({"id": int(m["id"]), "product_id": pid, "position": position,
                      "created_at": _rest_time(m["created_at"]), "updated_at": _rest_time(m["updated_at"]),
                      "alt": m["alt"], "status": m["status"], "media_content_type": "IMAGE",
                      "preview_image": {"width": m["width"], "height": m["height"], "src": src, "status": "READY"},
                      "variant_ids": media_variants.get(int(m["id"]), []),
                      "admin_graphql_api_id": gid("MediaImage", int(m["id"]))})
    variant_list = []
    for v in variant_rows:
        variant_list.append({
            "admin_graphql_api_id": gid("ProductVariant", int(v["id"])), "barcode": None,
            "compare_at_price": None, "created_at": _rest_time(v["created_at"]), "id": int(v["id"]),
            "inventory_policy": "deny", "position": v["position"], "price": v["price"], "product_id": pid,
            "sku": v["sku"], "taxable": True, "title": v["title"], "updated_at": _rest_time(v["updated_at"]),
            "option1": v["option1"], "option2": v["option2"], "option3": None,
            "image_id": next((m for m, vs in media_variants.items() if int(v["id"]) in vs), None),
            "inventory_item_id": int(v["id"]) + 1_000_000, "inventory_quantity": v["inventory_quantity"],
            "old_inventory_quantity": v["inventory_quantity"],
        })
    return {
        "admin_graphql_api_id": gid("Product", pid), "body_html": row["description_html"],
        "created_at": created, "handle": row["handle"], "id": pid, "product_type": row["product_type"],
        "published_at": created, "template_suffix": None, "title": row["title"], "updated_at": updated,
        "vendor": row["vendor"], "status": row["status"].lower(), "published_scope": "global",
        "tags": ", ".join(json.loads(row["tags"])), "variants": variant_list, "options": options,
        "images": images, "image": images[0] if images else None, "media": media,
        "variant_gids": [{"admin_graphql_api_id": v["admin_graphql_api_id"], "updated_at": v["updated_at"]}
                         for v in variant_list],
        "has_variants_that_requires_components": False, "category": None,
    }


def webhook_request(topic: str, payload: dict[str, Any], settings: Settings | None = None,
                    header_family: str = "X-Shopify-", webhook_id: str | None = None,
                    secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The body and headers Shopify would send: HMAC-SHA256 (base64) of the raw body with the
    app secret, in the `X-Shopify-` or the newer `shopify-` header family."""
    s = _settings(settings)
    if header_family not in ("X-Shopify-", "shopify-"):
        raise ValueError("header_family is 'X-Shopify-' or 'shopify-'")
    body = json.dumps(payload, separators=(",", ":")).encode()
    digest = hmac.new((secret or s.shopify_api_secret).encode(), body, hashlib.sha256).digest()
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    headers = {
        "Content-Type": "application/json",
        f"{header_family}Topic": topic,
        f"{header_family}Hmac-Sha256": base64.b64encode(digest).decode(),
        f"{header_family}Shop-Domain": s.dev_shop_domain,
        f"{header_family}API-Version": s.shopify_api_version,
        f"{header_family}Webhook-Id": webhook_id or str(uuid.uuid4()),
        f"{header_family}Triggered-At": now,
        f"{header_family}Event-Id": str(uuid.uuid4()),
    }
    return body, headers


def send_webhook(topic: str, payload: dict[str, Any], app: Flask | None = None, over_http: bool = False,
                 header_family: str = "X-Shopify-", webhook_id: str | None = None) -> int:
    """Deliver a signed webhook to the app's `/webhooks`; returns the HTTP status.

    In-process through the app's test client by default (works in tests and from the dev shop
    page without a network); `over_http=True` posts to `settings.app_url` instead."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    settings: Settings = app.config["STUDIO_SETTINGS"]
    body, headers = webhook_request(topic, payload, settings, header_family, webhook_id)
    if over_http:
        import requests

        return requests.post(f"{settings.app_url}/webhooks", data=body, headers=headers, timeout=10).status_code
    return app.test_client().post("/webhooks", data=body, headers=headers).status_code
